"""checkers/convergence.py: spec §6 examples, unknown rules, simulated stores, LWW skew."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.convergence import check
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events
from tests.checkers.sim_final import simulate

S = 1_000_000_000


def ev(i, p, typ, f, value=None, t=0, key="x", **kw):
    d = {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value, "time": t}
    d.update(kw)
    return d


def fr(i, p, typ, value, t, node):
    return ev(i, p, typ, "read", value, t, node=node, final=True)


def spec(v6="b", v8="a", v10="b", v12="b"):
    return [
        ev(0, 0, "invoke", "write", "a", 1 * S), ev(1, 0, "ok", "write", "a", int(1.1 * S)),
        ev(2, 1, "invoke", "write", "b", 2 * S), ev(3, 1, "ok", "write", "b", int(2.1 * S)),
        {"index": 4, "process": "nemesis", "type": "info", "f": "heal", "value": None, "time": 10 * S},
        fr(5, 2, "invoke", None, 11 * S, "n1"), fr(6, 2, "ok", v6, int(11.1 * S), "n1"),
        fr(7, 3, "invoke", None, 11 * S, "n2"), fr(8, 3, "ok", v8, int(11.1 * S), "n2"),
        fr(9, 2, "invoke", None, 12 * S, "n1"), fr(10, 2, "ok", v10, int(12.1 * S), "n1"),
        fr(11, 3, "invoke", None, 12 * S, "n2"), fr(12, 3, "ok", v12, int(12.1 * S), "n2"),
    ]


def run(events, workload="register", **kw):
    return check(history_from_events(events), CheckOptions(workload=workload, **kw))["convergence"]


def test_spec_valid_converges_with_latency_range():
    r = run(spec())
    assert r.valid is True and r.stats["converged"] == 1
    assert r.stats["latency_p50_ms"] == [1000.0, 2000.0]
    assert r.stats["latency_max_ms"] == [1000.0, 2000.0]
    assert not r.notices


def test_spec_no_convergence():
    r = run(spec(v12="a"))
    [a] = r.anomalies
    assert a.type == "diverged" and a.ops == [10, 12]
    assert r.stats["keys_never_converged"] == ["x"]


def test_spec_superseded_value_is_notice_without_claim_violation_with():
    h = spec(v6="a", v8="a", v10="a", v12="a")
    r = run(h)
    assert r.valid is True and len(r.notices) == 1
    n = r.notices[0]
    assert n.type == "superseded" and n.ops[:2] == [1, 3]
    r = run(h, realtime_claim=True)
    assert r.valid is False and r.anomalies[0].ops == [1, 3, 10, 12]
    assert "realtime-claim" in r.assumptions


def test_flapping_on_one_node():
    h = spec(v6="b", v8="a", v10="b", v12="b")
    h += [fr(13, 3, "invoke", None, 13 * S, "n2"), fr(14, 3, "ok", "a", int(13.1 * S), "n2"),
          fr(15, 3, "invoke", None, 14 * S, "n2"), fr(16, 3, "ok", "b", int(14.1 * S), "n2")]
    r = run(h)
    [a] = r.anomalies
    assert a.type == "flapping" and a.ops == [8, 12, 14]  # a, b, a on n2


def test_info_write_landing_late_is_admissible():
    h = spec()
    h[2:4] = [ev(2, 1, "invoke", "write", "b", 2 * S), ev(3, 1, "info", "write", "b", int(2.1 * S))]
    h[5]["process"] = h[6]["process"] = h[9]["process"] = h[10]["process"] = 4  # process 1 retired
    r = run(h, realtime_claim=True)
    assert r.valid is True


def test_fail_write_as_final_value():
    h = spec()
    h[3]["type"] = "fail"
    r = run(h)
    assert [a.type for a in r.anomalies] == ["aborted-present"] and r.anomalies[0].ops[0] == 3


def test_no_final_reads_is_unknown():
    h = spec()[:5]
    r = run(h)
    assert r.valid == "unknown" and "final read" in r.reason


def test_node_without_ok_final_read_is_unknown_for_that_key():
    h = spec()
    h[12]["type"] = "info"
    h[8]["type"] = "info"
    h[8]["value"] = h[12]["value"] = None
    r = run(h)
    assert r.stats["unknown_node_keys"] == 1 and r.valid is True  # n1 alone converged to b


def test_versioned_stale_final():
    h = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1, version=1),
         ev(2, 0, "invoke", "write", "b", 2), ev(3, 0, "ok", "write", "b", 3, version=2),
         fr(4, 1, "invoke", None, 4, "n1"), dict(fr(5, 1, "ok", "a", 5, "n1"), version=1)]
    [a] = run(h).anomalies
    assert a.type == "stale-final" and a.ops == [1, 3, 5]


def test_set_lost_and_unexpected():
    h = [ev(0, 0, "invoke", "add", 1, 0, "s"), ev(1, 0, "ok", "add", 1, 1, "s"),
         ev(2, 0, "invoke", "add", 2, 2, "s"), ev(3, 0, "ok", "add", 2, 3, "s"),
         ev(4, 1, "invoke", "read", None, 4, "s", final=True, node="n1"),
         ev(5, 1, "ok", "read", [2, 7], 5, "s", final=True, node="n1")]
    r = run(h, "set")
    assert sorted(a.type for a in r.anomalies) == ["lost", "unexpected"]
    h[5]["value"] = [2, 1]
    assert run(h, "set").valid is True  # set order does not matter


def test_bottom_final_after_acked_write_is_lost():
    h = spec(v6=None, v8=None, v10=None, v12=None)
    [a] = run(h).anomalies
    assert a.type == "lost"


# --- simulated stores -----------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["register", "list", "set", "counter", "plain"]),
       st.integers(0, 30_000_000))
def test_clean_simulated_stores_converge(seed, kind, lag):
    events, _ = simulate(seed, kind=kind, max_lag=lag, info_rate=0.1, fail_rate=0.05,
                         final_rounds=3, negative_deltas=(kind == "counter"))
    wl = {"list": "list-append", "plain": "register"}.get(kind, kind)
    # the simulated store's plain LWW uses the one controller clock, so the claim holds
    r = run(events, wl, realtime_claim=(kind == "plain"))
    assert r.valid is True, [a.explanation for a in r.anomalies[:3]]
    assert r.stats["converged"] == r.stats["keys"] > 0


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31))
def test_lww_skewed_clock_overwrite_is_reported(seed):
    events, injected = simulate(seed, kind="plain", max_lag=5_000_000, processes=4,
                                skewed_process=3, skew_ns=10 * S)
    r = run(events, "register", realtime_claim=True)
    assert r.valid is False
    sup = [a for a in r.anomalies if a.type == "superseded"]
    assert sorted(a.details["roles"]["later_acked_write"] for a in sup) == sorted(
        injected["skewed_writes"])
    # without the claim: the same findings, as notices only
    r = run(events, "register")
    assert r.valid is True and len(r.notices) == len(sup)
