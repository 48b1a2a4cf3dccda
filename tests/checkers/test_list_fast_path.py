"""The list-append fast paths (issue 16 item 5: throughput) decide exactly as the
reference paths: every list history is checked both ways — the fast paths on, and every
one refused — and the version indexes and the full `run_checks` results (verdicts,
anomaly types, witnesses, explanations, counts) must be equal.

Histories: the benchmark's seeded list-append histories with anomalies injected (lost
appends, duplicated elements, reordered prefixes, garbage and future elements, reads
going back, failed and info appends, missing final reads), and hypothesis-generated ones
(repeated elements, info ops, failed appends, keyless histories)."""

from __future__ import annotations

import random
from contextlib import contextmanager

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers.versions as V
from splitbrain.checkers import convergence, lists_native, lost_updates, staleness
from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.session import lists as session_lists
from splitbrain.harness.history import History, history_from_events, read_history

# ------------------------------------------------------------------------------------
# the two paths


@contextmanager
def reference_paths():
    """Every list fast path refused: the per-read reference loops decide."""
    with pytest.MonkeyPatch.context() as m:
        for mod in (V, lost_updates, convergence, session_lists, staleness):
            m.setattr(mod, "_LIST_FAST", False)
        yield


@pytest.fixture(params=["native", "passes", "python"])
def engine(request):
    """The fast path under test: the Rust whole-key index (`list_index`, and behind it
    the per-pass Rust scan and passes for the keys it declines), the per-pass Rust scan
    and passes alone (no `list_index`), or the Python scan alone; skipped when the .so
    lacks them."""
    if request.param == "native" and lists_native.INDEX is None:
        pytest.skip(f"no native list index: {lists_native.INDEX_PROBLEM}")
    if request.param == "passes" and lists_native.SCAN is None:
        pytest.skip(f"no native list scan: {lists_native.PROBLEM}")
    with pytest.MonkeyPatch.context() as m:
        if request.param != "native":
            m.setattr(lists_native, "INDEX", None)
        if request.param == "python":
            m.setattr(lists_native, "SCAN", None)
            m.setattr(lists_native, "SESSION", None)
            m.setattr(lists_native, "STALENESS", None)
        yield request.param


def _explained(a) -> str:
    return str(a.explanation() if callable(a.explanation) else a.explanation)


def _index_tables(ixs: dict) -> dict:
    """Everything later checkers can read from a list VersionIndex, in its order."""
    return {k: (ix.kind, list(ix.read_versions.items()), list(ix.write_versions.items()),
                list(ix.snapshot_values.items()), sorted(ix.corrupt), ix.max_rank,
                ix.unverifiable_writes, list(ix.order),
                [o.index if o is not None else None for o in ix._by_rank], ix._evidence,
                [o.index for o in ix.reads], [o.index for o in ix.writes],
                [(v, [o.index for o in ops]) for v, ops in ix.duplicates],
                {v: o.index for v, o in ix.sole_writers.items()},
                dict(ix.append_counts),
                [(a.type, a.ops, a.key, _explained(a), a.details) for a in ix.anomalies],
                {o.index: ix.members(o) for o in ix.reads})
            for k, ix in ixs.items()}


def _both(h: History, workload: str | None = "list-append", **options) -> tuple:
    """(fast, reference): index tables and the full results, both ways."""
    opts = CheckOptions(workload=workload, **options)

    def once():
        res = run_checks(h, opts)
        res.pop("timings_s")
        return _index_tables(V.build_indexes(h, workload)), res

    fast = once()
    with reference_paths():
        ref = once()
    return fast, ref


def assert_same(h: History, workload: str | None = "list-append") -> None:
    fast, ref = _both(h, workload)
    assert fast[0] == ref[0]
    assert fast[1] == ref[1]


# ------------------------------------------------------------------------------------
# seeded benchmark histories, anomalies injected


def _bench_history(tmp_path, seed: int, ops: int = 3000) -> History:
    from bench.checkers import generate

    path = str(tmp_path / f"la-{seed}.jsonl")
    generate("list-append", ops, path, seed)
    return read_history(path)


def _inject(h: History, seed: int, faults: tuple[str, ...]) -> History:
    """The history with some reads (and appends) altered by each named fault."""
    rng = random.Random(seed)
    later = _later_reads(h)
    ops = []
    for op in h.ops:
        v = op.value
        if (faults and op.f == "read" and op.type == "ok" and isinstance(v, list)
                and rng.random() < 0.05):
            fault = rng.choice(faults)
            v = list(v)
            if fault == "lost" and v:
                del v[rng.randrange(len(v))]
            elif fault == "dup" and v:
                v.insert(rng.randrange(len(v) + 1), rng.choice(v))
            elif fault == "reorder" and len(v) > 1:
                i = rng.randrange(len(v) - 1)
                v[i], v[i + 1] = v[i + 1], v[i]
            elif fault == "garbage":
                v.insert(rng.randrange(len(v) + 1), rng.choice((-7, "junk", 10 ** 9)))
            elif fault == "future":
                v.append(op.index + rng.randrange(1, 400))
            elif fault == "ahead":  # what a later read saw: appends not yet invoked
                v = list(later.get(op.index, v))
            elif fault == "back":
                v = v[:rng.randrange(len(v) + 1)]
            elif fault == "shape":
                v = rng.choice(("text", 3, {"a": 1}, [[1, 2]], None))
            op = op._replace(value=v)
        elif op.f == "append" and op.type == "ok" and rng.random() < 0.02:
            fault = rng.choice(("fail", "info", "again"))
            if fault == "again":
                op = op._replace(value=op.value - 1)  # an element appended twice
            else:
                op = op._replace(type=fault)
        elif op.extra and op.extra.get("final") and "no-final" in faults and rng.random() < 0.3:
            continue  # a missing final read
        ops.append(op)
    return History(ops=ops, source=h.source)


def _later_reads(h: History) -> dict:
    """ok read index -> the value of the ok read of its key 40 reads later."""
    by_key: dict = {}
    for op in h.ops:
        if op.f == "read" and op.type == "ok" and isinstance(op.value, list):
            by_key.setdefault(op.key, []).append(op)
    return {r.index: rs[min(i + 40, len(rs) - 1)].value
            for rs in by_key.values() for i, r in enumerate(rs)}


FAULT_SETS = [(), ("lost",), ("dup",), ("reorder",), ("garbage",), ("future",), ("ahead",),
              ("back",), ("shape",), ("no-final", "back"),
              ("lost", "dup", "reorder", "garbage", "future", "ahead", "back", "shape")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bench_histories_clean(tmp_path, seed, engine):
    h = _bench_history(tmp_path, seed)
    assert_same(h)


def test_fast_scans_take_the_clean_bench_keys(tmp_path):
    """Not vacuous: on a valid history both scans accept every key (and agree)."""
    ixs = V.build_indexes(_bench_history(tmp_path, 1), "list-append")
    assert len(ixs) > 10
    for ix in ixs.values():
        py = V._list_reads_fast(ix)
        assert py is not None
        if lists_native.SCAN is not None:
            assert V._list_reads_native(ix) == py


def test_native_index_takes_the_clean_bench_keys(tmp_path):
    """Not vacuous: on a valid bench history `list_index` builds every key and proves
    every fact (staleness, session, lost-updates) without the Python passes."""
    if lists_native.INDEX is None:
        pytest.skip(f"no native list index: {lists_native.INDEX_PROBLEM}")
    ixs = V.build_indexes(_bench_history(tmp_path, 1), "list-append")
    assert len(ixs) > 10
    for ix in ixs.values():
        assert isinstance(ix.native, lists_native.ListFacts)
        assert ix.native.staleness is not None and ix.native.session is not None
        assert ix.native.final_clean == bool(ix.writes)  # no appends: nothing to judge


def test_native_index_declines_the_keys_it_must(tmp_path):
    """With anomalies injected some keys are built by `list_index` and some by Python:
    the differential tests above exercise both sides of each history."""
    if lists_native.INDEX is None:
        pytest.skip(f"no native list index: {lists_native.INDEX_PROBLEM}")
    h = _inject(_bench_history(tmp_path, 7), 11, FAULT_SETS[-1])
    kinds = {ix.native is not None for ix in V.build_indexes(h, "list-append").values()}
    assert kinds == {True, False}


@pytest.mark.parametrize("faults", FAULT_SETS, ids=lambda f: "+".join(f) or "appends")
@pytest.mark.parametrize("by_session_ops", [False, True])
def test_native_index_facts_are_the_python_ones(tmp_path, faults, by_session_ops):
    """`ListFacts` key by key against the Python passes on the same index: staleness
    (`_measure_key`), the session groups and counts (`_group_key` +
    `_clean_total_sequential`, which must clear every group when the facts say so),
    the non-failed appends, and lost-updates' `_clean_list`."""
    if lists_native.INDEX is None:
        pytest.skip(f"no native list index: {lists_native.INDEX_PROBLEM}")
    from splitbrain.checkers.analysis import Analysis

    h = _inject(_bench_history(tmp_path, 12), 13, faults)
    opts = CheckOptions(workload="list-append")
    a = Analysis(h, opts)
    job = lost_updates._Job(h, opts, a.final_reads, a)
    taken = 0
    for key, ix in a.indexes.items():
        facts = ix.native
        if facts is None:
            continue
        taken += 1
        ix.native = None  # the Python passes below must not read the facts
        try:
            acc = staleness._Accumulator()
            staleness._measure_key(ix, acc, [], None, None)
            assert facts.staleness == (acc.unverifiable_writes, acc.skipped, acc.fresh,
                                       acc.T, acc.K, acc.lags, acc.lag_zero)
            sessions, counts, dirty = _python_plan(ix, by_session_ops)
            if facts.session is None:
                assert dirty or len(set(sessions)) != len(sessions)
            else:
                by_session, by_process, *got = facts.session
                assert (by_process if by_session_ops else by_session) in (sessions, None)
                assert not dirty and tuple(got) == counts
            assert facts.nonfail_writes == sum(w.type != "fail" for w in ix.writes)
            with pytest.MonkeyPatch.context() as m:
                m.setattr(job, "stats", dict(job.stats))  # counts of this key only
                assert facts.final_clean == job._clean_list(key, ix.ops)
            finals = [r for rs in a.final_reads.reads.get(key, {}).values() for r in rs]
            lens = {len(r.value or ()) for r in finals}
            assert facts.final_same == (
                (min(r.t_inv for r in finals), lens.pop()) if len(lens) == 1 else None)
        finally:
            ix.native = facts
    assert taken > 10


@pytest.mark.parametrize("faults", FAULT_SETS, ids=lambda f: "+".join(f) or "appends")
def test_bench_histories_with_anomalies(tmp_path, faults, engine):
    h = _inject(_bench_history(tmp_path, 7), 11, faults)
    fast, ref = _both(h)
    assert fast == ref
    if faults:  # the injection did reach the checkers
        assert ref[1]["valid"] is not True


# ------------------------------------------------------------------------------------
# hypothesis-generated list histories

# the `engine` fixture's patch holds for every example of a test
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
ELEMENTS = st.one_of(st.integers(0, 12), st.sampled_from(["a", "b", 1.0, True, None]))


@st.composite
def list_histories(draw, keyless: bool = False):
    """Concurrent appends and reads on a few keys of a stored list per key; reads see the
    list, an older prefix, or a corrupted copy; ops complete ok, info or fail."""
    n_proc = draw(st.integers(1, 4))
    keys = [None] if keyless else draw(st.lists(st.sampled_from(["x", "y", "z"]),
                                                min_size=1, max_size=3, unique=True))
    state = {k: [] for k in keys}
    history_of = {k: [[]] for k in keys}
    pending: dict = {}
    events: list = []
    t = 0

    def emit(ev):
        nonlocal t
        t += 1
        events.append({**ev, "index": len(events), "time": t})

    for _ in range(draw(st.integers(0, 40))):
        p = draw(st.integers(0, n_proc - 1))
        if p in pending:  # complete it
            inv = pending.pop(p)
            typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
            comp = {k: v for k, v in inv.items() if k != "type"}
            if inv["f"] == "append" and typ != "fail" and draw(st.booleans()):
                state[inv.get("key")].append(inv["value"])
                history_of[inv.get("key")].append(list(state[inv.get("key")]))
            if inv["f"] == "read":
                past = history_of[inv.get("key")]
                obs = list(draw(st.sampled_from(past)))
                mut = draw(st.sampled_from(["none"] * 4 + ["dup", "swap", "junk", "drop", "nil",
                                                           "ahead"]))
                if mut == "dup" and obs:
                    obs.append(obs[0])
                elif mut == "swap" and len(obs) > 1:
                    obs[0], obs[1] = obs[1], obs[0]
                elif mut == "junk":
                    obs.append(draw(ELEMENTS))
                elif mut == "drop" and obs:
                    obs.pop(draw(st.integers(0, len(obs) - 1)))
                # ahead: the key's final list, filled in at the end (a future read)
                ahead = (inv.get("key"),)  # filled in below
                comp["value"] = None if mut == "nil" else ahead if mut == "ahead" else obs
            emit({**comp, "type": typ})
        else:
            k = draw(st.sampled_from(keys))
            f = draw(st.sampled_from(["append", "read"]))
            inv = {"process": p, "f": f, "value": draw(ELEMENTS) if f == "append" else None}
            if k is not None:
                inv["key"] = k
            pending[p] = {**inv, "type": "invoke"}
            emit(pending[p])
    for k in keys if draw(st.booleans()) else ():  # final reads (sometimes missing)
        ev = {"process": 100, "f": "read", "value": None, "final": True}
        if k is not None:
            ev["key"] = k
        emit({**ev, "type": "invoke"})
        emit({**ev, "type": "ok", "value": list(state[k])})
    for ev in events:
        if type(ev["value"]) is tuple:
            ev["value"] = list(state[ev["value"][0]])
    return history_from_events(events)


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK)
@given(h=list_histories(), workload=st.sampled_from(["list-append", None]))
def test_generated_histories(h, workload, engine):
    assert_same(h, workload)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK)
@given(h=list_histories(keyless=True))
def test_generated_keyless_histories(h, engine):
    assert_same(h)


@st.composite
def clean_list_histories(draw):
    """The shape `list_index` takes (distinct int appends, reads of clean prefixes), with
    what it must still judge exactly: appends that fail, stay pending (info) or are
    acknowledged but never applied (lost), reads lagging behind, and final reads on several nodes (some tied in time, some nodes stale, some
    missing), the final flag on other ops too."""
    keys = draw(st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True))
    state = {k: [] for k in keys}
    past = {k: [[]] for k in keys}
    events: list = []
    t = 0
    nxt = 0
    gen = [0] * 4  # a process whose append stays pending goes on as a new process

    def emit(ev, dt=1):
        nonlocal t
        t += dt
        events.append({**ev, "index": len(events), "time": t})

    for _ in range(draw(st.integers(0, 30))):
        p = draw(st.integers(0, 3))
        k = draw(st.sampled_from(keys))
        base = {"process": p + 10 * gen[p], "key": k}
        if draw(st.booleans()):
            nxt += 1
            emit({**base, "type": "invoke", "f": "append", "value": nxt})
            typ = draw(st.sampled_from(["ok"] * 5 + ["info", "fail", "lost"]))
            if typ in ("ok", "info"):
                state[k].append(nxt)
                past[k].append(list(state[k]))
            if typ != "info" or draw(st.booleans()):
                emit({**base, "type": "ok" if typ == "lost" else typ, "f": "append",
                      "value": nxt})
            else:  # an info append left pending
                gen[p] += 1
        else:
            emit({**base, "type": "invoke", "f": "read", "value": None})
            obs = draw(st.sampled_from(past[k][-3:]))
            emit({**base, "type": draw(st.sampled_from(["ok"] * 6 + ["info", "fail"])),
                  "f": "read", "value": list(obs)})
    for k in keys:
        for node in draw(st.lists(st.sampled_from(["n1", "n2", "n3"]), max_size=4)):
            obs = state[k] if draw(st.integers(0, 3)) else past[k][-2 if len(past[k]) > 1 else -1]
            dt = draw(st.sampled_from([0, 1]))  # 0: ties with the previous final read
            base = {"process": 50, "key": k, "node": node, "final": True}
            emit({**base, "type": "invoke", "f": "read", "value": None}, dt)
            emit({**base, "type": draw(st.sampled_from(["ok"] * 5 + ["fail"])), "f": "read",
                  "value": list(obs)}, 0)
    return history_from_events(events)


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_OK)
@given(h=clean_list_histories())
def test_generated_clean_shape_histories(h, engine):
    assert_same(h)


def test_engine_env_forces_python():
    """SPLITBRAIN_LIST_ENGINE=python: the native scan is never called."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SPLITBRAIN_LIST_ENGINE": "python"}
    out = subprocess.run([sys.executable, "-c", "from splitbrain.checkers import lists_native as n;"
                          "print(n.engine(), n.SCAN, n.PROBLEM)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["python", "None"]
    out = subprocess.run([sys.executable, "-c", "from splitbrain.checkers import lists_native as n;"
                          "print(n.SESSION, n.STALENESS)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["None", "None"]


# ------------------------------------------------------------------------------------
# the Rust session floors and staleness, key by key against the Python passes

NATIVE = pytest.mark.skipif(lists_native.SESSION is None or lists_native.STALENESS is None,
                            reason=f"no native list passes: {lists_native.SESSION_PROBLEM}")


def _python_plan(ix, by_session_ops: bool):
    """What `session_lists.list_plan` must say, by the Python passes: (sessions, summed
    counts of the groups `_clean_total_sequential` clears, positions of the others)."""
    from splitbrain.checkers.session.findings import MR, MW, _Found, _sequential
    from splitbrain.checkers.session.floors import _clean_total_sequential
    from splitbrain.checkers.session.passes import _group_key

    g: dict = {}
    _group_key(ix, ix.key, by_session_ops, g)
    found = _Found()
    dirty = [i for i, ops in enumerate(g.values())
             if not (_sequential(ops) and _clean_total_sequential(found, ix, ops))]
    st = found.stats
    counts = (st[MR]["reads_checked"], st[MR]["unverifiable"], st[MW]["writes_checked"],
              st[MW]["unverifiable"])
    return [s for s, _ in g], counts, dirty


@NATIVE
@pytest.mark.parametrize("faults", FAULT_SETS, ids=lambda f: "+".join(f) or "appends")
@pytest.mark.parametrize("by_session_ops", [False, True])
def test_native_session_plan_is_the_python_one(tmp_path, faults, by_session_ops):
    h = _inject(_bench_history(tmp_path, 5), 3, faults)
    planned = dirty = 0
    for ix in V.build_indexes(h, "list-append").values():
        plan = session_lists.list_plan(ix, by_session_ops)
        if plan is None:
            assert ix.duplicates or ix.snapshot_values
            continue
        planned += 1
        dirty += bool(plan.dirty)
        assert (plan.sessions, plan.counts, plan.dirty) == _python_plan(ix, by_session_ops)
    assert planned > 10
    if set(faults) & {"back", "lost", "reorder"}:
        assert dirty  # not vacuous: some sessions were left to `_pass_floors`


def _without_facts(ix, run):
    """run() with ix.native (list_index's facts) hidden: the Python pass itself."""
    facts, ix.native = ix.native, None
    try:
        return run()
    finally:
        ix.native = facts


def _measured(ixs, measure) -> dict:
    acc = staleness._Accumulator()
    for ix in ixs:
        measure(ix, acc)
    return {k: sorted(v) if isinstance(v, list) else v for k, v in vars(acc).items()}


@NATIVE
@pytest.mark.parametrize("faults", FAULT_SETS, ids=lambda f: "+".join(f) or "appends")
def test_native_staleness_is_the_python_one(tmp_path, faults):
    h = _inject(_bench_history(tmp_path, 6), 4, faults)
    ixs = list(V.build_indexes(h, "list-append").values())
    taken = [ix for ix in ixs if staleness._measure_list_native(ix, staleness._Accumulator(),
                                                                None, None)]
    assert len(taken) == len(ixs)  # not vacuous: every key of these histories is taken
    fast = _measured(ixs, lambda ix, acc: staleness._measure_list_native(ix, acc, None, None))
    ref = _measured(ixs, lambda ix, acc: _without_facts(
        ix, lambda: staleness._measure_key(ix, acc, [], None, None)))
    assert fast == ref
    assert ref["T"]  # the bench histories' lagging first reads are stale


@pytest.mark.parametrize("bounds", [{"staleness_bound_versions": 0},
                                    {"staleness_bound_versions": 2},
                                    {"staleness_bound_ns": 10 ** 5},
                                    {"staleness_bound_ns": 10 ** 12}])
@pytest.mark.parametrize("faults", [(), ("back",), ("ahead", "lost")],
                         ids=lambda f: "+".join(f) or "appends")
def test_bounded_staleness(tmp_path, bounds, faults, engine):
    """With a bound, keys whose reads break it decline to `_measure_key` (the anomalies
    are Python's); the others stay native: the same results either way."""
    h = _inject(_bench_history(tmp_path, 8), 9, faults)
    fast, ref = _both(h, **bounds)
    assert fast == ref
