"""Properties of the transactions checker on simulated stores, injected anomalies with
known witnesses, and a brute-force soundness oracle (transactions.md §8.2-§8.3)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.transactions import check
from splitbrain.harness.history import history_from_events
from tests.checkers.txn_sim import simulate

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
WORKLOADS = st.sampled_from(["list-append", "rw-register"])


def run(evs, model="strict-serializable", **kw):
    h = history_from_events(evs)
    return check(h, CheckOptions(consistency_models=(model,), **kw))["transactions"].to_json()


def all_types(r) -> set:
    return set(r["anomaly_types"]) | set(r.get("notice_types", []))


def sim_args():
    return dict(seed=st.integers(0, 10**6), n=st.integers(1, 200),
                concurrency=st.integers(1, 12), keys=st.integers(1, 6), workload=WORKLOADS)


@SETTINGS
@given(**sim_args())
def test_strict_store_is_strict_serializable(seed, n, concurrency, keys, workload):
    r = run(simulate("strict", seed, n, concurrency, keys, workload))
    if r["valid"] == "unknown" and "read-only" in r.get("reason", ""):
        return  # only reads of nil: nothing says whether these are lists or registers
    assert r["valid"] is True or r["anomaly_types"] == ["empty-transaction-graph"], r
    assert not all_types(r) - {"empty-transaction-graph"}, r


_ORDER_ONLY = {f"{b}-{s}" for b in ("G-single-item", "G2-item", "G-nonadjacent-item")
               for s in ("process", "realtime")}


@SETTINGS
@given(**sim_args())
def test_stale_reads_are_serializable_not_strict(seed, n, concurrency, keys, workload):
    evs = simulate("stale-reads", seed, n, concurrency, keys, workload)
    assert run(evs, "serializable")["valid"] in (True, "unknown")
    r = run(evs, "strict-serializable", cycle_search_timeout_s=5.0)
    # a loaded machine may run a search out of its budget: that is a reason, not a finding
    # (a small rw-register history the graph finds clean goes to the exact search, which
    # names a stale read a strict-serializability-violation: seed=1, n=8, concurrency=4)
    assert all_types(r) <= _ORDER_ONLY | {"empty-transaction-graph", "cycle-search-timeout",
                                          "cycle-search-incomplete",
                                          *(("strict-serializability-violation",)
                                            if workload == "rw-register" else ())}, r


@SETTINGS
@given(**sim_args())
def test_snapshot_isolation_shows_only_what_si_permits(seed, n, concurrency, keys, workload):
    evs = simulate("si", seed, n, concurrency, keys, workload)
    si = run(evs, "snapshot-isolation")
    assert si["valid"] in (True, "unknown"), si
    assert not all_types(si) - {"G2-item", "empty-transaction-graph"}, si
    ser = run(evs, "strict-serializable", cycle_search_timeout_s=5.0)
    # write skew is what SI permits: Elle sees it as G2-item when the version order is
    # known, and the exact search of small rw-register histories as a
    # strict-serializability-violation when it is not
    assert all_types(ser) <= {"G2-item", "G2-item-process", "G2-item-realtime",
                              "empty-transaction-graph", "cycle-search-timeout",
                              "cycle-search-incomplete",
                              *(("strict-serializability-violation",)
                                if workload == "rw-register" else ())}, ser


_G1 = {"G0", "G1a", "G1b", "G1c", "incompatible-order", "dirty-update", "garbage-read",
       "duplicate-elements"}


@SETTINGS
@given(**sim_args())
def test_read_committed_never_shows_g1(seed, n, concurrency, keys, workload):
    evs = simulate("read-committed", seed, n, concurrency, keys, workload)
    rc = run(evs, "read-committed")
    assert rc["valid"] in (True, "unknown"), rc
    r = run(evs, "strict-serializable")
    assert not {t.split("-process")[0].split("-realtime")[0] for t in all_types(r)} & _G1, r


def test_read_committed_store_is_caught_under_serializable():
    """The RC store must be seen breaking stronger models (a blind checker would pass)."""
    found = set()
    for seed in range(10):
        found |= all_types(run(simulate("read-committed", seed, 150, 6, 3), "serializable"))
    assert {"G-single-item", "lost-update"} <= found, found


def test_brat_store_shows_dirty_anomalies():
    found = set()
    for seed in range(10):
        found |= all_types(run(simulate("brat", seed, 150, 6, 3)))
    assert {"G0", "G1a", "G1c"} <= found, found


# ------------------------------------------------------------------------------------
# Injected anomalies: the expected type appears with the mutated op among its witnesses


def _strict(seed, workload="list-append"):
    return simulate("strict", seed, 120, 5, 3, workload, p_fail=0.0, p_info=0.0)


def _pairs(evs):
    inv = {}
    out = []
    for e in evs:
        if e["type"] == "invoke":
            inv[e["process"]] = e
        else:
            out.append((inv.pop(e["process"]), e))
    return out


def _read_elements(evs):
    """(key, element) -> completions whose reads hold that element."""
    seen: dict = {}
    for e in evs:
        if e["type"] == "ok":
            for f, k, v in e["value"]:
                if f == "r" and v:
                    for x in v:
                        seen.setdefault((k, x), []).append(e["index"])
    return seen


@pytest.mark.parametrize("seed", range(6))
def test_injected_g1a_mark_read_append_as_failed(seed):
    evs = _strict(seed)
    seen = _read_elements(evs)
    for inv, comp in _pairs(evs):
        appends = [(k, v) for f, k, v in comp["value"] if f == "append"]
        if comp["type"] == "ok" and any(a in seen for a in appends) and not comp.get("final"):
            comp["type"] = "fail"
            comp["value"] = inv["value"]
            victim = comp["index"]
            break
    else:
        pytest.skip("no read append")
    r = run(evs)
    g1a = [a for a in r["anomalies"] if a["type"] == "G1a"]
    assert r["valid"] is False and g1a, r
    assert any(victim in a["ops"] for a in g1a)


@pytest.mark.parametrize("seed", range(6))
def test_injected_g1b_intermediate_read(seed):
    evs = _strict(seed)
    last_read: dict = {}
    for e in evs:
        if e["type"] == "ok":
            for f, k, v in e["value"]:
                if f == "r" and v:
                    last_read.setdefault((k, v[-1]), set()).add(e["index"])
    for inv, comp in _pairs(evs):
        if comp["type"] != "ok":
            continue
        for i, (f, k, v) in enumerate(comp["value"]):
            later = any(kk == k for _, kk, _ in comp["value"][i + 1:])
            if f == "append" and not later and last_read.get((k, v), set()) - {comp["index"]}:
                fresh = 10**6 + seed
                # the txn appends once more, after v: reads ending in v saw an intermediate
                comp["value"].insert(i + 1, ["append", k, fresh])
                inv["value"].insert(i + 1, ["append", k, fresh])
                victim = comp["index"]
                break
        else:
            continue
        break
    else:
        pytest.skip("no read append")
    # the fresh element was never read, so every other txn's read ending in v is now a read
    # of an intermediate append
    r = run(evs)
    g1b = [a for a in r["anomalies"] if a["type"] == "G1b"]
    assert r["valid"] is False and g1b, r
    assert any(victim in a["ops"] for a in g1b)


def _inject(evs, spec_txns):
    """Append txns on fresh keys, all invoked before any completes (concurrent)."""
    t = evs[-1]["time"] if evs else 0
    procs = [10_000 + i for i in range(len(spec_txns))]
    for p, (inv, comp) in zip(procs, spec_txns):
        evs.append({"index": len(evs), "time": t + len(evs), "process": p, "type": "invoke",
                    "f": "txn", "value": inv})
    idx = []
    for p, (inv, comp) in zip(procs, spec_txns):
        idx.append(len(evs))
        evs.append({"index": len(evs), "time": t + len(evs), "process": p, "type": "ok",
                    "f": "txn", "value": comp})
    return idx


@pytest.mark.parametrize("seed", range(4))
def test_injected_g0_found_with_its_txns(seed):
    evs = _strict(seed)
    t1, t2, _ = _inject(evs, [
        ([["append", "gx", 1], ["append", "gy", 1]], [["append", "gx", 1], ["append", "gy", 1]]),
        ([["append", "gx", 2], ["append", "gy", 2]], [["append", "gx", 2], ["append", "gy", 2]]),
        ([["r", "gx", None], ["r", "gy", None]], [["r", "gx", [1, 2]], ["r", "gy", [2, 1]]]),
    ])
    r = run(evs)
    g0 = [a for a in r["anomalies"] if a["type"] == "G0"]
    assert r["valid"] is False and g0, r
    assert {t1, t2} <= set(g0[0]["cycle"])
    assert len(g0[0]["steps"]) == 2 and all(s["label"] == "ww" for s in g0[0]["steps"])


@pytest.mark.parametrize("seed", range(4))
def test_injected_g2_and_lost_update(seed):
    evs = _strict(seed)
    a, b = _inject(evs, [
        ([["r", "lx", None], ["append", "lx", 1]], [["r", "lx", []], ["append", "lx", 1]]),
        ([["r", "lx", None], ["append", "lx", 2]], [["r", "lx", []], ["append", "lx", 2]]),
    ])
    r = run(evs)
    types = {x["type"] for x in r["anomalies"]}
    assert {"lost-update", "G2-item"} <= types, r
    lu = next(x for x in r["anomalies"] if x["type"] == "lost-update")
    assert set(lu["ops"]) == {a, b}


def test_metamorphic_renaming_keys_and_values():
    for seed in range(5):
        evs = simulate("brat", seed, 80, 4, 3)
        r1 = run(evs)
        ren = []
        for e in evs:
            e2 = dict(e)
            e2["value"] = [[f, "z" + k, (None if v is None else
                                          [x * 7 + 3 for x in v] if isinstance(v, list) else
                                          v * 7 + 3)] for f, k, v in e["value"]]
            ren.append(e2)
        r2 = run(ren)
        assert r1["anomaly_types"] == r2["anomaly_types"]
        assert r1["not"] == r2["not"]


# ------------------------------------------------------------------------------------
# Soundness oracle: a brute-force serial explanation means no cycle may be reported


def _serial_explains(ok_txns, info_txns, register: bool = False, admits=None) -> bool:
    """Some serial order of the ok txns and a subset of the info ones explains every ok
    read. Txns are (is_ok, micro-ops, ...); `admits(order)` may refuse orders."""
    for r in range(len(info_txns) + 1):
        for chosen in itertools.combinations(info_txns, r):
            for order in itertools.permutations(list(ok_txns) + list(chosen)):
                if admits is not None and not admits(order):
                    continue
                state: dict = {}
                good = True
                for is_ok, mops, *_ in order:
                    for f, k, v in mops:
                        if f == "append":
                            state[k] = state.get(k, ()) + (v,)
                        elif f == "w":
                            state[k] = v
                        elif is_ok and register and v != state.get(k):
                            good = False
                            break
                        elif is_ok and not register and tuple(v or ()) != state.get(k, ()):
                            good = False
                            break
                    if not good:
                        break
                if good:
                    return True
    return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), store=st.sampled_from(["brat", "read-committed", "si"]),
       workload=WORKLOADS)
def test_no_false_positives_against_brute_force(seed, store, workload):
    evs = simulate(store, seed, n=random.Random(seed).randint(2, 5), concurrency=3, keys=2,
                   final_reads=False, max_mops=3, workload=workload)
    if workload == "rw-register":
        for e in evs:  # the recorded versions are trusted: keep the oracle about values
            e.pop("versions", None)
    h = history_from_events(evs)
    ok = [(True, op.value) for op in h.ops if op.type == "ok"]
    info = [(False, op.value) for op in h.ops if op.type == "info"]
    if not _serial_explains(ok, info, register=workload == "rw-register"):
        return
    r = check(h, CheckOptions(consistency_models=("serializable",)))["transactions"].to_json()
    assert r["valid"] in (True, "unknown"), (r, evs)


# ------------------------------------------------------------------------------------
# Budgets: a search that runs out of time never reads as valid (§4.6, P-T15)


def _rw_ring(n):
    """n txns, T_i reads k_i empty and appends to k_{i-1}: one SCC of n rw edges (G2-item)."""
    evs = []
    for i in range(n):
        evs.append({"index": len(evs), "process": i, "type": "invoke", "f": "txn",
                    "value": [["r", f"k{i}", None], ["append", f"k{(i - 1) % n}", 1]]})
    for i in range(n):
        evs.append({"index": len(evs), "process": i, "type": "ok", "f": "txn",
                    "value": [["r", f"k{i}", []], ["append", f"k{(i - 1) % n}", 1]]})
    return evs


def test_cycle_search_timeout_is_never_valid():
    r = run(_rw_ring(1000), "serializable", cycle_search_timeout_s=0.001)
    assert r["valid"] is False, r["anomaly_types"]
    assert "cycle-search-timeout" in r["anomaly_types"] or "G2-item" in r["anomaly_types"]
    assert r["stats"]["largest_scc"] == 1000


def test_timeout_on_permitted_classes_only_is_a_notice():
    """A budget spent on classes the claim permits (searched only for notices) leaves the
    verdict valid; the search reports it as `cycle-search-incomplete`, a notice."""
    from splitbrain.checkers.result import Anomaly
    from splitbrain.checkers.transactions import _verdict

    found = [Anomaly(type="cycle-search-incomplete", explanation="x", ops=[])]
    res = _verdict(found, frozenset({"G0", "G1c"}), (), {}, {}, {}, 0.0)
    assert res.valid is True and res.details["notice_types"] == ["cycle-search-incomplete"]


def test_read_committed_permits_a_g2_ring_and_says_so():
    r = run(_rw_ring(200), "read-committed", cycle_search_timeout_s=60.0)
    assert r["valid"] is True, r
    assert "G2-item" in r["notice_types"]


def test_timeout_on_a_forbidden_class_is_unknown():
    from splitbrain.checkers.transactions import _verdict
    from splitbrain.checkers.result import Anomaly

    found = [Anomaly(type="cycle-search-timeout", explanation="x", ops=[])]
    res = _verdict(found, frozenset({"G2-item"}), (), {}, {}, {}, 0.0)
    assert res.valid == "unknown" and res.details["anomaly_types"] == ["cycle-search-timeout"]


@pytest.mark.parametrize("seed,n,concurrency,keys", [(9464, 65, 2, 6), (608357, 68, 2, 2)])
def test_stale_read_witnesses_replay_on_their_own(seed, n, concurrency, keys):
    # once `witness-replay-failed`: the witness lacked the readers whose recorded
    # versions ordered it; and an rw+process edge let the small search name a G2 first
    r = run(simulate("stale-reads", seed, n, concurrency, keys, "rw-register"),
            "strict-serializable", cycle_search_timeout_s=5.0)
    assert r["valid"] is False
    assert "witness-replay-failed" not in all_types(r), r
    assert all(a.get("witness_replay") == "confirmed" for a in r["anomalies"]
               if "witness_replay" in a)


# ------------------------------------------------------------------------------------
# Strict serializability, exactly: on tiny rw-register histories the checker must agree
# with a brute-force search over real-time-respecting serial orders (the graph alone is
# incomplete there: without a version order it misses write skew and crossed reads)


def _strict_explains(h) -> bool:
    """A serial order that also respects real time (a txn that completed before another
    was invoked comes first) explains every ok read; nil reads see an absent register."""
    txns = [(op.type == "ok", op.value, op.inv_index, op.ret_index) for op in h.ops
            if op.f == "txn" and op.type in ("ok", "info")]

    def real_time(order) -> bool:
        return not any(a[3] < b[2] for i, b in enumerate(order) for a in order[i + 1:])

    return _serial_explains([t for t in txns if t[0]], [t for t in txns if not t[0]],
                            register=True, admits=real_time)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), store=st.sampled_from(["strict", "stale-reads", "si",
                                                          "read-committed"]))
def test_strict_serializable_verdicts_match_brute_force(seed, store):
    evs = simulate(store, seed, n=random.Random(seed).randint(2, 6), concurrency=3, keys=2,
                   final_reads=False, max_mops=2, workload="rw-register")
    for e in evs:  # judge by values only: the oracle knows no recorded versions
        e.pop("versions", None)
    h = history_from_events(evs)
    if any(op.f != "txn" for op in h.ops):
        return
    r = check(h, CheckOptions(consistency_models=("strict-serializable",)))["transactions"]
    if _strict_explains(h):
        assert r.valid in (True, "unknown"), (r.to_json(), evs)
    else:
        assert r.valid in (False, "unknown"), (r.to_json(), evs)
        if r.valid == "unknown":  # only for a reason that is not "nothing found"
            assert r.reason, (r.to_json(), evs)


def test_crossed_reads_after_own_writes_are_not_strict_serializable():
    """elle-cli's rwregister-fail.edn, in real-time order: P1 writes 100, P2 writes 200, P1
    reads 200, P2 reads 100. No cycle is inferable (the version order of 100 and 200 is
    unknown), but no real-time order explains the last read; serializable it is."""
    evs = []
    for p, mop, res in ((1, ["r", "x", None], ["r", "x", None]),
                        (2, ["r", "x", None], ["r", "x", None]),
                        (1, ["w", "x", 100], ["w", "x", 100]),
                        (2, ["w", "x", 200], ["w", "x", 200]),
                        (1, ["r", "x", None], ["r", "x", 200]),
                        (2, ["r", "x", None], ["r", "x", 100])):
        evs.append({"index": len(evs), "process": p, "type": "invoke", "f": "txn", "value": [mop]})
        evs.append({"index": len(evs), "process": p, "type": "ok", "f": "txn", "value": [res]})
    h = history_from_events(evs)
    strict = check(h, CheckOptions(consistency_models=("strict-serializable",)))["transactions"]
    assert strict.valid is False
    assert [a.type for a in strict.anomalies] == ["strict-serializability-violation"]
    assert strict.anomalies[0].ops[-1] == 11  # the read of 100
    ser = check(h, CheckOptions(consistency_models=("serializable",)))["transactions"]
    assert ser.valid is True
