"""The report's per-key linearizability view (linearizability.md §5.7).

For each `nonlinearizable` anomaly that carries a `timeline`: one small Plotly figure in
the style of Porcupine's visualizer, self-contained in the page. Obligations:
* x is the event index (the order the checker used), one lane per process; required ops
  are solid bars from invocation to completion, optional (crashed) ops dashed to the right
  edge; witness ops thick, the stuck op red;
* each frontier path (a longest linearizable prefix) is drawn as markers joined by a
  line, point j at max(inv_j, point_{j-1} + eps), hover = op and the state after it;
* blocked candidates are red crosses whose hover is the reason;
* every string from the history goes through `plots.plot_text` (plotly reads HTML tags).
"""

from __future__ import annotations

from typing import Any

from splitbrain.reports.plots import plot_text

COLORS = {"stuck": "#d62728", "witness": "#1f3b73", "context": "#9aa5b1"}
PATH_COLORS = ["#2ca02c", "#ff7f0e", "#9467bd"]


def build(results: dict, figures: dict) -> list[dict]:
    """[{key, explanation, states, fig, paths, blocked}] and the figures added to `figures`."""
    res = (results.get("checkers") or {}).get("linearizable")
    if not res:
        return []
    out = []
    for a in res.get("anomalies") or []:
        tl = a.get("timeline")
        if not isinstance(tl, dict) or not tl.get("ops"):
            continue
        fig_id = f"lin-{len(out)}"
        figures[fig_id] = figure(tl)
        out.append({"key": a.get("key"), "explanation": a.get("explanation", ""),
                    "states": (a.get("states") or {}).get("values") or [],
                    "count": (a.get("states") or {}).get("count", 0),
                    "stuck": a.get("stuck_op"), "fig": fig_id,
                    "witness": (a.get("witness") or {}).get("ops") or a.get("ops") or [],
                    "blocked": tl.get("blocked") or [],
                    "confidence": a.get("confidence"),
                    "start_state": tl.get("start_state"),
                    "from_state": (a.get("witness") or {}).get("from_state"),
                    "after_index": (a.get("witness") or {}).get("after_index")})
    return out


def figure(tl: dict) -> dict[str, Any]:
    ops = tl["ops"]
    procs: list = []
    for o in ops:
        if o["process"] not in procs:
            procs.append(o["process"])
    lane = {p: i for i, p in enumerate(procs)}
    x_max = max([o["ret"] for o in ops if o["ret"] is not None] + [o["inv"] for o in ops]) + 2
    x_min = min(o["inv"] for o in ops) - 1
    data: list[dict] = []
    for role in ("context", "witness", "stuck"):
        for optional in (False, True):
            sel = [o for o in ops if o["role"] == role and bool(o["optional"]) == optional]
            if not sel:
                continue
            xs: list = []
            ys: list = []
            text: list = []
            for o in sel:
                end = x_max if o["ret"] is None else o["ret"]
                y = lane[o["process"]]
                label = plot_text(f"op {o['index']} · {o['desc']} · {o['type']} · process {o['process']}")
                xs += [o["inv"], end, None]
                ys += [y, y, None]
                text += [label, label, None]
            data.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "text": text,
                         "hoverinfo": "text", "name": f"{role}{' (crashed)' if optional else ''}",
                         "line": {"color": COLORS[role], "width": 3 if role == "context" else 7,
                                  "dash": "dot" if optional else "solid"}})
    by_index = {o["index"]: o for o in ops}
    for i, path in enumerate(tl.get("paths") or []):
        xs, ys, text = [], [], []
        last = x_min
        for idx, state in path:
            o = by_index.get(idx)
            if o is None:
                continue
            x = max(o["inv"], last + 0.15)
            last = x
            xs.append(x)
            ys.append(lane[o["process"]])
            text.append(plot_text(f"op {idx} ({o['desc']}) → {state}"))
        if xs:
            data.append({"type": "scatter", "mode": "lines+markers", "x": xs, "y": ys,
                         "text": text, "hoverinfo": "text",
                         "name": f"longest linearizable prefix {i + 1}",
                         "visible": True if i == 0 else "legendonly",
                         "line": {"color": PATH_COLORS[i % 3], "width": 1.5},
                         "marker": {"size": 8}})
    bx, by, bt = [], [], []
    for idx, reason in tl.get("blocked") or []:
        o = by_index.get(idx)
        if o is None:
            continue
        bx.append(o["ret"] if o["ret"] is not None else o["inv"] + 0.5)
        by.append(lane[o["process"]])
        bt.append(plot_text(f"op {idx}: {reason}"))
    if bx:
        data.append({"type": "scatter", "mode": "markers", "x": bx, "y": by, "text": bt,
                     "hoverinfo": "text", "name": "cannot continue the prefix",
                     "marker": {"symbol": "x", "size": 12, "color": COLORS["stuck"]}})
    height = 120 + 28 * len(procs)
    return {"data": data, "layout": {
        "height": min(height, 900), "margin": {"l": 80, "r": 10, "t": 10, "b": 40},
        "xaxis": {"title": {"text": "event index"}, "range": [x_min, x_max + 1]},
        "yaxis": {"tickvals": list(range(len(procs))),
                  "ticktext": [plot_text(f"process {p}") for p in procs],
                  "autorange": "reversed"},
        "legend": {"orientation": "h", "y": -0.25}, "hovermode": "closest"}}
