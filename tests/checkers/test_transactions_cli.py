"""`splitbrain check` on transactional histories: JSONL and Jepsen EDN, the
--consistency-model flag, results.json fields, exit codes, report.html cycle diagrams."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# transactions.md §2.6: Elle's README demo (a G1c)
DEMO = [
    {"index": 0, "process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1], ["r", "y", None]]},
    {"index": 1, "process": 1, "type": "invoke", "f": "txn", "value": [["append", "x", 2], ["append", "y", 1]]},
    {"index": 2, "process": 2, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
    {"index": 3, "process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1], ["r", "y", [1]]]},
    {"index": 4, "process": 1, "type": "ok", "f": "txn", "value": [["append", "x", 2], ["append", "y", 1]]},
    {"index": 5, "process": 2, "type": "ok", "f": "txn", "value": [["r", "x", [1, 2]]]},
]

EDN = """[{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:append :x 2] [:append :y 1]], :process 1, :index 1}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 2, :index 2}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]], :process 0, :index 3}
{:type :ok, :f :txn, :value [[:append :x 2] [:append :y 1]], :process 1, :index 4}
{:type :info, :f :txn, :value [[:r :x nil]], :process 2, :index 5}]
"""


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "splitbrain", "check", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _write(tmp_path, events):
    p = tmp_path / "history.jsonl"
    p.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(p)


def test_demo_is_g1c_and_not_read_committed(tmp_path):
    out = tmp_path / "results.json"
    r = _cli(_write(tmp_path, DEMO), "--out", str(out), "-q")
    assert r.returncode == 1, r.stderr
    res = json.loads(out.read_text())
    assert res["workload"] == "txn-list-append"
    t = res["checkers"]["transactions"]
    assert t["valid"] is False
    assert t["anomaly_types"] == ["G1c"]
    assert t["not"] == ["read-committed"]
    assert t["claim_source"] == "default"
    g1c = t["anomalies"][0]
    assert set(g1c["cycle"]) == {3, 4}
    assert "a contradiction!" in g1c["explanation"]


def test_consistency_model_flag_permits_and_forbids(tmp_path):
    path = _write(tmp_path, DEMO)
    assert _cli(path, "--consistency-model", "read-uncommitted", "-q").returncode == 0
    assert _cli(path, "--consistency-model", "read-committed", "-q").returncode == 1


def test_unknown_model_exits_254_with_one_sentence(tmp_path):
    r = _cli(_write(tmp_path, DEMO), "--consistency-model", "snapshot-isolatoin")
    assert r.returncode == 254
    assert "unknown model 'snapshot-isolatoin'" in r.stderr
    assert "Traceback" not in r.stderr


def test_duplicate_appends_are_unknown_never_invalid(tmp_path):
    evs = [dict(e) for e in DEMO]
    evs[1] = dict(evs[1], value=[["append", "x", 1], ["append", "y", 1]])
    evs[4] = dict(evs[4], value=[["append", "x", 1], ["append", "y", 1]])
    out = tmp_path / "r.json"
    r = _cli(_write(tmp_path, evs), "--out", str(out), "-q")
    assert r.returncode == 2
    t = json.loads(out.read_text())["checkers"]["transactions"]
    assert t["valid"] == "unknown" and "duplicate-appends" in t["reason"]


def test_edn_txn_history_with_info_read(tmp_path):
    p = tmp_path / "history.edn"
    p.write_text(EDN)
    out = tmp_path / "r.json"
    r = _cli(str(p), "--out", str(out), "-q")
    # The info txn's read of x is ignored (D1), so nothing orders the two appends to x;
    # the one edge is T2 -wr y-> T1 (T1 read y = [1]): no cycle, valid.
    t = json.loads(out.read_text())["checkers"]["transactions"]
    assert r.returncode == 0, t
    assert t["valid"] is True
    assert t["stats"]["info"] == 1 and t["stats"]["edges"]["wr"] == 1


def test_report_draws_the_cycle(tmp_path):
    rep = tmp_path / "rep"
    r = _cli(_write(tmp_path, DEMO), "--report", str(rep), "-q")
    assert r.returncode == 1, r.stderr
    html = (rep / "report.html").read_text()
    assert '<svg class="cycle"' in html
    assert "T1 ─ww x→ T2 ─wr y→ T1" in html


def test_cycle_svg_escapes_history_strings():
    from splitbrain.reports.cycles import cycle_svg

    a = {"type": "G1c", "cycle": [1, 2], "scc_size": 2,
         "steps": [{"from": 1, "to": 2, "label": "ww", "key": "<script>"},
                   {"from": 2, "to": 1, "label": "wr", "key": "y"}],
         "txns": {"T1": {"op": 1, "process": 0, "value": [["append", "<b>", 1]]},
                  "T2": {"op": 2, "process": 1, "value": [["r", "y", [1]]]}}}
    svg = cycle_svg(a)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert cycle_svg(dict(a, cycle=list(range(13)))) is None


def test_report_shows_incompatible_orders_as_a_table(tmp_path):
    evs = [
        {"index": 0, "process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]]},
        {"index": 1, "process": 1, "type": "invoke", "f": "txn", "value": [["append", "x", 2]]},
        {"index": 2, "process": 2, "type": "invoke", "f": "txn", "value": [["append", "x", 3]]},
        {"index": 3, "process": 3, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
        {"index": 4, "process": 4, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
        {"index": 5, "process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1]]},
        {"index": 6, "process": 1, "type": "ok", "f": "txn", "value": [["append", "x", 2]]},
        {"index": 7, "process": 2, "type": "ok", "f": "txn", "value": [["append", "x", 3]]},
        {"index": 8, "process": 3, "type": "ok", "f": "txn", "value": [["r", "x", [1, 3]]]},
        {"index": 9, "process": 4, "type": "ok", "f": "txn", "value": [["r", "x", [1, 2, 3]]]},
    ]
    rep = tmp_path / "rep"
    r = _cli(_write(tmp_path, evs), "--report", str(rep), "-q")
    assert r.returncode == 1, r.stderr
    html = (rep / "report.html").read_text()
    assert '<table class="ops incompatible">' in html
    assert html.count("background:#d6aa9d") == 2  # position 1 of both reads


def test_the_stores_claim_is_the_default_model_and_results_say_why():
    """Redis's transactional claim per configuration (harness/dbs/redis.py txn_claim) is
    what the checker judges against when no model is given; a flag overrides it; a store
    claiming none leaves the strongest model, with the store's reason."""
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check
    from splitbrain.harness.dbs.redis import txn_claim
    from splitbrain.harness.history import history_from_events

    assert txn_claim("replication", "primary")[0] == "strict-serializable"
    assert txn_claim("replication", "replicas")[0] == "serializable"
    assert txn_claim("replication", "any")[0] == "serializable"
    assert txn_claim("sentinel", "primary")[0] is None
    h = history_from_events(DEMO)  # a G1c: invalid under every claim
    store = check(h, CheckOptions(txn_claim=txn_claim("replication", "replicas")))
    t = store["transactions"].to_json()
    assert (t["consistency_model"], t["claim_source"]) == (["serializable"], "store")
    assert "prefix of the primary's order" in t["claim_reason"] and t["valid"] is False
    flag = check(h, CheckOptions(consistency_models=("read-uncommitted",),
                                 txn_claim=("serializable", "x")))["transactions"].to_json()
    assert (flag["claim_source"], flag["valid"]) == ("flag", True)
    none = check(h, CheckOptions(txn_claim=txn_claim("sentinel", "primary")))
    n = none["transactions"].to_json()
    assert (n["consistency_model"], n["claim_source"]) == (["strict-serializable"], "default")
    assert "Sentinel failover" in n["claim_reason"]
