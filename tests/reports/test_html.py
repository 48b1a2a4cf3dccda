"""report.html without a browser: content, escaping, figures, node-log links."""

from __future__ import annotations

import json
import os
import re

from splitbrain.harness.history import history_from_events
from splitbrain.reports import plots
from splitbrain.reports.html import render_html, script_json
from splitbrain.reports.outputs import write_outputs

from sb_report_samples import XSS, build_events, build_results


def _figures(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="sb-figures">(.*?)</script>', page, re.S)
    assert m, "figure JSON missing"
    return json.loads(m.group(1))


def test_report_lists_every_anomaly_with_its_ops(sample):
    hist, results = sample
    page = render_html(results, history=hist, test={"name": "demo-test", "nodes": ["n1"]})
    assert "INVALID" in page.split("<nav>")[0]  # the banner comes first
    for name, res in results["checkers"].items():
        for a in res["anomalies"]:
            # Jinja escapes apostrophes etc.; the explanations here are plain text.
            assert a["explanation"] in page
            for ix in a["ops"]:
                assert f"<td>{ix}</td>" in page
    assert "key k2 has an info write and no later read" in page  # the unknown reason
    # Anomalies section precedes the charts.
    assert page.index('id="anomalies"') < page.index('id="timeline-section"')
    figs = _figures(page)
    assert "overview" in figs and any(k.startswith("w-") for k in figs)
    assert "clock" in figs  # the clock-offsets nemesis event
    assert "demo-test" in page and "&#34;nodes&#34;" in page or '"nodes"' in page


def test_no_network_references(sample):
    hist, results = sample
    page = render_html(results, history=hist)
    # No external script/style/img sources: the page must work from file:// offline.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', page)


def test_hostile_values_are_escaped(xss_sample):
    hist, results = xss_sample
    page = render_html(results, history=hist, test={"name": XSS})
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Exactly our three script elements: figure data, plotly.js, the page script.
    assert page.count("<script") == 3
    blob = re.search(r'id="sb-figures">(.*?)</script>', page, re.S).group(1)
    assert "<" not in blob and ">" not in blob


def test_script_json_cannot_close_its_element():
    s = script_json({"v": "</script><script>alert(1)</script>", "a": "&"})
    assert "<" not in s and ">" not in s and "&" not in s
    assert json.loads(s)["v"] == "</script><script>alert(1)</script>"


def test_report_without_history(sample):
    _, results = sample
    page = render_html(results)
    assert "INVALID" in page and 'id="timeline-section"' not in page


def test_write_outputs_paths_and_node_logs(tmp_path, sample):
    hist, results = sample
    node_dir = tmp_path / "nodes" / "n1"
    node_dir.mkdir(parents=True)
    (node_dir / "redis.log").write_text("ready\n")
    paths = write_outputs(str(tmp_path), results, history=hist, test=None)
    assert set(paths) >= {"report.html", "junit.xml", "summary.md", "results.json"}
    for p in paths.values():
        assert os.path.getsize(p) > 0
    page = open(paths["report.html"], encoding="utf-8").read()
    assert 'href="nodes/n1/redis.log"' in page


def test_nemesis_windows_pair_start_and_stop():
    evs = [{"time": 1_000_000_000, "f": "start-partition", "type": "invoke"},
           {"time": 1_100_000_000, "f": "start-partition", "type": "info"},
           {"time": 3_000_000_000, "f": "stop-partition", "type": "invoke"},
           {"time": 3_000_000_000, "f": "stop-partition", "type": "info"},
           {"time": 4_000_000_000, "f": "kill", "type": "info"},
           {"time": 6_000_000_000, "f": "heal", "type": "info"},
           {"time": 7_000_000_000, "f": "pause", "type": "info"}]
    w = plots.nemesis_windows(evs, 9_000_000_000)
    assert [(x.kind, x.start_s, x.end_s) for x in w] == [
        ("partition", 1.0, 3.0), ("kill", 4.0, 6.0), ("pause", 7.0, 9.0)]
    assert "never healed" in w[-1].label


def test_clock_offsets_read_node_maps():
    evs = [{"time": 2_000_000_000, "f": "clock-offsets", "type": "info",
            "value": {"n1": 1.5, "n2": -30}},
           {"time": 3_000_000_000, "f": "start-partition", "type": "info", "value": {"n1": 3}}]
    assert plots.clock_offsets(evs) == {"n1": [(2.0, 1.5)], "n2": [(2.0, -30.0)]}


def test_budget_keeps_witness_and_failed_ops():
    evs = []
    for i in range(3000):
        evs.append({"index": 2 * i, "time": i * 1000, "process": i % 4, "type": "invoke",
                    "f": "write", "key": "k", "value": i})
        evs.append({"index": 2 * i + 1, "time": i * 1000 + 500, "process": i % 4,
                    "type": "fail" if i % 97 == 0 else "ok", "f": "write", "key": "k", "value": i})
    hist = history_from_events(evs)
    witness = {1001, 4001}
    drawn, note = plots._stride_sample(hist.ops, witness, 500)
    got = {op.index for op in drawn}
    assert witness <= got
    assert all(op.index in got for op in hist.ops if op.type == "fail")
    assert len(drawn) <= 600 and note and "3,000" in note


def test_many_processes_share_lanes():
    evs, ix = [], 0
    for p in range(1000):  # Jepsen renumbers after info: many short-lived processes
        evs.append({"index": ix, "time": p * 10, "process": p, "type": "invoke", "f": "read", "key": 1})
        evs.append({"index": ix + 1, "time": p * 10 + 5, "process": p, "type": "ok", "f": "read",
                    "key": 1, "value": None})
        ix += 2
    lanes, kind = plots.assign_lanes(history_from_events(evs).ops)
    assert kind == "worker lane" and max(lanes.values()) < 5


def test_staleness_stats_render_whatever_shape():
    figs = plots.staleness_figures({"p50_ms": 1, "p99_ms": 9.5, "max_ms": 20,
                                    "histogram": [{"le_ms": 1, "count": 3}, {"le_ms": 10, "count": 1}],
                                    "weird": "text", "nested": {"T_p50": 2}})
    assert len(figs) == 2
    assert figs[0]["data"][0]["x"] == ["p50_ms", "nested.T_p50", "p99_ms"]
    assert plots.staleness_figures({}) == []
    assert plots.staleness_figures({"histogram": "not a list"}) == []


def test_transactions_row_says_which_model_was_checked_and_why():
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check

    evs = []
    for p, (inv, ok) in enumerate([([["append", "x", None]], [["append", "x", 1]]),
                                   ([["r", "x", None]], [["r", "x", [1]]])]):
        inv = [[f, k, 1 if f == "append" else None] for f, k, _ in inv]
        evs += [dict(index=2 * p, time=2 * p, process=p, type="invoke", f="txn", value=inv),
                dict(index=2 * p + 1, time=2 * p + 1, process=p, type="ok", f="txn", value=ok)]
    hist = history_from_events(evs)
    r = check(hist, CheckOptions(txn_claim=("serializable", "a replica shows a prefix")))
    results = {"valid": True, "checkers": {"transactions": r["transactions"].to_json()}}
    page = render_html(results, history=hist, test={"name": "t"})
    assert "checked as serializable: the store&#39;s claim: a replica shows a prefix" in page \
        or "checked as serializable: the store's claim: a replica shows a prefix" in page
