"""Session guarantees on every example history of checker-spec §3 (verdict and witness)."""

from __future__ import annotations

import json

import pytest

from splitbrain.checkers import session
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events

S = 100_000_000  # 0.1 s in ns


def H(text: str):
    return history_from_events([json.loads(line) for line in text.strip().splitlines()])


def ev(index, process, type_, f, key, value, t, **extra):
    d = {"index": index, "process": process, "type": type_, "f": f, "key": key,
         "value": value, "time": t * S}
    d.update(extra)
    return d


def run(h, workload=None, **opts):
    return session.check(h, CheckOptions(workload=workload, **opts))


def only(res, name):
    """Assert exactly `name` is invalid and return its anomalies."""
    for n, r in res.items():
        if n == name:
            assert r.valid is False, (n, r)
        else:
            assert _clean(r), (n, [a.text() for a in r.anomalies])
    return res[name].anomalies


def _clean(r) -> bool:
    """valid, or unknown only because the checker had nothing of its kind to check."""
    return r.valid is True or (r.valid == "unknown" and r.reason.startswith("nothing to check")
                               and not r.anomalies)


def all_valid(res):
    assert any(r.valid is True for r in res.values()), res
    for n, r in res.items():
        assert _clean(r), (n, [a.text() for a in r.anomalies])
        assert r.stats["replay_dropped"] == 0


# ---- §3.1 read-your-writes ---------------------------------------------------------

RYW_VALID = """
{"index":0,"process":0,"type":"invoke","f":"write","key":"x","value":"a","time":0}
{"index":1,"process":0,"type":"ok","f":"write","key":"x","value":"a","version":1,"time":100000000}
{"index":2,"process":1,"type":"invoke","f":"write","key":"x","value":"b","time":200000000}
{"index":3,"process":1,"type":"ok","f":"write","key":"x","value":"b","version":2,"time":300000000}
{"index":4,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":400000000}
{"index":5,"process":0,"type":"ok","f":"read","key":"x","value":"b","version":2,"time":500000000}
"""

RYW_VIOLATION = """
{"index":0,"process":1,"type":"invoke","f":"write","key":"x","value":"b","time":0}
{"index":1,"process":1,"type":"ok","f":"write","key":"x","value":"b","version":1,"time":100000000}
{"index":2,"process":0,"type":"invoke","f":"write","key":"x","value":"a","time":200000000}
{"index":3,"process":0,"type":"ok","f":"write","key":"x","value":"a","version":2,"time":300000000}
{"index":4,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":400000000}
{"index":5,"process":0,"type":"ok","f":"read","key":"x","value":"b","version":1,"time":500000000}
"""

RYW_INFO_APPEND = """
{"index":0,"process":0,"type":"invoke","f":"append","key":"x","value":1,"time":0}
{"index":1,"process":0,"type":"info","f":"append","key":"x","value":1,"time":5000000000}
{"index":2,"process":5,"type":"invoke","f":"read","key":"x","value":null,"time":5100000000}
{"index":3,"process":5,"type":"ok","f":"read","key":"x","value":[],"time":5200000000}
"""


def test_ryw_valid_newer_version():
    all_valid(run(H(RYW_VALID)))


def test_ryw_violation_versions_witness():
    (a,) = only(run(H(RYW_VIOLATION)), "read-your-writes")
    assert set(a.ops) == {3, 5, 1}
    assert a.details["roles"] == {"write": 3, "read": 5, "observed_writer": 1}
    assert a.process == 0 and a.key == "x"
    assert "op 3" in a.explanation and "op 5" in a.explanation


def test_ryw_info_append_creates_no_obligation():
    all_valid(run(H(RYW_INFO_APPEND)))


def test_ryw_ok_append_same_process_is_violation():
    text = RYW_INFO_APPEND.replace('"type":"info"', '"type":"ok"').replace('"process":5', '"process":0')
    (a,) = only(run(H(text)), "read-your-writes")
    assert set(a.ops) == {1, 3}
    assert a.details["missing"] == 1


def test_ryw_read_invoked_before_write_ack_owes_nothing():
    # P7: a read invoked before its session's write completed (pipelined, op_id).
    h = history_from_events([
        ev(0, 0, "invoke", "append", "x", 1, 0, op_id=1),
        ev(1, 0, "invoke", "read", "x", None, 1, op_id=2),
        ev(2, 0, "ok", "read", "x", [], 2, op_id=2),
        ev(3, 0, "ok", "append", "x", 1, 3, op_id=1),
    ])
    all_valid(run(h))


def test_ryw_plain_register_bottom_read():
    h = history_from_events([
        ev(0, 0, "invoke", "write", "x", "a", 0), ev(1, 0, "ok", "write", "x", "a", 1),
        ev(2, 0, "invoke", "read", "x", None, 2), ev(3, 0, "ok", "read", "x", None, 3),
    ])
    (a,) = only(run(h), "read-your-writes")
    assert set(a.ops) == {1, 3}


def test_ryw_fail_write_creates_no_obligation():
    h = history_from_events([
        ev(0, 0, "invoke", "write", "x", "a", 0), ev(1, 0, "fail", "write", "x", "a", 1),
        ev(2, 0, "invoke", "read", "x", None, 2), ev(3, 0, "ok", "read", "x", None, 3),
    ])
    all_valid(run(h))


# ---- §3.2 monotonic reads ----------------------------------------------------------

MR_LIST = """
{"index":0,"process":1,"type":"invoke","f":"append","key":"x","value":1,"time":0}
{"index":1,"process":1,"type":"ok","f":"append","key":"x","value":1,"time":100000000}
{"index":2,"process":1,"type":"invoke","f":"append","key":"x","value":2,"time":200000000}
{"index":3,"process":1,"type":"ok","f":"append","key":"x","value":2,"time":300000000}
{"index":4,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":400000000}
{"index":5,"process":0,"type":"ok","f":"read","key":"x","value":[1,2],"time":500000000}
{"index":6,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":600000000}
{"index":7,"process":0,"type":"ok","f":"read","key":"x","value":[1],"time":700000000}
"""

ABA = """
{"index":0,"process":1,"type":"invoke","f":"write","key":"x","value":"a","time":0}
{"index":1,"process":2,"type":"invoke","f":"write","key":"x","value":"b","time":0}
{"index":2,"process":1,"type":"ok","f":"write","key":"x","value":"a","time":100000000}
{"index":3,"process":2,"type":"ok","f":"write","key":"x","value":"b","time":100000000}
{"index":4,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":200000000}
{"index":5,"process":0,"type":"ok","f":"read","key":"x","value":"a","time":300000000}
{"index":6,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":400000000}
{"index":7,"process":0,"type":"ok","f":"read","key":"x","value":"b","time":500000000}
{"index":8,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":600000000}
{"index":9,"process":0,"type":"ok","f":"read","key":"x","value":"a","time":700000000}
"""


def test_mr_list_violation_witness():
    (a,) = only(run(H(MR_LIST)), "monotonic-reads")
    assert set(a.ops) == {5, 7, 3}
    assert a.details["roles"]["r1"] == 5 and a.details["roles"]["r2"] == 7
    assert "[2]" in a.explanation


@pytest.mark.parametrize("last", ["[1,2]", "[1,2,3]"])
def test_mr_list_valid_variants(last):
    text = MR_LIST.replace('"value":[1],"time":700000000', f'"value":{last},"time":700000000')
    all_valid(run(H(text)))


def test_mr_list_different_processes_valid():
    text = MR_LIST.replace('"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":600000000',
                           '"process":7,"type":"invoke","f":"read","key":"x","value":null,"time":600000000')
    text = text.replace('"process":0,"type":"ok","f":"read","key":"x","value":[1],',
                        '"process":7,"type":"ok","f":"read","key":"x","value":[1],')
    all_valid(run(H(text)))


def test_mr_aba_cycle():
    (a,) = only(run(H(ABA)), "monotonic-reads")
    assert set(a.ops) == {5, 7, 9}
    assert a.details["method"] == "session-version-graph"
    assert a.details["guarantees"] == ["MR"]
    assert "[MR]" in a.explanation


def test_mr_aba_valid_variant():
    text = ABA.replace('"value":"a","time":700000000', '"value":"b","time":700000000')
    all_valid(run(H(text)))


def test_mr_groups_consecutive_reads_below_floor():
    evs = [ev(0, 1, "invoke", "append", "x", 1, 0), ev(1, 1, "ok", "append", "x", 1, 1),
           ev(2, 0, "invoke", "read", "x", None, 2), ev(3, 0, "ok", "read", "x", [1], 3)]
    for i in range(3):
        evs += [ev(4 + 2 * i, 0, "invoke", "read", "x", None, 4 + 2 * i),
                ev(5 + 2 * i, 0, "ok", "read", "x", [], 5 + 2 * i)]
    res = run(history_from_events(evs))
    (a,) = only(res, "monotonic-reads")
    assert a.details["count"] == 3 and a.details["last_read"] == 9
    assert set(a.ops) == {3, 5, 1}


def test_mr_info_and_fail_reads_ignored():
    evs = [ev(0, 1, "invoke", "append", "x", 1, 0), ev(1, 1, "ok", "append", "x", 1, 1),
           ev(2, 0, "invoke", "read", "x", None, 2), ev(3, 0, "ok", "read", "x", [1], 3),
           ev(4, 0, "invoke", "read", "x", None, 4), ev(5, 0, "fail", "read", "x", [], 5)]
    all_valid(run(history_from_events(evs)))


# ---- §3.3 monotonic writes ---------------------------------------------------------

MW_LIST = """
{"index":0,"process":0,"type":"invoke","f":"append","key":"x","value":1,"time":0}
{"index":1,"process":0,"type":"ok","f":"append","key":"x","value":1,"time":100000000}
{"index":2,"process":0,"type":"invoke","f":"append","key":"x","value":2,"time":200000000}
{"index":3,"process":0,"type":"ok","f":"append","key":"x","value":2,"time":300000000}
{"index":4,"process":1,"type":"invoke","f":"read","key":"x","value":null,"time":400000000}
{"index":5,"process":1,"type":"ok","f":"read","key":"x","value":[2,1],"time":500000000}
"""

MW_VERSIONS = """
{"index":0,"process":0,"type":"invoke","f":"write","key":"x","value":"a","time":0}
{"index":1,"process":0,"type":"ok","f":"write","key":"x","value":"a","version":7,"time":100000000}
{"index":2,"process":0,"type":"invoke","f":"write","key":"x","value":"b","time":200000000}
{"index":3,"process":0,"type":"ok","f":"write","key":"x","value":"b","version":5,"time":300000000}
"""


def test_mw_list_order_violation():
    (a,) = only(run(H(MW_LIST)), "monotonic-writes")
    assert set(a.ops) == {1, 3, 5}
    assert a.details["kind"] == "order"


@pytest.mark.parametrize("read", ["[]", "[1]", "[1,2]"])
def test_mw_list_valid_variants(read):
    all_valid(run(H(MW_LIST.replace('[2,1]', read))))


def test_mw_list_visibility_violation():
    (a,) = only(run(H(MW_LIST.replace('[2,1]', '[2]'))), "monotonic-writes")
    assert set(a.ops) == {1, 3, 5}
    assert a.details["kind"] == "visibility"


def test_mw_versions_violation():
    (a,) = only(run(H(MW_VERSIONS)), "monotonic-writes")
    assert set(a.ops) == {1, 3}


def test_mw_info_first_write_has_no_duty():
    text = MW_VERSIONS.replace('"type":"ok","f":"write","key":"x","value":"a","version":7',
                               '"type":"info","f":"write","key":"x","value":"a"')
    all_valid(run(H(text)))


def test_mw_set_visibility():
    evs = [ev(0, 0, "invoke", "add", "s", 1, 0), ev(1, 0, "ok", "add", "s", 1, 1),
           ev(2, 0, "invoke", "add", "s", 2, 2), ev(3, 0, "ok", "add", "s", 2, 3),
           ev(4, 1, "invoke", "read", "s", None, 4), ev(5, 1, "ok", "read", "s", [2], 5)]
    (a,) = only(run(history_from_events(evs), "set"), "monotonic-writes")
    assert set(a.ops) == {1, 3, 5}


# ---- §3.4 writes-follow-reads ------------------------------------------------------

WFR_VERSIONS = """
{"index":0,"process":1,"type":"invoke","f":"write","key":"x","value":"a","time":0}
{"index":1,"process":1,"type":"ok","f":"write","key":"x","value":"a","version":5,"time":100000000}
{"index":2,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":200000000}
{"index":3,"process":0,"type":"ok","f":"read","key":"x","value":"a","version":5,"time":300000000}
{"index":4,"process":0,"type":"invoke","f":"write","key":"x","value":"b","time":400000000}
{"index":5,"process":0,"type":"ok","f":"write","key":"x","value":"b","version":3,"time":500000000}
"""

WFR_CROSS = """
{"index":0,"process":1,"type":"invoke","f":"write","key":"x","value":"a","time":0}
{"index":1,"process":1,"type":"ok","f":"write","key":"x","value":"a","time":100000000}
{"index":2,"process":0,"type":"invoke","f":"read","key":"x","value":null,"time":200000000}
{"index":3,"process":0,"type":"ok","f":"read","key":"x","value":"a","time":300000000}
{"index":4,"process":0,"type":"invoke","f":"write","key":"y","value":"b","time":400000000}
{"index":5,"process":0,"type":"ok","f":"write","key":"y","value":"b","time":500000000}
{"index":6,"process":2,"type":"invoke","f":"read","key":["x","y"],"value":null,"time":600000000}
{"index":7,"process":2,"type":"ok","f":"read","key":["x","y"],"value":{"x":null,"y":"b"},"time":700000000}
"""


def test_wfr_versions_violation():
    (a,) = only(run(H(WFR_VERSIONS)), "writes-follow-reads")
    assert set(a.ops) == {3, 1, 5}
    assert a.details["roles"] == {"r1": 3, "w2": 5, "observed_writer": 1}


def test_wfr_versions_valid():
    all_valid(run(H(WFR_VERSIONS.replace('"version":3', '"version":6'))))


def test_wfr_cross_key_snapshot_violation():
    (a,) = only(run(H(WFR_CROSS)), "writes-follow-reads")
    assert set(a.ops) == {3, 1, 5, 7}
    assert a.details["kind"] == "cross-key"


def test_wfr_cross_key_valid_when_snapshot_shows_x():
    all_valid(run(H(WFR_CROSS.replace('{"x":null,"y":"b"}', '{"x":"a","y":"b"}'))))


def test_no_cross_key_claims_without_snapshots():
    # P20: y=b seen by a plain read and then x=⊥ by another single-key read is not WFR.
    text = WFR_CROSS.replace(
        '{"index":6,"process":2,"type":"invoke","f":"read","key":["x","y"],"value":null,"time":600000000}\n'
        '{"index":7,"process":2,"type":"ok","f":"read","key":["x","y"],"value":{"x":null,"y":"b"},"time":700000000}',
        '{"index":6,"process":2,"type":"invoke","f":"read","key":"y","value":null,"time":600000000}\n'
        '{"index":7,"process":2,"type":"ok","f":"read","key":"y","value":"b","time":700000000}\n'
        '{"index":8,"process":2,"type":"invoke","f":"read","key":"x","value":null,"time":800000000}\n'
        '{"index":9,"process":2,"type":"ok","f":"read","key":"x","value":null,"time":900000000}')
    all_valid(run(H(text)))


# ---- preconditions and options -----------------------------------------------------


def test_duplicate_values_make_results_unknown():
    evs = [ev(0, 0, "invoke", "write", "x", "a", 0), ev(1, 0, "ok", "write", "x", "a", 1),
           ev(2, 1, "invoke", "write", "x", "a", 2), ev(3, 1, "ok", "write", "x", "a", 3),
           ev(4, 0, "invoke", "read", "x", None, 4), ev(5, 0, "ok", "read", "x", None, 5)]
    res = run(history_from_events(evs))
    for r in res.values():
        assert r.valid == "unknown" and "not unique" in r.reason


def test_garbage_read_not_cascaded():
    # P17: a garbage value is integrity's finding, not an RYW/MR one.
    evs = [ev(0, 0, "invoke", "write", "x", "a", 0, version=None),
           ev(1, 0, "ok", "write", "x", "a", 1, version=2),
           ev(2, 0, "invoke", "read", "x", None, 2), ev(3, 0, "ok", "read", "x", "zz", 3, version=1)]
    all_valid(run(history_from_events(evs)))


def test_session_continuing_after_info_is_suspect_only():
    evs = [ev(0, 0, "invoke", "write", "x", "a", 0), ev(1, 0, "ok", "write", "x", "a", 1, version=2),
           ev(2, 0, "invoke", "write", "x", "c", 2), ev(3, 0, "info", "write", "x", "c", 3),
           ev(4, 1, "invoke", "write", "x", "b", 4), ev(5, 1, "ok", "write", "x", "b", 5, version=1),
           ev(6, 0, "invoke", "read", "x", None, 6), ev(7, 0, "ok", "read", "x", "b", 7, version=1)]
    h = history_from_events(evs)
    all_valid(run(h))  # new epoch after the info: no obligation carried over
    res = run(h, continue_session_after_info=True)
    assert res["read-your-writes"].valid is True
    (n,) = res["read-your-writes"].notices
    assert n.details["confidence"] == "suspect:info-session" and set(n.ops) >= {1, 7}


def test_stats_present():
    res = run(H(RYW_VIOLATION))
    st = res["read-your-writes"].stats
    assert st["reads_checked"] == 1 and st["sessions"] == 2 and st["replay_dropped"] == 0


def test_replay_drops_a_fabricated_finding():
    from splitbrain.checkers.result import Anomaly

    h = H(RYW_VALID)
    fake = Anomaly("read-your-writes", "fabricated", [1, 5], key="x")
    assert session.replay(h, CheckOptions(), "read-your-writes", fake) is False
    real = run(H(RYW_VIOLATION))["read-your-writes"].anomalies[0]
    assert session.replay(H(RYW_VIOLATION), CheckOptions(), "read-your-writes", real) is True
