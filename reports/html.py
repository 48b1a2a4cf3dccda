"""`report.html`: one self-contained page per run (Jinja2 template + inline Plotly).

Obligations:
* works from `file://` with no network: plotly.min.js is inlined from the installed
  `plotly` package, the figures travel as JSON inside the page;
* every string that came from a history, a result or a config is escaped: the template
  autoescapes, the figure JSON has `<`, `>` and `&` written as \\u escapes (so no value can
  close the `<script>` element), and plotly labels are entity-escaped (`plots.plot_text`);
* anomalies come first, right under the verdict banner; each shows its explanation, a
  small timeline of its witness ops and the ops themselves;
* stays light at 1,000,000 ops: per-op charts are budgeted and WebGL (see `plots`).
"""

from __future__ import annotations

import datetime as _dt
import os
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from splitbrain.harness.history import History, dumps
from splitbrain.reports import plots

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
VERDICT = {True: ("valid", "VALID"), False: ("invalid", "INVALID"), "unknown": ("unknown", "UNKNOWN")}
MAX_NODE_LOGS = 500


def verdict_of(valid: Any) -> tuple[str, str]:
    """(css class, label) for true / false / "unknown" (anything else reads as unknown)."""
    return VERDICT[valid] if valid is True or valid is False else VERDICT["unknown"]


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped inside the `plotly` Python package."""
    import plotly

    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    with open(path, encoding="utf-8") as fh:
        js = fh.read()
    # Belt and braces: the bundle must not be able to end its own <script> element.
    return js.replace("</script", "<\\/script")


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["verdict_class"] = lambda v: verdict_of(v)[0]
    env.filters["verdict_label"] = lambda v: verdict_of(v)[1]
    env.filters["short"] = plots.short_value
    return env


def script_json(obj: Any) -> str:
    """JSON safe to place inside <script type="application/json">: no `<`, `>` or `&`."""
    raw = dumps(obj)
    return (raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")
            .decode("utf-8"))


def discover_node_logs(out_dir: str | None) -> dict[str, list[str]]:
    """{node: [relative paths]} for files under `out_dir/nodes/<node>/` (symlinks skipped)."""
    found: dict[str, list[str]] = {}
    if not out_dir:
        return found
    root = os.path.join(out_dir, "nodes")
    if not os.path.isdir(root):
        return found
    n = 0
    for node in sorted(os.listdir(root)):
        ndir = os.path.join(root, node)
        if not os.path.isdir(ndir) or os.path.islink(ndir):
            continue
        for dirpath, dirnames, filenames in os.walk(ndir):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if os.path.islink(full):
                    continue
                found.setdefault(node, []).append(os.path.relpath(full, out_dir))
                n += 1
                if n >= MAX_NODE_LOGS:
                    return found
    return found


def _checker_rows(results: dict) -> list[dict]:
    rows = []
    for name, res in (results.get("checkers") or {}).items():
        anomalies = res.get("anomalies") or []
        first = anomalies[0] if anomalies else None
        note = ""
        if first:
            note = first.get("explanation") or first.get("type", "")
        elif res.get("reason"):
            note = res["reason"]
        if res.get("consistency_model") and res.get("claim_reason"):
            # transactions: the model judged against, and why (the flag, the store, default)
            checked = (f"checked as {', '.join(map(str, res['consistency_model']))}: "
                       f"{res['claim_reason']}")
            note = f"{note} ({checked})" if note else checked
        rows.append({"name": name, "anchor": "c-" + quote(name, safe=""), "valid": res.get("valid"),
                     "count": res.get("anomaly_count", len(anomalies)), "shown": len(anomalies),
                     "note": note, "res": res})
    # Failing first, then unknown, then valid; stable within each group.
    rank = {False: 0, "unknown": 1, True: 2}
    rows.sort(key=lambda r: rank.get(r["valid"] if r["valid"] in (True, False) else "unknown", 1))
    return rows


def _stat_items(stats: Any) -> list[tuple[str, str]]:
    return [(k, plots.short_value(v, 80) if not isinstance(v, (int, float)) else str(v))
            for k, v in plots.numeric_stats(stats)]


_CYCLE_FIELDS = ("steps", "txns", "ring", "cycle")


def _cycle_svg(a: dict):
    """A drawn cycle for transactional anomalies (reports/cycles.py), else None."""
    from markupsafe import Markup

    from splitbrain.reports.cycles import cycle_svg, has_cycle

    svg = cycle_svg(a) if has_cycle(a) else None
    return Markup(svg) if svg else None


def build_context(results: dict, history: History | None = None, test: dict | None = None,
                  node_logs: dict[str, list[str]] | None = None, *, title: str | None = None) -> dict:
    """Everything the template needs; figures go into one JSON map keyed by element id."""
    figures: dict[str, dict] = {}
    checkers = _checker_rows(results)
    by_index = history.by_index() if history is not None else {}
    witness: set[int] = set()
    anomaly_groups = []
    for row in checkers:
        res = row["res"]
        items = []
        for i, a in enumerate(res.get("anomalies") or []):
            ops_ix = [o for o in (a.get("ops") or []) if isinstance(o, int)]
            witness.update(ops_ix)
            ops = [by_index[o] for o in ops_ix if o in by_index]
            fig_id = None
            if ops:
                fig_id = f"w-{len(figures)}"
                figures[fig_id] = plots.witness_figure(ops)
            extra = {k: v for k, v in a.items()
                     if k not in ("type", "key", "process", "ops", "explanation", "timeline")}
            items.append({"n": i + 1, "a": a, "key": plots.short_value(a.get("key"), 80),
                          "process": "" if a.get("process") is None else str(a.get("process")),
                          "ops_ix": ops_ix, "rows": [plots.op_row(op) for op in ops],
                          "missing": [o for o in ops_ix if o not in by_index] if history is not None else [],
                          "fig": fig_id, "cycle_svg": _cycle_svg(a),
                          "details": [(k, plots.short_value(v, 200)) for k, v in extra.items()
                                      if k not in _CYCLE_FIELDS or not a.get("steps")]})
        if items or res.get("reason") or res.get("notices"):
            anomaly_groups.append({"row": row, "entries": items,
                                   "notices": res.get("notices") or [],
                                   "assumptions": res.get("assumptions") or []})

    notes: dict[str, str] = {}
    clock = {}
    nemesis_rows: list[dict] = []
    convergence = None
    if history is not None and history.ops:
        _, hi = plots.history_span_ns(history)
        windows = plots.nemesis_windows(history.nemesis, hi)
        fig = plots.overview_figure(history, windows, witness)
        note = (fig.pop("meta", None) or {}).get("note")
        if note:
            notes["overview"] = note
        figures["overview"] = fig
        clock = plots.clock_offsets(history.nemesis)
        if clock:
            figures["clock"] = plots.clock_figure(clock, windows)
        nemesis_rows = plots.nemesis_table(history.nemesis)
        from splitbrain.reports.queue_plots import offsets_figure

        qfig = offsets_figure(history, windows, plots._layout)
        if qfig is not None:
            figures["queue-offsets"] = qfig
    elif history is not None:
        windows = []

    groups = results.get("anomaly_groups")
    if groups:
        figures["anomaly-timeline"] = plots.anomaly_timeline_figure(groups)

    stale = (results.get("checkers") or {}).get("staleness")
    staleness = None
    if stale is not None:
        figs = plots.staleness_figures(stale.get("stats") or {})
        ids = []
        for i, fig in enumerate(figs):
            figures[f"stale-{i}"] = fig
            ids.append(f"stale-{i}")
        staleness = {"stats": _stat_items(stale.get("stats") or {}), "figs": ids,
                     "valid": stale.get("valid")}

    conv = (results.get("checkers") or {}).get("convergence")
    if conv is not None or (history is not None and any(op.final for op in history.ops)):
        conv = conv or {}
        rows, summary = (plots.convergence_rows(history, conv.get("anomalies") or [])
                         if history is not None else ([], {"n_keys": 0, "nodes": []}))
        convergence = {"stats": _stat_items(conv.get("stats") or {}), "rows": rows,
                       "summary": summary, "valid": conv.get("valid", None)}

    from splitbrain.reports import linearizable_view

    linearizable = linearizable_view.build(results, figures)

    logs = node_logs or {}
    log_links = [{"node": node, "files": [{"name": p, "href": "/".join(quote(part) for part in p.split(os.sep))}
                                          for p in paths]}
                 for node, paths in sorted(logs.items())]

    test_json = None
    if test is not None:
        import json

        test_json = json.dumps(test, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    name = title or (test or {}).get("name") if isinstance(test, dict) else title
    stats = results.get("stats") or {}
    return {
        "title": name or "splitbrain report",
        "results": results,
        "valid": results.get("valid"),
        "workload": results.get("workload"),
        "stats": stats,
        "checkers": checkers,
        "faults_line": _faults_line(results),
        "failing": [r for r in checkers if r["valid"] is False],
        "anomaly_groups": anomaly_groups,
        "groups": groups or None,
        "has_history": history is not None and bool(history.ops),
        "history_source": getattr(history, "source", None),
        "notes": notes,
        "clock": sorted(clock),
        "nemesis_rows": nemesis_rows,
        "nemesis_total": len(history.nemesis) if history is not None else 0,
        "staleness": staleness,
        "queue_offsets": "queue-offsets" in figures,
        "convergence": convergence,
        "linearizable": linearizable,
        "log_links": log_links,
        "test_json": test_json,
        "timings": results.get("timings_s") or {},
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "figures_json": script_json(figures),
    }


def _faults_line(results: dict) -> str:
    from splitbrain.reports.terminal import faults_line

    return faults_line(results)


def render_html(results: dict, *, history: History | None = None, test: dict | None = None,
                node_logs: dict[str, list[str]] | None = None, title: str | None = None) -> str:
    """The complete report page as a string."""
    from markupsafe import Markup

    from splitbrain.harness import __version__

    ctx = build_context(results, history, test, node_logs, title=title)
    ctx["plotly_js"] = Markup(plotly_js())
    ctx["figures_json"] = Markup(ctx["figures_json"])
    ctx["version"] = __version__
    return _env().get_template("report.html.j2").render(**ctx)


def write_html(path: str, results: dict, *, history: History | None = None,
               test: dict | None = None, node_logs: dict[str, list[str]] | None = None) -> str:
    """Write report.html atomically; node logs are discovered next to it when not given."""
    out_dir = os.path.dirname(os.path.abspath(path))
    if node_logs is None:
        node_logs = discover_node_logs(out_dir)
    page = render_html(results, history=history, test=test, node_logs=node_logs)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    return path
