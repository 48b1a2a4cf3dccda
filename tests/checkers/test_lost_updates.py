"""checkers/lost_updates.py: spec §5.1-5.4 examples, final-state rules, simulated stores."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.lost_updates import check
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events
from tests.checkers.sim_final import simulate

S = 1_000_000_000


def ev(i, p, typ, f, value=None, t=0, key="x", **kw):
    d = {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value, "time": t}
    d.update(kw)
    return d


def run(events, workload, **kw):
    return check(history_from_events(events), CheckOptions(workload=workload, **kw))["lost-updates"]


def set_history(final_value, final=True):
    e = [
        ev(0, 0, "invoke", "add", 1, 0, "s"), ev(1, 0, "ok", "add", 1, int(0.1 * S), "s"),
        ev(2, 1, "invoke", "add", 2, int(0.1 * S), "s"), ev(3, 1, "ok", "add", 2, int(0.2 * S), "s"),
        ev(4, 2, "invoke", "add", 3, int(0.2 * S), "s"), ev(5, 2, "info", "add", 3, int(5.2 * S), "s"),
        ev(6, 3, "invoke", "add", 4, int(0.3 * S), "s"), ev(7, 3, "fail", "add", 4, int(0.4 * S), "s"),
        ev(8, 0, "invoke", "read", None, 20 * S, "s"), ev(9, 0, "ok", "read", final_value, int(20.1 * S), "s"),
    ]
    if final:
        e[8]["final"] = e[9]["final"] = True
    return e


# --- §5.1 sets -----------------------------------------------------------------------------


def test_spec_set_lost_element():
    r = run(set_history([1, 3]), "set")
    assert r.valid is False
    [a] = r.anomalies
    assert a.type == "lost" and a.ops[0] == 3 and 9 in a.ops
    assert r.stats["lost"] == 1 and r.stats["recovered"] == 1 and r.stats["unexpected"] == 0
    assert "no read ever saw it" in a.explanation


def test_spec_set_valid_variants():
    for final in ([1, 2], [1, 2, 3]):
        r = run(set_history(final), "set")
        assert r.valid is True, final
    assert run(set_history([1, 2, 3]), "set").stats["recovered"] == 1


def test_spec_set_aborted_present_and_unexpected():
    r = run(set_history([1, 2, 4]), "set")
    assert [a.type for a in r.anomalies] == ["aborted-present"]
    assert r.anomalies[0].ops == [7, 9]
    r = run(set_history([1, 2, 99]), "set")
    assert [a.type for a in r.anomalies] == ["unexpected"] and r.anomalies[0].ops == [9]


def test_set_without_final_read_is_unknown():
    r = run(set_history([1, 3], final=False), "set")
    assert r.valid == "unknown" and "final read" in r.reason


def test_set_element_present_on_any_node_is_not_lost():
    e = set_history([1, 2])
    e[9]["node"] = e[8]["node"] = "n1"
    e += [ev(10, 5, "invoke", "read", None, 21 * S, "s", final=True, node="n2"),
          ev(11, 5, "ok", "read", [1], 21 * S + 1, "s", final=True, node="n2")]
    assert run(e, "set").valid is True  # n2 lacks 2: divergence, the convergence checker's call


def test_set_full_timeline_stats():
    e = set_history([1, 2, 3])
    r = run(e, "set")
    sf = r.stats["set_full"]
    assert sf["stable"] == 3 and sf["lost_by_reads"] == 0


def test_only_the_last_final_read_per_node_counts():
    e = set_history([1, 3])  # an early final read missing 2 ...
    e += [ev(10, 0, "invoke", "read", None, 30 * S, "s", final=True),
          ev(11, 0, "ok", "read", [1, 2, 3], 30 * S + 1, "s", final=True)]  # ... then converged
    assert run(e, "set").valid is True


def test_duplicate_adds_are_unknown_not_invalid():
    e = set_history([1, 3])
    e[6]["value"] = e[7]["value"] = 2  # a failed add of 2 as well: 2 is no longer unique
    r = run(e, "set")
    assert r.valid == "unknown" and "not unique" in r.reason


# --- §5.2 lists and registers ---------------------------------------------------------------


def test_list_lost_append_with_last_seen_read():
    e = [ev(0, 0, "invoke", "append", 1, 0), ev(1, 0, "ok", "append", 1, 1),
         ev(2, 0, "invoke", "append", 2, 2), ev(3, 0, "ok", "append", 2, 3),
         ev(4, 1, "invoke", "read", None, 4), ev(5, 1, "ok", "read", [1, 2], 5),
         ev(6, 1, "invoke", "read", None, 6, final=True), ev(7, 1, "ok", "read", [1], 7, final=True)]
    r = run(e, "list-append")
    [a] = r.anomalies
    assert a.type == "lost" and a.ops == [3, 5, 7] and "last seen by op 5" in a.explanation


def test_versioned_register_final_older_than_acked_write():
    e = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1, version=1),
         ev(2, 0, "invoke", "write", "b", 2), ev(3, 0, "ok", "write", "b", 3, version=2),
         ev(4, 1, "invoke", "read", None, 4, final=True, node="n1"),
         ev(5, 1, "ok", "read", "a", 5, version=1, final=True, node="n1")]
    r = run(e, "register")
    [a] = r.anomalies
    assert a.type == "lost" and a.ops == [3, 5]
    assert a.details["write_version"] == 2 and a.details["final_version"] == 1
    e[5]["value"], e[5]["version"] = "b", 2
    assert run(e, "register").valid is True


def test_versioned_register_info_write_may_win():
    e = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1, version=1),
         ev(2, 2, "invoke", "write", "c", 2), ev(3, 2, "info", "write", "c", 3),
         ev(4, 1, "invoke", "read", None, 4, final=True), ev(5, 1, "ok", "read", "c", 5, version=2, final=True)]
    r = run(e, "register")
    assert r.valid is True and r.stats["recovered"] == 1


def test_plain_register_unread_write_is_not_lost_p21():
    e = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1),
         ev(2, 2, "invoke", "write", "b", 0), ev(3, 2, "ok", "write", "b", 3),
         ev(4, 1, "invoke", "read", None, 4, final=True), ev(5, 1, "ok", "read", "a", 5, final=True)]
    assert run(e, "register").valid is True


# --- §5.3 RMW collisions ----------------------------------------------------------------------

RMW = [
    ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", int(0.1 * S)),
    ev(2, 1, "invoke", "cas", ["a", "b"], int(0.2 * S)), ev(3, 2, "invoke", "cas", ["a", "c"], int(0.2 * S)),
    ev(4, 1, "ok", "cas", ["a", "b"], int(0.3 * S)), ev(5, 2, "ok", "cas", ["a", "c"], int(0.3 * S)),
]


def test_spec_rmw_collision():
    r = run(RMW, "register")
    [a] = r.anomalies
    assert a.type == "rmw-collision" and a.ops == [4, 5, 1]
    assert "ops 4 and 5 all read 'x'='a' (written by op 1)" in a.explanation


def test_spec_rmw_valid_if_one_fails():
    for i in (4, 5):
        e = [dict(x) for x in RMW]
        e[i]["type"] = "fail"
        assert not [a for a in run(e, "register").anomalies if a.type == "rmw-collision"]


def test_rmw_info_cas_counts_only_if_observed():
    e = [dict(x) for x in RMW]
    e[5]["type"] = "info"
    assert not run(e, "register").anomalies
    e += [ev(6, 3, "invoke", "read", None, S), ev(7, 3, "ok", "read", "c", S + 1)]
    [a] = run(e, "register").anomalies
    assert a.type == "rmw-collision" and a.details["confidence"] == "observed-info"


def test_rmw_non_unique_values_not_reported():
    e = [dict(x) for x in RMW] + [ev(6, 3, "invoke", "write", "a", S), ev(7, 3, "ok", "write", "a", S + 1)]
    assert not run(e, "register").anomalies  # ABA possible: unjudgeable


# --- §5.4 counters ------------------------------------------------------------------------------


def counter_history(final_value):
    e = []
    for p in range(4):
        e.append(ev(2 * p, p, "invoke", "add", 1, p * int(0.1 * S), "c"))
        e.append(ev(2 * p + 1, p, "ok" if p < 3 else "info", "add", 1, (p + 1) * int(0.1 * S), "c"))
    e.append(ev(8, 0, "invoke", "read", None, 30 * S, "c", final=True))
    e.append(ev(9, 0, "ok", "read", final_value, int(30.1 * S), "c", final=True))
    return e


def test_spec_counter_lost_increment():
    r = run(counter_history(2), "counter")
    [a] = r.anomalies
    assert a.type == "counter-bounds" and a.ops[0] == 9
    assert a.details["lower"] == 3 and a.details["upper"] == 4 and a.details["value"] == 2
    assert "at least 1 increment(s) lost" in a.explanation
    assert set(a.ops[1:]) == {1, 3, 5}


def test_spec_counter_valid_and_overcount():
    assert run(counter_history(3), "counter").valid is True
    assert run(counter_history(4), "counter").valid is True
    [a] = run(counter_history(5), "counter").anomalies
    assert "over-counted by at least 1" in a.explanation


def test_counter_negative_deltas():
    e = [ev(0, 0, "invoke", "add", 5, 0, "c"), ev(1, 0, "ok", "add", 5, 1, "c"),
         ev(2, 1, "invoke", "add", -3, 2, "c"), ev(3, 1, "info", "add", -3, 3, "c"),
         ev(4, 2, "invoke", "add", -1, 4, "c"), ev(5, 2, "ok", "add", -1, 5, "c"),
         ev(6, 0, "invoke", "read", None, 10, "c", final=True),
         ev(7, 0, "ok", "read", None, 11, "c", final=True)]
    # final must lie in [5 - 3 - 1, 5 - 1] = [1, 4]
    for v, ok in ((1, True), (4, True), (0, False), (5, False)):
        e[7]["value"] = v
        assert (run(e, "counter").valid is True) == ok, v


def test_counter_stale_read_during_run_is_not_lost_without_claim():
    e = counter_history(3)
    e = e[:8] + [ev(8, 5, "invoke", "read", None, 1 * S, "c"), ev(9, 5, "ok", "read", 0, 1 * S + 1, "c"),
                 ev(10, 0, "invoke", "read", None, 30 * S, "c", final=True),
                 ev(11, 0, "ok", "read", 3, 31 * S, "c", final=True)]
    assert run(e, "counter").valid is True
    r = run(e, "counter", realtime_claim=True)  # linearizable bounds: 0 < 3 acked
    assert r.valid is False and r.anomalies[0].ops[0] == 9


def test_counter_any_subset_upper_bound_always_applies():
    e = counter_history(3)
    e = e[:8] + [ev(8, 5, "invoke", "read", None, 1 * S, "c"), ev(9, 5, "ok", "read", 7, 1 * S + 1, "c"),
                 ev(10, 0, "invoke", "read", None, 30 * S, "c", final=True),
                 ev(11, 0, "ok", "read", 3, 31 * S, "c", final=True)]
    [a] = run(e, "counter").anomalies
    assert a.ops[0] == 9 and a.details["bounds"] == "any-subset"


# --- simulated stores -------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["register", "list", "set", "counter"]),
       st.integers(0, 30_000_000))
def test_clean_simulated_stores_have_no_lost_updates(seed, kind, lag):
    events, _ = simulate(seed, kind=kind, max_lag=lag, info_rate=0.1, fail_rate=0.05,
                         negative_deltas=(kind == "counter"))
    wl = {"list": "list-append"}.get(kind, kind)
    r = run(events, wl)
    assert r.valid is True, [a.explanation for a in r.anomalies[:3]]
    assert r.stats["keys_judged"] > 0


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["register", "list", "set"]))
def test_injected_lost_acked_write_is_reported(seed, kind):
    events, injected = simulate(seed, kind=kind, max_lag=10_000_000, fail_rate=0.05,
                                lose_last_acked=("k0",))
    wl = {"list": "list-append"}.get(kind, kind)
    r = run(events, wl)
    lost = [a for a in r.anomalies if a.type == "lost"]
    assert r.valid is False
    assert [a.ops[0] for a in lost] == injected["lost"]


def _wfr_history(write_version: int, final_value: str, final_version: int):
    from splitbrain.harness.history import history_from_events

    evs = [
        {"index": 0, "process": 1, "type": "invoke", "f": "write", "key": "x", "value": "a", "time": 0},
        {"index": 1, "process": 1, "type": "ok", "f": "write", "key": "x", "value": "a", "version": 5, "time": 100},
        {"index": 2, "process": 0, "type": "invoke", "f": "read", "key": "x", "value": None, "time": 200},
        {"index": 3, "process": 0, "type": "ok", "f": "read", "key": "x", "value": "a", "version": 5, "time": 300},
        {"index": 4, "process": 0, "type": "invoke", "f": "write", "key": "x", "value": "b", "time": 400},
        {"index": 5, "process": 0, "type": "ok", "f": "write", "key": "x", "value": "b", "version": write_version, "time": 500},
        {"index": 6, "process": 2, "type": "invoke", "f": "read", "key": "x", "value": None, "node": "n1", "final": True, "time": 9000},
        {"index": 7, "process": 2, "type": "ok", "f": "read", "key": "x", "value": final_value, "version": final_version, "node": "n1", "final": True, "time": 9100},
    ]
    return history_from_events(evs)


def test_wfr_lost_write_is_a_lost_update_under_lww():
    """§5.2 WFR-lost: b was acknowledged with a version below the a its author had read,
    so under last-write-wins it can never become visible (Jepsen 2013 Cassandra)."""
    from splitbrain.checkers.lost_updates import check
    from splitbrain.checkers.options import CheckOptions

    res = check(_wfr_history(3, "a", 5), CheckOptions(workload="register"))["lost-updates"]
    assert res.valid is False
    (a,) = res.anomalies
    assert a.type == "lost" and sorted(a.ops) == [1, 3, 5]
    assert a.details["roles"] == {"read": 3, "write": 5, "observed_writer": 1}
    # valid: b got a newer version and won
    ok = check(_wfr_history(6, "b", 6), CheckOptions(workload="register"))["lost-updates"]
    assert ok.valid is True, ok.anomalies
