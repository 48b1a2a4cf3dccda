"""Report panel for propagation runs (reports/html.py): what happened to each event.

`propagation_panel(history, results, windows, layout_fn, figures)` adds three figures to
`figures` and returns the section's context, or None when the history has no
`write-source` op. The per-event data is `checkers.propagation.event_series`, computed
by the checker's own rules, so the panel agrees with its verdicts and lag stats:

* `prop-lag-cdf` — the CDF of the per-event propagation lag, lower and upper bounds;
* `prop-lag-time` — each event's bounds at its commit time, the fault windows behind,
  and the first witness of each propagation anomaly marked on the time axis;
* `prop-funnel` — committed → published (relay) → applied / dead-lettered / lost /
  still queued / unresolved (the outcomes add up to the committed events);
* `witnesses` — per propagation checker with anomalies, its first witness, linked to
  the anomaly list (`#c-<checker>`).

Bounded: at most CDF_POINTS points per CDF curve (quantile-sampled, the last kept) and
BUDGET points per time series (stride-sampled, the slowest event kept), the sampling
noted in the title.
"""

from __future__ import annotations

from urllib.parse import quote

from splitbrain.harness.history import INF, History

NS = 1e9
CDF_POINTS = 500
BUDGET = 4000
COLORS = {"applied": "#2e7d32", "dead-lettered": "#6a1b9a", "lost": "#c62828",
          "still queued": "#ef6c00", "unresolved": "#90a4ae"}
UPPER, LOWER = "#1565c0", "#90caf9"


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _cdf(values: list[int]) -> tuple[list[float], list[float], bool]:
    """(x ms, y fraction) of the empirical CDF: point i is the (i+1)/n quantile."""
    xs = sorted(values)
    n = len(xs)
    if n <= CDF_POINTS:
        idx = list(range(n))
    else:
        idx = sorted({round(j * (n - 1) / (CDF_POINTS - 1)) for j in range(CDF_POINTS)})
    return [_ms(xs[i]) for i in idx], [round((i + 1) / n, 6) for i in idx], n > CDF_POINTS


def _stride(rows: list, budget: int, keep) -> tuple[list, bool]:
    if len(rows) <= budget:
        return rows, False
    step = len(rows) / budget
    picked = {int(i * step) for i in range(budget - 1)} | {keep}
    return [rows[i] for i in sorted(picked)], True


def _witnesses(history: History, results: dict) -> list[dict]:
    from splitbrain.checkers.propagation import NAMES

    by_index = history.by_index()
    rows = []
    for name, res in (results.get("checkers") or {}).items():
        if name not in NAMES or not res.get("anomalies"):
            continue
        a = res["anomalies"][0]
        ops = [o for o in (a.get("ops") or []) if isinstance(o, int)]
        t = None
        for o in ops:
            op = by_index.get(o)
            if op is not None:
                end = op.t_ret if op.t_ret != INF else op.t_inv
                t = end if t is None else min(t, end)
        rows.append({"checker": name, "anchor": "c-" + quote(name, safe=""),
                     "type": a.get("type", ""), "explanation": a.get("explanation", ""),
                     "ops": ops, "count": res.get("anomaly_count", len(res["anomalies"])),
                     "t_s": None if t is None else round(t / NS, 4)})
    return rows


def propagation_panel(history: History, results: dict, windows: list, layout_fn,
                      figures: dict) -> dict | None:
    from splitbrain.checkers.propagation import OUTCOMES, event_series
    from splitbrain.reports.plots import plot_text

    series = event_series(history)
    if series is None:
        return None
    lags = series["lags"]
    witnesses = _witnesses(history, results)

    # (1) the lag CDF, both bounds
    data = []
    cut = False
    for name, col, vals in (("upper bound", UPPER, [u for *_, u in lags]),
                            ("lower bound", LOWER, [lo for _, _, lo, _ in lags])):
        if vals:
            x, y, c = _cdf(vals)
            cut |= c
            data.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv",
                         "color": col}, "name": name, "x": x, "y": y})
    title = "Lag CDF per event (lower, upper bound)"
    if cut:
        title += f" — {CDF_POINTS} quantiles"
    figures["prop-lag-cdf"] = {"data": data, "layout": layout_fn(
        title, [], height=320, xaxis={"title": {"text": "lag (ms)"}, "zeroline": False},
        yaxis={"title": {"text": "fraction of measured events"}, "range": [0, 1.02]})}

    # (2) lag over time at each event's commit, faults shaded, first witnesses marked
    slowest = max(range(len(lags)), key=lambda i: lags[i][3]) if lags else 0
    pts, cut = _stride(lags, BUDGET, slowest)
    data = []
    for name, col, j in (("upper bound", UPPER, 3), ("lower bound", LOWER, 2)):
        if pts:
            data.append({"type": "scattergl", "mode": "markers", "name": name,
                         "marker": {"color": col, "size": 4},
                         "x": [round(p[1] / NS, 4) for p in pts], "y": [_ms(p[j]) for p in pts]})
    marks = [w for w in witnesses if w["t_s"] is not None]
    if marks:
        data.append({"type": "scatter", "mode": "markers", "name": "first witness",
                     "marker": {"symbol": "x", "size": 11, "color": "#c62828"},
                     "x": [w["t_s"] for w in marks], "y": [0] * len(marks),
                     "text": [plot_text(f"{w['checker']}: {w['type']}") for w in marks],
                     "hoverinfo": "text+x"})
    title = "Propagation lag at each event's commit (fault windows shaded)"
    if cut:
        title += f" — sampled to {BUDGET} events"
    figures["prop-lag-time"] = {"data": data, "layout": layout_fn(
        title, windows, height=340, yaxis={"title": {"text": "lag (ms)"}})}

    # (3) the funnel: stages, then the committed events' outcomes stacked
    counts = {k: 0 for k in OUTCOMES}
    for o in series["outcome"].values():
        counts[o] += 1
    stages = [("committed", series["committed"])]
    if series["published"] is not None:
        stages.append(("published (relay)", series["published"]))
    data = [{"type": "bar", "orientation": "h", "name": name, "showlegend": False,
             "y": [name], "x": [n], "marker": {"color": "#546e7a"}, "text": [str(n)],
             "textposition": "auto"} for name, n in stages]
    data += [{"type": "bar", "orientation": "h", "name": k, "y": ["outcome"], "x": [n],
              "marker": {"color": COLORS[k]}, "text": [str(n)], "textposition": "inside"}
             for k, n in counts.items() if n]
    figures["prop-funnel"] = {"data": data, "layout": layout_fn(
        "Events: committed → published → outcome", [], height=260, barmode="stack",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0.45,
                "traceorder": "normal"},
        xaxis={"title": {"text": "events"}},
        yaxis={"autorange": "reversed", "automargin": True})}

    measured = len(lags)
    return {"figs": ["prop-lag-cdf", "prop-lag-time", "prop-funnel"],
            "committed": series["committed"], "published": series["published"],
            "outcomes": [(k, counts[k]) for k in OUTCOMES], "measured": measured,
            "backlog": series["backlog"], "witnesses": witnesses,
            "lag": (results.get("checkers") or {}).get("propagation-lag", {}).get("stats") or {}}
