"""Plotly figure data for the HTML report, built from a History without numpy.

Each function returns a plain Plotly figure dict (`{"data": [...], "layout": {...}}`) that
the page hands to `Plotly.newPlot`. Obligations:

* size stays bounded whatever the history length: per-op traces are capped by a budget
  (every fail/info op and every anomaly witness op is kept; ok ops are thinned with a
  fixed stride) and the figure says so in `meta.note`; aggregates (percentiles, throughput)
  are computed from *all* ops, never from the sample;
* numeric arrays are base64 typed arrays (`{"dtype": "f4", "bdata": ...}`), which
  plotly.js decodes natively: ~5 bytes a number instead of ~12 as JSON text;
* large traces use WebGL (`scattergl`) so 100,000+ points stay interactive.

Times are shown in seconds since the test started; latencies and offsets in ms.
"""

from __future__ import annotations

import base64
import heapq
import math
from array import array
from dataclasses import dataclass
from typing import Any, Iterable

from splitbrain.harness.history import INF, History, Op

COLORS = {"ok": "#2e7d32", "fail": "#c62828", "info": "#ef6c00", "invoke": "#607d8b"}
NEMESIS_FILL = "rgba(120, 80, 200, 0.13)"
TIMELINE_BUDGET = 100_000   # op segments drawn in the full timeline
LATENCY_BUDGET = 40_000     # raw latency points
BINS = 240                  # time bins for throughput and latency percentiles
MAX_WINDOWS = 400           # nemesis shapes; more are merged so the layout stays light
MAX_LANES_AS_PROCESSES = 128
NS = 1e9


def plot_text(s: Any) -> str:
    """Text for plotly labels: plotly reads a few HTML tags in text, so escape user data
    (it decodes &lt; &gt; &amp; back for display)."""
    import html

    return html.escape(str(s), quote=False)


def typed(values: Iterable[float], dtype: str = "f4") -> dict:
    """A plotly.js typed-array spec: little-endian base64 (NaN marks a gap in lines)."""
    code = {"f4": "f", "f8": "d", "i4": "i", "u1": "B"}[dtype]
    arr = array(code, values)
    return {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}


def _end_ns(op: Op) -> float | None:
    """When the op visibly ended: its completion, or None when it never completed."""
    if op.t_ret != INF:
        return op.t_ret
    return op.t_ret_seen


def history_span_ns(history: History) -> tuple[int, int]:
    lo, hi = None, 0
    for op in history.ops:
        if lo is None or op.t_inv < lo:
            lo = op.t_inv
        e = _end_ns(op)
        hi = max(hi, op.t_inv, e if e is not None else 0)
    for ev in history.nemesis:
        t = ev.get("time")
        if isinstance(t, (int, float)):
            hi = max(hi, t)
            lo = t if lo is None else min(lo, t)
    return (lo or 0, hi)


# ------------------------------------------------------------------------------------
# Nemesis


@dataclass(frozen=True)
class Window:
    """One fault interval, shaded on every time axis."""

    kind: str
    start_s: float
    end_s: float
    label: str


_STARTS = ("start", "partition", "kill", "pause", "isolate", "bump", "strobe", "skew", "netem",
           "crash", "clock-skew")
_ENDS = ("stop", "heal", "resume", "restart", "reset", "recover", "unpause")


def _fault_kind(f: str) -> tuple[str | None, str]:
    """('start'|'end'|None, kind) for a nemesis f such as start-partition / stop-partition."""
    low = f.lower()
    head, _, rest = low.partition("-")
    if head in ("heal",) or low in ("heal", "stop-all", "heal-all", "reset-clock", "reset"):
        return "end", "*"
    if head in _ENDS:
        return "end", rest or head
    if head in _STARTS:
        return "start", rest or head
    return None, low


def _event_kind(ev: dict) -> tuple[str | None, str]:
    """('start'|'end'|None, kind): from the event's recorded `family` and `phase` (our
    histories), else guessed from words in `f` (imported Jepsen EDN histories)."""
    fam, phase = ev.get("family"), ev.get("phase")
    if isinstance(fam, str) and phase in ("start", "stop", "sample"):
        return {"start": "start", "stop": "end"}.get(phase), fam
    return _fault_kind(ev["f"])


def nemesis_windows(nemesis: list[dict], end_ns: float) -> list[Window]:
    """Fault intervals from nemesis events: a family's start opens its window, its stop
    closes it (the words in `f` — start-X, stop-X, heal — only for events without them).

    The invocation and completion of one nemesis op count once (the earlier time wins);
    a window still open when the history ends is closed at its end.
    """
    open_: dict[str, tuple[float, str]] = {}
    out: list[Window] = []
    for ev in nemesis:
        t = ev.get("time")
        f = ev.get("f")
        if not isinstance(t, (int, float)) or not isinstance(f, str):
            continue
        what, kind = _event_kind(ev)
        if what == "start" and kind not in open_:
            open_[kind] = (t, f)
        elif what == "end":
            kinds = list(open_) if kind == "*" else [k for k in open_ if k == kind or kind in k]
            if not kinds and kind in ("resume", "restart") :
                kinds = [k for k in open_ if k in ("pause", "kill", "start")]
            for k in kinds:
                t0, label = open_.pop(k)
                out.append(Window(k, t0 / NS, t / NS, label))
    for k, (t0, label) in open_.items():
        out.append(Window(k, t0 / NS, end_ns / NS, label + " (never healed)"))
    out.sort(key=lambda w: w.start_s)
    if len(out) > MAX_WINDOWS:  # merge neighbours so the layout stays small
        step = math.ceil(len(out) / MAX_WINDOWS)
        out = [Window("faults", g[0].start_s, max(w.end_s for w in g), f"{len(g)} faults")
               for g in (out[i:i + step] for i in range(0, len(out), step))]
    return out


def nemesis_table(nemesis: list[dict], limit: int = 500) -> list[dict]:
    """Nemesis events as rows (time s, type, f, value) for the report's event list."""
    rows = []
    for ev in nemesis[:limit]:
        t = ev.get("time")
        rows.append({"time_s": (t / NS) if isinstance(t, (int, float)) else None,
                     "type": ev.get("type"), "f": ev.get("f"),
                     "value": short_value(ev.get("value"), 160), "error": ev.get("error")})
    return rows


def window_shapes(windows: list[Window]) -> list[dict]:
    """Shaded rectangles over the whole plot height; labelled when there are few."""
    labelled = len(windows) <= 30
    shapes = []
    for w in windows:
        shape = {"type": "rect", "xref": "x", "yref": "paper", "x0": w.start_s, "x1": w.end_s,
                 "y0": 0, "y1": 1, "fillcolor": NEMESIS_FILL, "line": {"width": 0},
                 "layer": "below"}
        if labelled:
            shape["label"] = {"text": plot_text(w.label), "textposition": "top left",
                              "font": {"size": 10, "color": "#5b3fa0"}}
        shapes.append(shape)
    return shapes


def _window_legend(windows: list[Window]) -> list[dict]:
    return []  # windows carry their own labels (see window_shapes)


def _layout(title: str, windows: list[Window], **extra: Any) -> dict:
    layout = {"title": {"text": title, "font": {"size": 14}, "x": 0.01},
              "margin": {"l": 60, "r": 20, "t": 36, "b": 40},
              "xaxis": {"title": {"text": "time since start (s)"}, "zeroline": False},
              "shapes": window_shapes(windows),
              "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.25,
                         "xanchor": "left"},
              "hovermode": "closest", "plot_bgcolor": "#fff", "paper_bgcolor": "#fff"}
    layout.update(extra)
    return layout


# ------------------------------------------------------------------------------------
# Clock offsets


def clock_offsets(nemesis: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """{node: [(time s, offset ms)]} from nemesis events whose f names clocks and whose
    value is a `{node: offset_ms}` map (e.g. f = "clock-offsets")."""
    series: dict[str, list[tuple[float, float]]] = {}
    seen: set = set()
    for ev in nemesis:
        f, v, t = ev.get("f"), ev.get("value"), ev.get("time")
        if not (isinstance(f, str) and "clock" in f.lower() and isinstance(v, dict)
                and isinstance(t, (int, float))):
            continue
        if isinstance(v.get("offsets"), dict):
            v = v["offsets"]
        nums = {str(k): x for k, x in v.items()
                if isinstance(x, (int, float)) and not isinstance(x, bool)}
        if not nums:
            continue
        sig = (f, tuple(sorted(nums.items())))
        if sig in seen and ev.get("type") != "invoke":
            continue  # the completion repeats what the invocation measured
        seen.add(sig)
        for node, off in nums.items():
            series.setdefault(node, []).append((t / NS, float(off)))
    return series


def clock_figure(series: dict[str, list[tuple[float, float]]], windows: list[Window]) -> dict:
    data = [{"type": "scatter", "mode": "lines+markers", "name": plot_text(node), "line": {"shape": "hv"},
             "x": [p[0] for p in pts], "y": [p[1] for p in pts]}
            for node, pts in sorted(series.items())]
    return {"data": data + _window_legend(windows),
            "layout": _layout("Measured clock offsets", windows,
                              yaxis={"title": {"text": "offset (ms)"}}, height=300)}


# ------------------------------------------------------------------------------------
# Timeline of ops per process


def assign_lanes(ops: list[Op]) -> tuple[dict[Any, int], str]:
    """process -> lane. Few processes: one lane each. Many (Jepsen renumbers a worker after
    every info): reuse a lane once its previous process has finished, so rows stay few."""
    procs = {}
    for op in ops:
        e = _end_ns(op)
        end = e if e is not None else op.t_inv
        cur = procs.get(op.process)
        if cur is None:
            procs[op.process] = [op.t_inv, end]
        else:
            if op.t_inv < cur[0]:
                cur[0] = op.t_inv
            if end > cur[1]:
                cur[1] = end
    if len(procs) <= MAX_LANES_AS_PROCESSES:
        order = sorted(procs, key=lambda p: (isinstance(p, str), p if not isinstance(p, str) else 0, str(p)))
        return {p: i for i, p in enumerate(order)}, "process"
    free: list[tuple[float, int]] = []  # (end, lane)
    lanes: dict[Any, int] = {}
    n = 0
    for p, (s, e) in sorted(procs.items(), key=lambda kv: kv[1][0]):
        if free and free[0][0] <= s:
            _, lane = heapq.heappop(free)
        else:
            lane, n = n, n + 1
        lanes[p] = lane
        heapq.heappush(free, (e, lane))
    return lanes, "worker lane"


def _stride_sample(ops: list[Op], keep: set[int], budget: int) -> tuple[list[Op], str | None]:
    """All ops if within budget; else every fail/info/witness op plus every k-th ok op."""
    if len(ops) <= budget:
        return ops, None
    special = [op for op in ops if op.type != "ok" or op.index in keep]
    room = max(budget - len(special), budget // 4)
    if len(special) > budget * 3 // 4:  # even the rare ops are too many: thin them as well
        k2 = math.ceil(len(special) / (budget * 3 // 4))
        special = [op for i, op in enumerate(special) if op.index in keep or i % k2 == 0]
    oks = [op for op in ops if op.type == "ok" and op.index not in keep]
    k = max(1, math.ceil(len(oks) / room))
    chosen = special + oks[::k]
    chosen.sort(key=lambda o: o.inv_index)
    note = (f"{len(chosen):,} of {len(ops):,} ops drawn: every {k}th ok op, "
            f"all fail/info ops{' (thinned)' if len(special) < sum(1 for o in ops if o.type != 'ok') else ''} "
            f"and every anomaly witness op")
    return chosen, note


def timeline_figure(history: History, windows: list[Window], witness: set[int], *,
                    budget: int = TIMELINE_BUDGET) -> dict:
    """One row per process (or worker lane), one horizontal segment per op from invocation
    to completion, coloured ok / fail / info; anomaly witness ops marked with a ring."""
    ops = history.ops
    lanes, lane_kind = assign_lanes(ops)
    drawn, note = _stride_sample(ops, witness, budget)
    _, hi = history_span_ns(history)
    # A minimum visible width so instant ops (and pending info ops) still show up.
    min_w = max(hi, 1) / NS / 4000
    xs = {"ok": array("f"), "fail": array("f"), "info": array("f")}
    ys = {"ok": array("f"), "fail": array("f"), "info": array("f")}
    nan = float("nan")
    for op in drawn:
        x0 = op.t_inv / NS
        e = _end_ns(op)
        x1 = (e / NS) if e is not None else x0 + min_w
        if x1 - x0 < min_w:
            x1 = x0 + min_w
        lane = lanes[op.process]
        xa, ya = xs[op.type], ys[op.type]
        xa.extend((x0, x1, nan))
        ya.extend((lane, lane, nan))
    data = []
    for typ in ("ok", "fail", "info"):
        if not xs[typ]:
            continue
        data.append({"type": "scattergl", "mode": "lines", "name": typ,
                     "x": {"dtype": "f4", "bdata": base64.b64encode(xs[typ].tobytes()).decode()},
                     "y": {"dtype": "f4", "bdata": base64.b64encode(ys[typ].tobytes()).decode()},
                     "line": {"color": COLORS[typ], "width": 5}, "hoverinfo": "x+y+name",
                     "connectgaps": False})
    wops = [op for op in ops if op.index in witness] if witness else []
    if wops:
        data.append({"type": "scattergl", "mode": "markers", "name": "anomaly witness",
                     "x": [op.t_inv / NS for op in wops], "y": [lanes[op.process] for op in wops],
                     "text": [plot_text(op.describe()) for op in wops], "hoverinfo": "text",
                     "marker": {"size": 11, "color": "rgba(0,0,0,0)",
                                "line": {"color": "#111", "width": 2}}})
    n_lanes = max(lanes.values(), default=0) + 1
    height = int(min(900, max(260, 60 + 14 * n_lanes)))
    layout = _layout(f"Ops per {lane_kind}", windows, height=height,
                     yaxis={"title": {"text": lane_kind}, "autorange": "reversed",
                            "zeroline": False, "dtick": max(1, n_lanes // 40)})
    data += _window_legend(windows)
    return {"data": data, "layout": layout, "meta": {"note": note, "lanes": n_lanes,
                                                     "lane_kind": lane_kind}}


# ------------------------------------------------------------------------------------
# Latency and throughput


def _percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(math.ceil(q * len(sorted_vals))) - 1))
    return sorted_vals[i]


def latency_figure(history: History, windows: list[Window], *, budget: int = LATENCY_BUDGET,
                   bins: int = BINS) -> dict:
    """Latency (ms, log scale) of every completed op by invocation time, plus p50/p99 of
    ok ops per time bin computed from all ops."""
    ops = history.ops
    lo, hi = history_span_ns(history)
    width = max(1.0, (hi - lo) / bins)
    per_bin: list[list[float]] = [[] for _ in range(bins + 1)]
    done = []
    for op in ops:
        e = _end_ns(op)
        if e is None:
            continue
        lat = (e - op.t_inv) / 1e6
        done.append(op)
        if op.type == "ok":
            per_bin[min(bins, int((op.t_inv - lo) / width))].append(lat)
    drawn, note = _stride_sample(done, set(), budget)
    data = []
    for typ in ("ok", "fail", "info"):
        sel = [op for op in drawn if op.type == typ]
        if not sel:
            continue
        data.append({"type": "scattergl", "mode": "markers", "name": f"{typ} op",
                     "x": typed(op.t_inv / NS for op in sel),
                     "y": typed(max(1e-3, (_end_ns(op) - op.t_inv) / 1e6) for op in sel),
                     "marker": {"size": 4, "color": COLORS[typ], "opacity": 0.6},
                     "hoverinfo": "x+y+name"})
    centers, p50, p99 = [], [], []
    for i, vals in enumerate(per_bin):
        if not vals:
            continue
        vals.sort()
        centers.append((lo + (i + 0.5) * width) / NS)
        p50.append(max(1e-3, _percentile(vals, 0.5)))
        p99.append(max(1e-3, _percentile(vals, 0.99)))
    if centers:
        data.append({"type": "scatter", "mode": "lines", "name": "ok p50", "x": centers, "y": p50,
                     "line": {"color": "#1565c0", "width": 2}})
        data.append({"type": "scatter", "mode": "lines", "name": "ok p99", "x": centers, "y": p99,
                     "line": {"color": "#6a1b9a", "width": 2, "dash": "dot"}})
    data += _window_legend(windows)
    layout = _layout("Latency over time", windows, height=340,
                     yaxis={"title": {"text": "latency (ms)"}, "type": "log", "dtick": 1})
    return {"data": data, "layout": layout, "meta": {"note": note}}


def throughput_figure(history: History, windows: list[Window], *, bins: int = BINS) -> dict:
    """Completions per second by outcome (stacked), from every op."""
    lo, hi = history_span_ns(history)
    width = max(1.0, (hi - lo) / bins)
    counts = {t: [0] * (bins + 1) for t in ("ok", "fail", "info")}
    for op in history.ops:
        e = _end_ns(op)
        if e is None:
            continue
        counts[op.type][min(bins, int((e - lo) / width))] += 1
    centers = [(lo + (i + 0.5) * width) / NS for i in range(bins + 1)]
    per_s = NS / width
    data = [{"type": "bar", "name": typ, "x": centers, "y": [round(c * per_s, 2) for c in counts[typ]],
             "marker": {"color": COLORS[typ]}, "width": width / NS}
            for typ in ("ok", "fail", "info") if any(counts[typ])]
    data += _window_legend(windows)
    layout = _layout("Throughput", windows, height=300, barmode="stack", bargap=0,
                     yaxis={"title": {"text": "completions / s"}})
    return {"data": data, "layout": layout}


# ------------------------------------------------------------------------------------
# Witness timelines


def short_value(v: Any, limit: int = 120) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        s = v
    else:
        try:
            import json

            s = json.dumps(v, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            s = repr(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def op_row(op: Op) -> dict:
    """An op as table cells (strings; the template escapes them)."""
    e = _end_ns(op)
    return {"index": op.index, "process": str(op.process), "type": op.type, "f": op.f,
            "key": short_value(op.key, 60), "value": short_value(op.value),
            "node": op.node or "", "version": "" if op.version is None else str(op.version),
            "t_inv_ms": f"{op.t_inv / 1e6:.3f}",
            "t_ret_ms": "∞ (info)" if e is None and op.type == "info" else
                        (f"{e / 1e6:.3f}" if e is not None else ""),
            "error": short_value(op.error, 80), "final": op.final}


def witness_figure(ops: list[Op]) -> dict:
    """A small timeline of an anomaly's witness ops: one row per op, bar from invocation to
    completion (info ops to their last sighting), labelled with the op itself."""
    data = []
    if not ops:
        return {"data": [], "layout": {}}
    t0 = min(op.t_inv for op in ops)
    ends = [e for e in (_end_ns(op) for op in ops) if e is not None]
    t1 = max(ends + [op.t_inv for op in ops])
    pad = max((t1 - t0) * 0.08, 1e5)
    for typ in ("ok", "fail", "info"):
        sel = [op for op in ops if op.type == typ]
        if not sel:
            continue
        xs: list = []
        ys: list = []
        for op in sel:
            e = _end_ns(op)
            x1 = e if e is not None else t1 + pad
            row = f"op {op.index}"
            xs += [(op.t_inv - t0) / 1e6, (x1 - t0) / 1e6, None]
            ys += [row, row, None]
        data.append({"type": "scatter", "mode": "lines+markers", "name": typ, "x": xs, "y": ys,
                     "line": {"color": COLORS[typ], "width": 8}, "marker": {"size": 6},
                     "hoverinfo": "x+y", "showlegend": False})
    labels = {"type": "scatter", "mode": "text", "showlegend": False, "hoverinfo": "skip",
              "x": [(op.t_inv - t0) / 1e6 for op in ops], "y": [f"op {op.index}" for op in ops],
              "text": [plot_text(f"p{op.process} {op.f} {short_value(op.key, 20)}"
                                 f"{'=' + short_value(op.value, 40) if op.value is not None else ''}"
                                 f" ({op.type})") for op in ops],
              "textposition": "top right", "textfont": {"size": 10}}
    data.append(labels)
    height = 70 + 34 * len(ops)
    layout = {"height": height, "margin": {"l": 70, "r": 20, "t": 10, "b": 34},
              "xaxis": {"title": {"text": "ms after the first witness op"}, "zeroline": False},
              "yaxis": {"type": "category", "autorange": "reversed",
                        "categoryorder": "array", "categoryarray": [f"op {op.index}" for op in ops]},
              "plot_bgcolor": "#fff", "paper_bgcolor": "#fff"}
    return {"data": data, "layout": layout}


# ------------------------------------------------------------------------------------
# Staleness and convergence


def numeric_stats(stats: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten scalar stats (one level of nesting) into (name, value) rows; lists skipped."""
    rows: list[tuple[str, Any]] = []
    if not isinstance(stats, dict):
        return rows
    for k, v in stats.items():
        name = f"{prefix}{k}"
        if isinstance(v, bool) or v is None or isinstance(v, str):
            rows.append((name, v))
        elif isinstance(v, (int, float)):
            rows.append((name, round(v, 3) if isinstance(v, float) else v))
        elif isinstance(v, dict) and not prefix:
            rows.extend(numeric_stats(v, prefix=f"{name}."))
    return rows


def _pct_of(name: str) -> float | None:
    """50 for p50_ms / T_p50 / p50; None otherwise."""
    import re

    m = re.search(r"(?:^|_|\.)p(\d+(?:\.\d+)?)(?:_ms)?$", name)
    return float(m.group(1)) if m else None


def _histogram(stats: dict) -> tuple[list, list, str] | None:
    """(x labels, counts, axis title) from whatever histogram-like list the stats carry."""
    for name, v in stats.items():
        if not isinstance(v, list) or not v or "hist" not in name.lower() and "bucket" not in name.lower():
            continue
        xs, ys = [], []
        for i, item in enumerate(v):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                xs.append(str(i))
                ys.append(item)
            elif isinstance(item, (list, tuple)) and len(item) >= 2 and all(
                    isinstance(x, (int, float)) for x in item):
                xs.append("–".join(str(x) for x in item[:-1]))
                ys.append(item[-1])
            elif isinstance(item, dict):
                cnt = next((item[c] for c in ("count", "n", "reads") if c in item), None)
                lab = [str(item[c]) for c in ("lo", "hi", "le", "ms", "bucket", "versions", "le_ms")
                       if c in item]
                if cnt is None:
                    continue
                xs.append("–".join(lab) or str(i))
                ys.append(cnt)
        if xs:
            return xs, ys, name
    return None


def staleness_figures(stats: dict) -> list[dict]:
    """A percentile bar chart (and a histogram when the stats carry one)."""
    figs = []
    pts = [(p, v, n) for n, v in numeric_stats(stats)
           if (p := _pct_of(n)) is not None and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if pts:
        pts.sort()
        figs.append({"data": [{"type": "bar", "x": [plot_text(n) for _, _, n in pts], "y": [v for _, v, _ in pts],
                               "marker": {"color": "#1565c0"}}],
                     "layout": {"title": {"text": "Staleness percentiles", "font": {"size": 14}},
                                "height": 280, "margin": {"l": 60, "r": 20, "t": 36, "b": 60},
                                "yaxis": {"title": {"text": "value"}}}})
    hist = _histogram(stats)
    if hist:
        xs, ys, name = hist
        figs.append({"data": [{"type": "bar", "x": [plot_text(x) for x in xs], "y": ys, "marker": {"color": "#00838f"}}],
                     "layout": {"title": {"text": plot_text(f"Staleness distribution ({name})"), "font": {"size": 14}},
                                "height": 280, "margin": {"l": 60, "r": 20, "t": 36, "b": 60},
                                "xaxis": {"type": "category"}, "yaxis": {"title": {"text": "reads"}}}})
    return figs


def convergence_rows(history: History, anomalies: list[dict], limit: int = 300) -> tuple[list[dict], dict]:
    """Per key: the last final-read value seen on each node, and whether they agree.

    Derived from the history's `final` reads for display; the verdict is the checker's.
    Keys the convergence checker flagged come first, then disagreeing keys.
    """
    from splitbrain.harness.history import freeze

    last: dict[Any, dict[str, Op]] = {}
    for op in history.ops:
        if op.final and op.f == "read" and op.type == "ok":
            node = op.node or f"process {op.process}"
            per = last.setdefault(op.key, {})
            prev = per.get(node)
            if prev is None or op.inv_index > prev.inv_index:
                per[node] = op
    flagged = {str(a.get("key")) for a in anomalies if a.get("key") is not None}
    nodes = sorted({n for per in last.values() for n in per})
    rows = []
    for key, per in last.items():
        vals = {n: per[n].value for n in per}
        agree = len({freeze(v) for v in vals.values()}) <= 1
        rows.append({"key": short_value(key, 60), "agree": agree, "flagged": str(key) in flagged,
                     "values": {n: short_value(vals[n], 80) if n in vals else "—" for n in nodes}})
    rows.sort(key=lambda r: (not r["flagged"], r["agree"], r["key"]))
    summary = {"n_keys": len(rows), "disagree": sum(1 for r in rows if not r["agree"]),
               "flagged": sum(1 for r in rows if r["flagged"]), "nodes": nodes,
               "shown": min(limit, len(rows))}
    return rows[:limit], summary


def overview_figure(history: History, windows: list[Window], witness: set[int]) -> dict:
    """Timeline, latency and throughput stacked on one shared time axis.

    One figure means one WebGL context (each costs ~1 s to start in a software-rendered
    browser) and zooming into a fault window zooms all three views together.
    """
    tl = timeline_figure(history, windows, witness)
    lat = latency_figure(history, windows)
    thr = throughput_figure(history, windows)
    tl_h = tl["layout"]["height"] - 60
    lat_h, thr_h, gap = 230, 170, 60
    total = tl_h + lat_h + thr_h + 2 * gap
    d_thr = (0.0, thr_h / total)
    d_lat = ((thr_h + gap) / total, (thr_h + gap + lat_h) / total)
    d_tl = ((thr_h + lat_h + 2 * gap) / total, 1.0)
    data = list(tl["data"])
    for t in lat["data"]:
        # Latency dots share the outcome colours: only the percentile lines need a legend.
        data.append({**t, "yaxis": "y2", "legendgroup": t["name"],
                     "showlegend": t["type"] == "scatter"})
    for t in thr["data"]:
        # The same outcome colours as the timeline; one legend entry per outcome is enough.
        data.append({**t, "yaxis": "y3", "name": f"{t['name']} /s", "showlegend": False,
                     "legendgroup": t["name"], "hovertemplate": f"%{{y}} {t['name']}/s<extra></extra>"})

    def title(text: str, top: float) -> dict:
        return {"text": f"<b>{text}</b>", "xref": "paper", "yref": "paper", "x": 0, "y": top,
                "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}}

    layout = _layout("", windows, height=int(total + 90))
    layout.pop("title")
    layout["margin"] = {"l": 70, "r": 20, "t": 40, "b": 45}
    layout["yaxis"] = {**tl["layout"]["yaxis"], "domain": list(d_tl)}
    layout["yaxis2"] = {**lat["layout"]["yaxis"], "domain": list(d_lat)}
    layout["yaxis3"] = {**thr["layout"]["yaxis"], "domain": list(d_thr)}
    layout["barmode"], layout["bargap"] = "stack", 0
    layout["annotations"] = [title(f"ops per {tl['meta']['lane_kind']}", d_tl[1]),
                             title("latency (ms, log)", d_lat[1]),
                             title("throughput (completions/s)", d_thr[1])]
    layout["legend"] = {"orientation": "h", "x": 0.14, "xanchor": "left", "y": 1.0,
                        "yanchor": "bottom"}
    layout["xaxis"]["anchor"] = "y3"  # the time axis sits under the bottom panel
    notes = []
    if tl["meta"].get("note"):
        notes.append("timeline: " + tl["meta"]["note"])
    if lat["meta"].get("note"):
        notes.append("latency points: " + lat["meta"]["note"] + "; the p50/p99 lines use every op")
    return {"data": data, "layout": layout, "meta": {"note": " · ".join(notes) or None}}


# ------------------------------------------------------------------------------------
# Anomaly groups over fault windows (issue 10 item 9)


def anomaly_timeline_figure(groups: dict) -> dict:
    """Anomaly counts per checker per time bin (stacked), fault windows shaded. Both come
    from `results["anomaly_groups"]`, on the same time origin."""
    tl = groups.get("timeline") or {}
    centers = tl.get("centers_s") or []
    width = tl.get("bin_s") or 0
    windows = [Window("fault", w["start_s"], w["end_s"], w["label"])
               for w in groups.get("windows") or []]
    data = [{"type": "bar", "name": plot_text(name), "x": centers, "y": counts, "width": width}
            for name, counts in sorted((tl.get("counts") or {}).items())]
    layout = _layout("Anomalies over time (fault windows shaded)", windows, height=280,
                     barmode="stack", bargap=0, yaxis={"title": {"text": "anomalies"}})
    return {"data": data, "layout": layout}
