"""checkers/propagation on a simulated pipeline: a correct one is valid; dual-write with
crashes loses events, a non-idempotent consumer under kills duplicates effects, a source
failover orphans effects — each found with its witnesses."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.propagation import check
from splitbrain.harness.history import history_from_events
from tests.checkers.propagation_sim import simulate

SEEDS = st.integers(0, 10**6)


def run(events, **opts):
    return check(history_from_events(events), CheckOptions(workload="propagation", **opts))


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.sampled_from(["none", "version"]))
def test_outbox_without_faults_is_valid(seed, consumer):
    events, _ = simulate(seed, consumer=consumer)
    res = run(events)
    for name, r in res.items():
        if name == "dlq-conservation":  # no poison, no dead letter: nothing it can judge
            assert r.valid == "unknown" and r.applicable is False
            continue
        assert r.valid is True, (name, [a.explanation for a in r.anomalies], r.reason)
    assert res["propagation-lag"].stats["events_measured"] > 0
    assert res["lost-event"].stats["events_committed"] == 60


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_dual_write_with_crashes_loses_events(seed):
    events, truth = simulate(seed, mode="dual-write", crash_p=0.2)
    res = run(events)["lost-event"]
    found = {a.details["event"] for a in res.anomalies}
    # an event is lost unless a later event of its key carried the key's version past it
    assert found <= truth["lost"]
    if truth["lost"]:
        assert res.valid is False or found == set()
    by_id = {e["value"]: e for e in events if e["f"] == "write-source" and e["type"] == "ok"}
    for a in res.anomalies:
        assert a.ops[0] == by_id[a.details["event"]]["index"]


def test_dual_write_with_a_crash_on_the_last_write_of_a_key_is_lost():
    for seed in range(200):
        events, truth = simulate(seed, mode="dual-write", crash_p=0.3, consumer="none")
        if truth["lost"]:
            break
    res = run(events)["lost-event"]
    # with the `none` consumer the derived list holds every applied id: each crash is lost
    assert {a.details["event"] for a in res.anomalies} == truth["lost"]
    assert res.valid is False


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_none_consumer_with_kills_duplicates_effects(seed):
    events, truth = simulate(seed, consumer="none", kill_p=0.2)
    res = run(events)["duplicate-effect"]
    found = {a.details["event"] for a in res.anomalies}
    assert found == truth["dups"]
    assert (res.valid is False) == bool(truth["dups"])


@settings(max_examples=20, deadline=None)
@given(SEEDS)
def test_version_consumer_with_kills_has_no_duplicate_effect(seed):
    events, _ = simulate(seed, consumer="version", kill_p=0.3)
    r = run(events)["duplicate-effect"]
    assert r.valid is True
    # every redelivery was recognised: one skipped apply per redelivered event
    assert r.stats["events_redelivered"] == r.stats["applies_skipped"]


def test_source_failover_orphans_applied_effects():
    events, truth = simulate(4, consumer="none", lose_source=2)
    res = run(events)["orphan-effect"]
    assert truth["orphans"] and {a.details["event"] for a in res.anomalies} == truth["orphans"]
    assert all(len(a.ops) == 3 for a in res.anomalies)  # write, derived effect, final source


def test_no_final_reads_is_unknown_and_the_lag_gate():
    events, _ = simulate(1, final=False)
    res = run(events)
    assert res["lost-event"].valid == "unknown" and res["lost-event"].reason
    events, _ = simulate(1)
    assert run(events, max_propagation_lag_ns=10**12)["propagation-lag"].valid is True
    gated = run(events, max_propagation_lag_ns=1)["propagation-lag"]
    assert gated.valid is False and "p99" in gated.anomalies[0].explanation
    out = run_checks(history_from_events(events))
    assert out["workload"] == "propagation" and out["valid"] is True


def test_an_info_write_applied_downstream_takes_its_version_from_the_apply():
    ev = [
        {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "write-source", "key": 1, "value": 7},
        {"index": 1, "time": 1, "process": 0, "type": "info", "f": "write-source", "key": 1, "value": 7},
        {"index": 2, "time": 2, "process": "consumer", "type": "invoke", "f": "apply", "key": 1, "value": 7},
        {"index": 3, "time": 3, "process": "consumer", "type": "ok", "f": "apply", "key": 1, "value": 7,
         "version": 4, "decision": "applied"},
        {"index": 4, "time": 4, "process": 9, "type": "invoke", "f": "read-derived", "key": 1, "final": True},
        {"index": 5, "time": 5, "process": 9, "type": "ok", "f": "read-derived", "key": 1, "final": True,
         "value": {"version": 4, "events": None}},
    ]
    res = run(ev)["lost-event"]
    assert res.valid is True and res.stats["events_committed"] == 1
    ev[5]["value"] = {"version": 3, "events": None}
    assert run(ev)["lost-event"].valid is False


def test_run_gates_reach_the_checkers(tmp_path):
    """`splitbrain run --max-propagation-lag / --max-lag`: analyse() passes them on."""
    from splitbrain.harness.config import build_test
    from splitbrain.harness.history import write_jsonl
    from splitbrain.harness.runner import analyse

    events, _ = simulate(2)
    write_jsonl(events, tmp_path / "history.jsonl")
    test = build_test({"workload": "propagation", "max_propagation_lag": "1ns",
                       "max_lag": "1s", "store": str(tmp_path)})
    results, _ = analyse(str(tmp_path), test)
    assert results["checkers"]["propagation-lag"]["valid"] is False
    test = build_test({"workload": "propagation", "max_propagation_lag": "60m", "store": str(tmp_path)})
    results, _ = analyse(str(tmp_path), test)
    assert results["checkers"]["propagation-lag"]["valid"] is True


def test_a_queue_that_had_not_drained_makes_missing_events_unknown():
    events, truth = simulate(7, mode="dual-write", crash_p=0.3, consumer="none")
    assert truth["lost"] and run(events)["lost-event"].valid is False
    n = len(events)
    backlog = [{"index": n, "time": events[-1]["time"] + 1, "process": 99, "type": "invoke",
                "f": "queue-backlog", "final": True},
               {"index": n + 1, "time": events[-1]["time"] + 2, "process": 99, "type": "ok",
                "f": "queue-backlog", "value": True, "final": True}]
    res = run(events + backlog)["lost-event"]
    assert res.valid == "unknown" and "had not drained" in res.reason
    assert res.stats["not_applied_at_final_reads"] == len(truth["lost"])
    backlog[1]["value"] = False
    assert run(events + backlog)["lost-event"].valid is False


def _handmade(final_versions):
    """One ok source write (event 7, version 3) and one final derived read per node."""
    ev = [{"process": 0, "type": "invoke", "f": "write-source", "key": 1, "value": 7},
          {"process": 0, "type": "ok", "f": "write-source", "key": 1, "value": 7,
           "version": 3}]
    for i, v in enumerate(final_versions):
        ev += [{"process": 10 + i, "type": "invoke", "f": "read-derived", "key": 1,
                "final": True},
               {"process": 10 + i, "type": "ok", "f": "read-derived", "key": 1,
                "value": {"version": v, "events": None}, "final": True}]
    for i, e in enumerate(ev):
        e["index"], e["time"] = i, i * 1000
    return ev


def test_a_lagging_replica_final_read_is_not_a_lost_event():
    # the primary's final read reflects version 3, a replica read a moment later does not
    res = run(_handmade([3, 2]))
    assert res["lost-event"].valid is True, [a.explanation for a in res["lost-event"].anomalies]
    assert res["lost-event"].stats["events_checked"] == 1


def test_an_event_no_final_read_reflects_is_lost():
    res = run(_handmade([2, 2, 1]))["lost-event"]
    assert res.valid is False
    assert [a.details["event"] for a in res.anomalies] == [7]
    assert res.anomalies[0].ops == [1, 5]  # the write, the latest most advanced final read


# -- dead letters (poison events) ------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(SEEDS, st.sampled_from(["none", "version"]))
def test_poison_events_dead_lettered_once_are_valid_everywhere(seed, consumer):
    events, truth = simulate(seed, consumer=consumer, poison_p=0.2)
    res = run(events)
    for name, r in res.items():
        assert r.valid is True, (name, [a.explanation for a in r.anomalies], r.reason)
    d = res["dlq-conservation"].stats
    assert d["poisoned_committed"] == len(truth["poison"]) == d["dead_lettered"]
    if truth["poison"]:
        assert d["dead_lettered"] > 0


def _poison_seed(**kw):
    for seed in range(500):
        events, truth = simulate(seed, consumer="none", poison_p=0.2, **kw)
        if truth["dlq_bad"]:
            return events, truth
    raise AssertionError("no seed injected the fault")


def test_a_poison_event_never_dead_lettered_is_found():
    events, truth = _poison_seed(drop_dlq=True)
    r = run(events)["dlq-conservation"]
    assert r.valid is False
    assert {a.details["event"] for a in r.anomalies} == truth["dlq_bad"]
    assert {a.type for a in r.anomalies} == {"poison-not-dead-lettered"}
    w = next(e for e in events if e["f"] == "write-source" and e["type"] == "ok"
             and e["value"] in truth["dlq_bad"])
    assert r.anomalies[0].ops[0] == w["index"]


def test_an_event_dead_lettered_twice_is_found():
    events, truth = _poison_seed(double_dlq=True)
    r = run(events)["dlq-conservation"]
    assert [a.type for a in r.anomalies] == ["dead-lettered-twice"]
    assert r.anomalies[0].details == {"event": next(iter(truth["dlq_bad"])), "count": 2}


def test_a_healthy_event_dead_lettered_is_found():
    events, truth = _poison_seed(healthy_dlq=True)
    r = run(events)["dlq-conservation"]
    assert r.valid is False
    assert [a.type for a in r.anomalies] == ["dead-lettered-healthy"]
    assert r.anomalies[0].details["event"] in truth["dlq_bad"]


def test_a_dead_letter_nobody_wrote_is_found():
    events, _ = simulate(3, consumer="version", poison_p=0.2)
    fin = next(e for e in events if e["f"] == "read-dlq" and e["type"] == "ok")
    fin["value"] = [*fin["value"], 10**6]
    r = run(events)["dlq-conservation"]
    assert [a.type for a in r.anomalies] == ["dead-lettered-uncommitted"]
    assert r.anomalies[0].details["event"] == 10**6


@settings(max_examples=20, deadline=None)
@given(SEEDS)
def test_a_poison_event_still_queued_at_the_final_reads_is_late_not_invalid(seed):
    events, truth = simulate(seed, consumer="version", poison_p=0.3, backlog=True)
    res = run(events)
    r = res["dlq-conservation"]
    late = truth["poison"] - set(truth["dlq"])
    if truth["poison"]:
        assert r.valid == ("unknown" if late else True)
    assert r.stats["poisoned_not_dead_lettered_late"] == len(late)
    assert not r.anomalies
    # a version consumer's final state below a poison version it dead-lettered is no
    # stale-final; late poison events are not lost either (the queue had not drained)
    assert res["lost-event"].valid is not False


def test_a_final_derived_state_below_only_dead_lettered_versions_is_not_stale():
    for seed in range(500):
        events, truth = simulate(seed, consumer="version", poison_p=0.3, keys=2)
        last = {}
        for e in events:
            if e["f"] == "write-source" and e["type"] == "ok":
                last[e["key"]] = e["value"]
        if set(last.values()) & truth["poison"]:
            break
    else:
        raise AssertionError("no seed ends a key with a poison event")
    res = run(events)
    assert res["derived-regression"].valid is True
    assert res["dlq-conservation"].valid is True


def test_a_derived_store_behind_while_the_queue_still_held_events_is_late_not_stale():
    events, _ = simulate(5, consumer="version")
    # the final derived read of key 0 is one version behind the source …
    fin = next(e for e in events if e["f"] == "read-derived" and e.get("final") and e["key"] == 0
               and e["type"] == "ok")
    fin["value"] = {**fin["value"], "version": fin["value"]["version"] - 1}
    assert [a.type for a in run(events)["derived-regression"].anomalies] == ["stale-final"]
    # … while the final phase said the queue had not drained: unknown, never invalid
    bl = next(e for e in events if e["f"] == "queue-backlog" and e["type"] == "ok")
    bl["value"] = True
    r = run(events)["derived-regression"]
    assert r.valid == "unknown" and not r.anomalies
    assert r.stats["stale_final_while_queued"] == 1
