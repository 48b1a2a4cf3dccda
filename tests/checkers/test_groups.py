"""Anomaly groups (issue 10 item 9): checker × key × node × fault window, exact counts."""

from __future__ import annotations

import io

from splitbrain.checkers import run_checks
from splitbrain.checkers.groups import NO_FAULT, fault_windows
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events

S = 1_000_000_000


def _history():
    """p0 writes x=v1 (version 2) via n1; then stale reads of version 1 (RYW violations
    of p0): 5 on n2 inside a partition window, 2 on n3 after the heal."""
    evs, i = [], 0

    def op(p, f, value, t, node, version, out=None):
        nonlocal i
        evs.append({"index": i, "process": p, "type": "invoke", "f": f, "key": "x",
                    "value": None if f == "read" else value, "time": t})
        evs.append({"index": i + 1, "process": p, "type": "ok", "f": f, "key": "x",
                    "value": out if f == "read" else value, "time": t + 1000, "node": node,
                    "version": version})
        i += 2

    op(1, "write", "v0", 0, "n1", 1)
    op(0, "write", "v1", 1 * S, "n1", 2)
    evs.append({"index": i, "process": "nemesis", "type": "info", "f": "start-partition",
                "time": 2 * S}); i += 1
    for k in range(5):
        op(0, "read", None, 3 * S + k * S, "n2", 1, out="v0")
    evs.append({"index": i, "process": "nemesis", "type": "info", "f": "stop-partition",
                "time": 9 * S}); i += 1
    for k in range(2):
        op(0, "read", None, 10 * S + k * S, "n3", 1, out="v0")
    return history_from_events(evs)


def test_groups_by_node_and_window_with_exact_counts():
    res = run_checks(_history(), CheckOptions(workload="register", anomaly_cap=2),
                     ["read-your-writes"])
    ryw = res["checkers"]["read-your-writes"]
    assert ryw["anomaly_count"] == 7 and len(ryw["anomalies"]) == 2  # capped list kept
    g = res["anomaly_groups"]
    assert g["total"] == 7 and g["group_count"] == 2
    by = {(x["node"], x["window"]): x for x in g["groups"]}
    assert by[("n2", "partition #1")]["violating_ops"] == 5
    assert by[("n3", NO_FAULT)]["violating_ops"] == 2
    part = by[("n2", "partition #1")]
    assert part["first_s"] == 3.0 and part["last_s"] == 7.0
    assert part["first_witness"]["ops"][:2] == [3, 6]
    assert "71% during faults (partition)" in g["summary"] and "7 anomalies in 2 groups" in g["summary"]
    assert sum(sum(c) for c in g["timeline"]["counts"].values()) == 7


def test_terminal_and_summary_show_groups():
    from rich.console import Console

    from splitbrain.reports.summary import summary_markdown
    from splitbrain.reports.terminal import print_results

    res = run_checks(_history(), CheckOptions(workload="register"), ["read-your-writes"])
    buf = io.StringIO()
    print_results(res, console=Console(file=buf, width=120))
    out = buf.getvalue()
    assert "Anomaly groups: 7 anomalies in 2 groups" in out and "partition #1" in out
    assert "partition #1" in summary_markdown(res)


def test_no_anomaly_no_groups_and_windows_parse():
    res = run_checks(history_from_events([]), CheckOptions(workload="register"))
    assert "anomaly_groups" not in res
    w = fault_windows([{"f": "start-partition", "time": 1}, {"f": "heal", "time": 5},
                       {"f": "kill", "time": 6}, {"f": "restart", "time": 8},
                       {"f": "pause", "time": 9}], 20)
    assert [x[2] for x in w] == ["partition #1", "kill #1", "pause #1 (never healed)"]


def test_report_html_lists_groups_and_draws_their_timeline():
    from splitbrain.reports.html import render_html

    h = _history()
    res = run_checks(h, CheckOptions(workload="register"), ["read-your-writes"])
    html = render_html(res, history=h)
    assert 'id="groups-section"' in html and 'data-fig="anomaly-timeline"' in html
    assert "partition #1" in html
