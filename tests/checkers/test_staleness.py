"""checkers/staleness.py: spec §4 examples, the brute-force reference, simulated stores."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.staleness import NOT_MEASURABLE, check
from splitbrain.checkers.versions import build_indexes
from splitbrain.harness.history import history_from_events
from tests.checkers.sim_final import simulate

S = 1_000_000_000


def ev(i, p, typ, f, value=None, t=0, key="x", **kw):
    d = {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value, "time": t}
    d.update(kw)
    return d


PREFIX = [
    ev(0, 0, "invoke", "write", "a", 0),
    ev(1, 0, "ok", "write", "a", int(0.1 * S), version=1),
    ev(2, 0, "invoke", "write", "b", int(0.9 * S)),
    ev(3, 0, "ok", "write", "b", 1 * S, version=2),
]
BOUNDS = CheckOptions(workload="register", staleness_bound_ns=1 * S, staleness_bound_versions=1)


def run(events, opts=BOUNDS):
    return check(history_from_events(events), opts)["staleness"]


def read_a(i, t):
    return [ev(i, 1, "invoke", "read", None, t), ev(i + 1, 1, "ok", "read", "a", t + int(0.1 * S), version=1)]


def test_spec_valid_continuation():
    r = run(PREFIX + read_a(4, int(1.5 * S)))
    assert r.valid is True
    assert r.stats["max_ms"] == 500.0 and r.stats["max_versions"] == 1
    assert r.stats["reads_measured"] == 1


def test_spec_time_violation_with_witness_and_explanation():
    r = run(PREFIX + read_a(4, int(2.5 * S)))
    assert r.valid is False and r.anomaly_count == 1
    a = r.anomalies[0]
    assert a.ops == [5, 1, 3]  # read, writer(read.value), wfirst (= wstar)
    assert a.details["stale_ms"] == 1500.0 and a.details["versions_behind"] == 1
    assert "1.500 s stale (bound 1.000 s)" in a.explanation
    assert "Write op 3" in a.explanation and "t=1.000" in a.explanation


def test_spec_version_violation():
    events = PREFIX + [
        ev(4, 0, "invoke", "write", "c", int(1.05 * S)),
        ev(5, 0, "ok", "write", "c", int(1.1 * S), version=3),
        ev(6, 1, "invoke", "read", None, int(1.2 * S)),
        ev(7, 1, "ok", "read", "a", int(1.3 * S), version=1),
    ]
    r = run(events)
    assert r.valid is False
    a = r.anomalies[0]
    assert a.details["versions_behind"] == 2
    assert a.details["stale_ms"] == pytest.approx(200.0)
    # witness: read, observed writer, earliest newer write (b, op 3), newest (c, op 5)
    assert a.ops == [7, 1, 3, 5]
    assert "2 version(s) behind (bound 1)" in a.explanation


def test_no_bound_is_a_metric_only():
    r = run(PREFIX + read_a(4, int(2.5 * S)), CheckOptions(workload="register"))
    assert r.valid is True and r.anomalies == []
    assert r.stats["max_ms"] == 1500.0 and r.stats["p50_ms"] == 1500.0


def test_write_completion_to_read_invocation_p13():
    # the read is invoked before b's ack: not stale at all, whatever it returns
    events = PREFIX[:3] + [ev(3, 1, "invoke", "read", None, int(0.95 * S)),
                           ev(4, 0, "ok", "write", "b", 1 * S, version=2),
                           ev(5, 1, "ok", "read", "a", 5 * S, version=1)]
    r = run(events)
    assert r.valid is True and r.stats["max_ms"] == 0


def test_info_write_never_in_C_but_counts_in_ranks():
    events = [
        ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1, version=1),
        ev(2, 2, "invoke", "write", "i", 2), ev(3, 2, "info", "write", "i", 3),
        ev(4, 0, "invoke", "write", "b", 4), ev(5, 0, "ok", "write", "b", 5, version=3),
        ev(6, 3, "invoke", "read", None, 6), ev(7, 3, "ok", "read", "i", 7, version=2),
        ev(8, 1, "invoke", "read", None, 10 * S), ev(9, 1, "ok", "read", "a", 10 * S + 1, version=1),
    ]
    r = run(events, CheckOptions(workload="register", staleness_bound_versions=1))
    # read 9 sees a (rank 1) while b (rank 3) completed: 2 versions, counting the info one
    assert [a.details["versions_behind"] for a in r.anomalies] == [2]
    assert r.anomalies[0].ops[0] == 9


def test_corrupt_reads_are_skipped_and_counted():
    events = PREFIX + [ev(4, 1, "invoke", "read", None, 3 * S),
                       ev(5, 1, "ok", "read", "garbage", 3 * S + 1, version=9)]
    r = run(events)
    assert r.valid == "unknown" and r.stats["reads_skipped"] == 1 and r.stats["reads_measured"] == 0
    assert "nothing to check" in r.reason and not r.anomalies


def test_plain_register_not_measurable():
    events = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1),
              ev(2, 1, "invoke", "read", None, 2), ev(3, 1, "ok", "read", "a", 3)]
    r = run(events, CheckOptions(workload="register"))
    assert r.valid == "unknown" and r.stats["measurable"] == NOT_MEASURABLE
    assert r.applicable is False and "plain registers" in r.reason
    r = run(events, CheckOptions(workload="register", staleness_bound_ns=S))
    assert r.valid == "unknown" and "total version order" in r.reason


def test_list_append_staleness():
    events = [
        ev(0, 0, "invoke", "append", 1, 0), ev(1, 0, "ok", "append", 1, S),
        ev(2, 0, "invoke", "append", 2, S), ev(3, 0, "ok", "append", 2, 2 * S),
        ev(4, 1, "invoke", "read", None, 2 * S + 1), ev(5, 1, "ok", "read", [1, 2], 2 * S + 2),
        ev(6, 2, "invoke", "read", None, 5 * S), ev(7, 2, "ok", "read", [1], 5 * S + 1),
    ]
    r = run(events, CheckOptions(workload="list-append", staleness_bound_ns=S))
    assert r.valid is False
    a = r.anomalies[0]
    assert a.ops[0] == 7 and 3 in a.ops and a.details["stale_ms"] == 3000.0


# --- brute force reference (§11.2) --------------------------------------------------------


def brute_force(history):
    """Per-read (K, T) straight from the §4(a) definition, O(n²)."""
    out = {}
    for ix in build_indexes(history, "register").values():
        if not ix.total:
            continue
        writes = [(w, ix.ver(w)) for w in ix.writes if w.type == "ok" and ix.ver(w) is not None]
        for r in ix.reads:
            if r.f != "read" or r.index in ix.corrupt or ix.ver(r) is None:
                continue
            x = ix.ver(r)
            C = [rk for w, rk in writes if w.ret_index < r.inv_index]
            if not C or max(C) <= x:
                out[r.index] = (0, 0)
                continue
            first = min((w for w, rk in writes if rk > x), key=lambda w: w.ret_index)
            t = max(0, r.t_inv - first.t_ret) if first.ret_index < r.inv_index else 0
            out[r.index] = (max(C) - x, t)
    return out


def random_history(seed):
    rnd = random.Random(seed)
    n_proc = rnd.randint(1, 3)
    writes, events, t = [], [], 0
    values = iter(range(1000))
    plan = []
    for p in range(n_proc):
        clock = rnd.randint(0, 5)
        for _ in range(rnd.randint(1, 4)):
            inv = clock
            ret = inv + rnd.randint(1, 6)
            clock = ret + rnd.randint(1, 3)
            plan.append((p, inv, ret))
    wvals = []
    versions = list(range(1, len(plan) + 1))
    rnd.shuffle(versions)
    for n, (p, inv, ret) in enumerate(plan):
        if rnd.random() < 0.5:
            v = f"v{next(values)}"
            typ = rnd.choice(["ok", "ok", "ok", "info", "fail"])
            wvals.append((v, versions[n]))
            comp = {"type": typ, "value": v}
            if typ == "ok":
                comp["version"] = versions[n]
            events.append((inv, 0, {"process": p, "type": "invoke", "f": "write", "key": "x", "value": v}))
            events.append((ret, 1, dict({"process": p, "f": "write", "key": "x"}, **comp)))
        else:
            if wvals and rnd.random() < 0.85:
                v, ver = rnd.choice(wvals)
            else:
                v, ver = None, 0
            events.append((inv, 0, {"process": p, "type": "invoke", "f": "read", "key": "x", "value": None}))
            events.append((ret, 1, {"process": p, "type": "ok", "f": "read", "key": "x", "value": v,
                                    "version": ver}))
    events.sort(key=lambda e: (e[0], e[1]))
    out = []
    for i, (tm, _, e) in enumerate(events):
        out.append(dict(e, index=i, time=tm * 1000))
    return out


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**31))
def test_fast_matches_brute_force(seed):
    h = history_from_events(random_history(seed))
    expect = {i: kt for i, kt in brute_force(h).items() if kt != (0, 0)}
    r = check(h, CheckOptions(workload="register", staleness_bound_ns=0,
                              staleness_bound_versions=0))["staleness"]
    got = {a.ops[0]: (a.details["versions_behind"], round(a.details["stale_ms"] * 1e6))
           for a in r.anomalies}
    assert got == expect


# --- simulated stores (§11.3) ---------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31))
def test_linearizable_store_is_never_stale(seed):
    events, _ = simulate(seed, kind="register", max_lag=0, info_rate=0.1, fail_rate=0.05)
    r = run(events, CheckOptions(workload="register", staleness_bound_ns=0,
                                 staleness_bound_versions=0))
    assert r.valid is True, [a.explanation for a in r.anomalies[:3]]
    assert r.stats["reads_measured"] > 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["register", "list"]))
def test_sticky_bounded_lag_store_stays_within_lag(seed, kind):
    lag = 20_000_000
    events, _ = simulate(seed, kind=kind, max_lag=lag, processes=6, n_ops=300)
    wl = "register" if kind == "register" else "list-append"
    r = run(events, CheckOptions(workload=wl, staleness_bound_ns=lag))
    assert r.valid is True, [a.explanation for a in r.anomalies[:3]]
    assert r.stats["max_ms"] <= lag / 1e6


def test_bounded_lag_store_exceeds_a_tighter_bound():
    events, _ = simulate(7, kind="register", max_lag=50_000_000, processes=6, n_ops=600, keys=2)
    r = run(events, CheckOptions(workload="register"))
    assert r.stats["max_ms"] > 1.0
    tight = run(events, CheckOptions(workload="register", staleness_bound_ns=1_000_000))
    assert tight.valid is False and tight.anomaly_count == sum(
        1 for a in tight.anomalies if a.details["stale_ms"] > 1.0)
