"""Differential tests: the set workload's fast paths against the reference (issue 16 item 5).

`set_reference.py` keeps the set index build, the set-full presence timeline and the
convergence set admissibility as they were before the speed-up. Each case runs the full
`run_checks` (every checker's verdict, anomalies with witnesses and explanations, stats,
counts) and every set VersionIndex (members of each read in iteration order, corrupt
reads, integrity anomalies) once through the production code and once with the reference
patched in, and demands identical results. Cases: seeded bench histories with lost adds,
duplicate elements, garbage elements and reads going back injected; fault-injecting
simulations; hypothesis-generated histories (repeated elements, info and failed adds,
missing final reads, keyless histories, non-list and nested values).
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.checkers import convergence, lost_updates, run_checks, set_native, versions
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import build_indexes
from splitbrain.harness.history import History, history_from_events
from tests.checkers import set_reference as ref

@contextmanager
def reference_paths():
    """The pre-speed-up functions in place of the fast ones, for the duration."""
    saved = [(versions, "_native_set", lambda ix: False),
             (convergence, "_set_final_clean", lambda *a: False),
             (versions, "_build_set", ref.build_set),
             (versions, "_index_writers", ref.index_writers),
             (lost_updates._Job, "_set_timeline", ref.set_timeline),
             (lost_updates._Job, "_collection", ref.collection),
             (lost_updates, "_presence", ref.presence),
             (convergence, "_admissible_set", ref.admissible_set),
             (convergence, "_admissible_members", ref.admissible_members),
             (convergence, "_norm_set", ref.norm_set),
             (convergence, "_quiet_time", ref.quiet_time)]
    old = [(obj, name, getattr(obj, name)) for obj, name, _ in saved]
    for obj, name, fn in saved:
        setattr(obj, name, fn)
    try:
        yield
    finally:
        for obj, name, fn in old:
            setattr(obj, name, fn)


def _anomaly_facts(a) -> tuple:
    return (a.type, a.text(), list(a.ops), repr(a.key), repr(sorted(a.details.items(), key=str)))


def _index_facts(history: History, workload: str | None) -> dict:
    out = {}
    for key, ix in build_indexes(history, workload).items():
        members = {r.index: (None if (m := ix.members(r)) is None else list(m))
                   for r in ix.reads}
        out[repr(key)] = {"kind": ix.kind, "members": members, "corrupt": sorted(ix.corrupt),
                          "anomalies": [_anomaly_facts(a) for a in ix.anomalies],
                          "duplicates": [(repr(v), [o.index for o in ops])
                                         for v, ops in ix.duplicates]}
    return out


def _full(history: History, workload: str | None = "set") -> str:
    res = run_checks(history, CheckOptions(workload=workload, anomaly_cap=10_000))
    res.pop("timings_s")
    facts = {"result": res, "indexes": _index_facts(history, workload)}
    return json.dumps(facts, sort_keys=True, default=repr)


@contextmanager
def python_engine():
    """The fast path without the Rust core (as SPLITBRAIN_SET_ENGINE=python or an older .so)."""
    saved = (set_native.PRESENCE, set_native.SCAN, set_native.TIMELINE, set_native.SCAN_OPS,
             set_native.TIMELINE_KEY, set_native.INDEX, set_native.FINAL_KEY)
    set_native.PRESENCE = set_native.SCAN = set_native.TIMELINE = None
    set_native.SCAN_OPS = set_native.TIMELINE_KEY = set_native.INDEX = None
    set_native.FINAL_KEY = None
    try:
        yield
    finally:
        (set_native.PRESENCE, set_native.SCAN, set_native.TIMELINE, set_native.SCAN_OPS,
         set_native.TIMELINE_KEY, set_native.INDEX, set_native.FINAL_KEY) = saved


@contextmanager
def no_index():
    """The Rust scan over the Python build's reads (set_scan_ops, as before set_index)."""
    saved = set_native.INDEX
    set_native.INDEX = None
    try:
        yield
    finally:
        set_native.INDEX = saved


@contextmanager
def unkept():
    """The Rust set scan and timeline over the Op fields, keeping nothing on the index
    (set_scan / set_timeline, as before set_scan_ops / set_timeline_key)."""
    saved = set_native.SCAN_OPS, set_native.TIMELINE_KEY, set_native.INDEX
    set_native.SCAN_OPS = set_native.TIMELINE_KEY = set_native.INDEX = None
    try:
        yield
    finally:
        set_native.SCAN_OPS, set_native.TIMELINE_KEY, set_native.INDEX = saved


def assert_same_writes_by_key(history: History) -> None:
    """convergence's per-key writes, from the groups, against the old scan of all ops."""
    from splitbrain.checkers.analysis import Analysis

    a = Analysis(history, CheckOptions(workload="set"))
    assert convergence._writes_by_key(a.groups[0]) == ref.writes_by_key(a.single_key_ops)


def assert_same(history: History, workload: str | None = "set") -> None:
    assert_same_writes_by_key(history)
    fast = _full(history, workload)
    with python_engine():
        fast_python = _full(history, workload)
    with eager_members():
        fast_eager = _full(history, workload)
    with unkept():
        fast_unkept = _full(history, workload)
    with no_index():
        fast_no_index = _full(history, workload)
    with reference_paths():
        slow = _full(history, workload)
    assert fast == slow
    assert fast_python == slow
    assert fast_eager == slow
    assert fast_unkept == slow
    assert fast_no_index == slow


@contextmanager
def eager_members():
    """The Rust set scan building every read's frozenset (`versions._SET_LAZY` off)."""
    saved = versions._SET_LAZY
    versions._SET_LAZY = False
    try:
        yield
    finally:
        versions._SET_LAZY = saved


# -- seeded bench histories with anomalies injected ---------------------------------------


def _bench_events(seed: int, n_ops: int, workload: str = "set") -> list[dict]:
    from tests.checkers.test_checker_pins import _bench_events as bench_events

    return bench_events(workload, n_ops, seed)


def _inject(events: list[dict], seed: int) -> list[dict]:
    """Lost adds, duplicate and garbage elements, reads going back, failed and info adds."""
    rnd = random.Random(seed)
    out = []
    for e in events:
        e = dict(e)
        v = e.get("value")
        if e.get("f") == "read" and e.get("type") == "ok" and isinstance(v, list):
            v = list(v)
            x = rnd.random()
            if v and x < 0.03:
                v.pop(rnd.randrange(len(v)))                # a lost add / a read going back
            elif v and x < 0.04:
                v.append(rnd.choice(v))                     # a duplicate element
            elif x < 0.05:
                v.append(10_000_000 + rnd.randrange(5))     # a garbage element
            elif v and x < 0.06:
                v = v[: rnd.randrange(len(v))]              # a read going far back
            elif x < 0.062:
                v = "corrupt"                               # not a collection
            e["value"] = v
        elif e.get("f") == "add" and e.get("type") == "ok" and rnd.random() < 0.02:
            e["type"] = rnd.choice(("fail", "info"))
        out.append(e)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_bench_histories_with_anomalies(seed):
    events = _bench_events(seed, 6000)
    assert_same(history_from_events(events))
    assert_same(history_from_events(_inject(events, seed)))


def test_writes_by_key_on_counter_and_txn_histories():
    for workload in ("counter", "register"):
        assert_same_writes_by_key(history_from_events(_bench_events(5, 2000, workload)))
    txn = [{"index": 0, "process": 0, "type": "invoke", "f": "txn", "time": 0,
            "value": [["append", "x", 1], ["r", "y", None], ["w", "z", 2]]},
           {"index": 1, "process": 0, "type": "ok", "f": "txn", "time": 1,
            "value": [["append", "x", 1], ["r", "y", [3]], ["w", "z", 2]]},
           {"index": 2, "process": 1, "type": "invoke", "f": "add", "key": "x", "value": 4,
            "time": 2},
           {"index": 3, "process": 1, "type": "ok", "f": "add", "key": "x", "value": 4,
            "time": 3}]
    assert_same_writes_by_key(history_from_events(txn))


def test_bench_history_clean_large():
    assert_same(history_from_events(_bench_events(7, 30_000)))


@pytest.mark.parametrize("store,faults,seed", [
    ("sticky", ("lost-write",), 21), ("sticky", ("reorder",), 22),
    ("lagging", ("failed-write-read",), 23), ("lagging", (), 24)])
def test_simulated_faults(store, faults, seed):
    from tests.checkers.sim import simulate

    run = simulate("set", store, seed=seed, processes=6, keys=3, ops=3000, faults=faults,
                   final_reads=True)
    assert_same(history_from_events([dict(e) for e in run.events]))


def _ev(i, p, typ, f, value, key="x", **kw):
    return {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value,
            "time": i * 10, **kw}


def test_future_read_inside_an_earlier_longer_read():
    """A read invoked later but completing earlier than one the fast audit cleared, holding
    an element added only after it completed: still a future-read (the cleared read's
    elements are trusted only for reads completing no earlier than it)."""
    events = [_ev(0, 0, "invoke", "read", None), _ev(1, 1, "invoke", "read", None),
              _ev(2, 1, "ok", "read", [5]), _ev(3, 2, "invoke", "add", 5),
              _ev(4, 2, "ok", "add", 5), _ev(5, 0, "ok", "read", [5]),
              _ev(6, 3, "invoke", "read", None, node="n1", final=True),
              _ev(7, 3, "ok", "read", [5], node="n1", final=True)]
    h = history_from_events(events)
    assert_same(h)
    ix = build_indexes(h, "set")["x"]
    assert [a.type for a in ix.anomalies] == ["future-read"]


# -- hypothesis-generated set histories -----------------------------------------------------

ELEMENT = st.one_of(st.integers(0, 12), st.integers(0, 12), st.sampled_from(["a", "b", 1.5]),
                    st.lists(st.integers(0, 3), max_size=2), st.just(True))


@st.composite
def set_histories(draw, element=ELEMENT, finals_per_node: int = 1):
    """Raw set histories: `element` draws an added or read element; each node reads
    each key up to `finals_per_node` times in the final phase (when there is one)."""
    keyless = draw(st.booleans())
    keys = [None] if keyless else draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1,
                                                max_size=3, unique=True))
    procs = draw(st.integers(1, 4))
    n = draw(st.integers(0, 40))
    events, pending, t = [], {}, 0
    for _ in range(n):
        p = draw(st.integers(0, procs - 1))
        t += draw(st.integers(1, 5))
        if p in pending:  # complete the process's op
            inv = pending.pop(p)
            typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
            done = {**inv, "type": typ, "time": t}
            if inv["f"] == "read":
                done["value"] = (draw(st.one_of(st.lists(element, max_size=8), st.just("bad"),
                                                st.none()))
                                 if typ == "ok" else None)
            events.append(done)
            continue
        f = draw(st.sampled_from(["add", "add", "read"]))
        inv = {"process": p, "type": "invoke", "f": f, "time": t,
               "value": draw(element) if f == "add" else None}
        if not keyless:
            inv["key"] = draw(st.sampled_from(keys))
        events.append(inv)
        pending[p] = inv
    if draw(st.booleans()):  # final reads on some nodes (some keys may lack them)
        t += 1_000
        for node in draw(st.lists(st.sampled_from(["n1", "n2"]), min_size=1, max_size=2,
                                  unique=True)):
            for k in keys:
                for _ in range(draw(st.integers(0, finals_per_node))):
                    t += 1
                    base = {"process": f"final-{node}", "node": node, "final": True, "f": "read"}
                    if k is not None:
                        base["key"] = k
                    events.append({**base, "type": "invoke", "value": None, "time": t})
                    events.append({**base, "type": "ok", "time": t + 1,
                                   "value": draw(st.lists(element, max_size=8))})
                    t += 1
    for i, e in enumerate(events):
        e["index"] = i
    return events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_histories())
def test_hypothesis_set_histories(events):
    h = history_from_events(events)
    assert_same(h)
    assert_same(h, None)  # the workload inferred (keyless: one register-like key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.frozensets(st.integers(0, 9), max_size=6), max_size=12))
def test_presence_matches_reference(members):
    assert lost_updates._presence(members) == ref.presence(members)



needs_native = pytest.mark.skipif(set_native.PRESENCE is None,
                                  reason=f"no Rust set core: {set_native.PROBLEM}")


def _python_positions(reads: list[list], elems: list) -> tuple:
    members = [frozenset(r) for r in reads]
    first, last, absent = ref.presence(members)
    tail = members[-1] if members else frozenset()
    n = len(members)
    return ([first.get(e, -1) for e in elems], [last.get(e, -1) for e in elems],
            [absent.get(e, -1) if e in tail else n - 1 for e in elems])


@needs_native
@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 9), max_size=7), max_size=12),
       st.lists(st.integers(-3, 12), max_size=10, unique=True))
def test_native_presence_matches_python(reads, elems):
    got = set_native.PRESENCE(reads, elems)
    assert got is not None
    assert tuple(map(list, got)) == _python_positions(reads, elems)


@needs_native
def test_native_presence_declines_non_int_elements():
    assert set_native.PRESENCE([[1, 2.0]], [1]) is None
    assert set_native.PRESENCE([[1, True]], [1]) is None
    assert set_native.PRESENCE([[1, 2**70]], [1]) is None
    assert set_native.PRESENCE([[1]], ["a"]) is None
    assert set_native.PRESENCE([(1, 2)], [2]) == ([0], [0], [-1])


@needs_native
def test_native_timeline_is_taken_on_bench_histories(monkeypatch):
    """The Rust set_timeline and set_timeline_key answer (do not decline) on the bench's
    int histories, so the differential cases above really compare them with the
    reference."""
    for name, off in (("TIMELINE_KEY", None), ("TIMELINE", "TIMELINE_KEY")):
        calls = []
        real = getattr(set_native, name)

        def spy(*a, real=real, calls=calls):
            got = real(*a)
            calls.append(got is not None)
            return got

        with monkeypatch.context() as m:
            m.setattr(set_native, name, spy)
            if off:
                m.setattr(set_native, off, None)
            run_checks(history_from_events(_bench_events(3, 3000)), CheckOptions(workload="set"))
        assert calls and all(calls), name


@needs_native
def test_kept_reads_feed_the_session_certificate(monkeypatch):
    """The Rust scan keeps its reads on the index and the session certificate takes them
    (`kept`), so the cases above compare that path with the reference too."""
    from splitbrain.checkers.session import native

    kept = []
    real = native.KEY

    def spy(*a):
        kept.append(len(a) == 6 and a[5] is not None)
        return real(*a)

    monkeypatch.setattr(native, "KEY", spy)
    run_checks(history_from_events(_bench_events(3, 3000)), CheckOptions(workload="set"))
    assert kept and all(kept)


@needs_native
def test_native_timeline_declines_other_shapes():
    from splitbrain.harness.history import Op

    def op(i, f, value, typ="ok", t_ret=None, ret=None):
        return Op(i, i, i if ret is None else ret, 0, 0, typ, f, "x", value, None, None, i,
                  i if t_ret is None else t_ret, i)

    w, r = op(0, "add", 1), op(1, "read", [1])
    assert set_native.TIMELINE([r], [1], [w]) == ([0], [], 0)
    assert set_native.TIMELINE([op(1, "read", [1.0])], [1], [w]) is None      # float element
    assert set_native.TIMELINE([r], [1], [op(0, "add", 1, t_ret=0.5)]) is None  # float time
    assert set_native.TIMELINE([op(1, "read", [1], t_ret=2.5)], [1], [w]) is None
    assert set_native.TIMELINE([r], ["a"], [w]) is None
    info = op(0, "add", 1, typ="info", t_ret=float("inf"), ret=float("inf"))
    assert set_native.TIMELINE([r], [1], [info]) is not None
    assert set_native.TIMELINE([r], [1], [(0,)]) is None                        # not an Op


def _read_op(i, value, ret=None):
    from splitbrain.harness.history import Op

    return Op(i, i, 2 * i + 1 if ret is None else ret, 0, 0, "ok", "read", "x", value, None,
              None, 10 * i, 10 * i + 5, 10 * i + 5)


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.lists(ELEMENT, max_size=6), st.lists(st.integers(0, 12), max_size=6),
                          st.tuples(st.integers(0, 5)), st.just("bad"), st.none()), max_size=10),
       st.dictionaries(st.integers(0, 12), st.integers(0, 30), max_size=12), st.booleans())
def test_scan_ops_matches_scan(values, winv, lazy):
    """set_scan_ops over the reads gives set_scan's members and todo, result for result."""
    ops = [_read_op(i, v) for i, v in enumerate(values)]
    got = set_native.SCAN_OPS(ops, winv, lazy)
    want = set_native.SCAN(values, [o.ret_index for o in ops], winv, lazy)
    assert got is not None and want is not None
    assert (list(got[0]), got[1]) == (list(want[0]), want[1])


@needs_native
@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 9), max_size=6, unique=True),
                          st.integers(0, 40)), max_size=10),
       st.lists(st.integers(0, 11), max_size=8, unique=True), st.integers(0, 30))
def test_timeline_key_matches_timeline(reads, elems, budget):
    """set_timeline_key from the kept tables: set_timeline's answer on the same reads
    (sorted by invocation, as `_set_timeline` sorts them), or skipped past the budget."""
    from splitbrain.harness.history import Op

    ops = [_read_op(i, v)._replace(inv_index=inv) for i, (v, inv) in enumerate(reads)]
    kept = set_native.SCAN_OPS(ops, {}, True)[2]
    ws = [Op(100 + k, k, 2 * k + 1, 0, 0, "ok" if k % 3 else "info", "add", "x", e, None, None,
             k, 2 * k + 1 if k % 3 else float("inf"), k) for k, e in enumerate(elems)]
    ws = [w._replace(ret_index=float("inf")) if w.type == "info" else w for w in ws]
    got = set_native.TIMELINE_KEY(kept, list(elems), ws, budget)
    if sum(len(v) for v, _ in reads) > budget:
        assert got == (True, [], [], 0)
        return
    want = set_native.TIMELINE(sorted(ops, key=lambda o: o.inv_index), list(elems), ws)
    assert got is not None and want is not None
    assert got == (False, *want)


@needs_native
def test_timeline_key_declines_what_it_did_not_keep():
    class L(list):
        pass

    kept = set_native.SCAN_OPS([_read_op(0, L([1]))], {}, True)[2]  # a list subclass
    assert set_native.TIMELINE_KEY(kept, [1], [_read_op(1, 1)._replace(f="add")], 10) is None
    kept = set_native.SCAN_OPS([_read_op(0, [1.0])], {}, True)[2]   # a float element
    assert set_native.TIMELINE_KEY(kept, [1], [_read_op(1, 1)._replace(f="add")], 10) is None
    kept = set_native.SCAN_OPS([_read_op(0, [1])._replace(t_inv=0.5)], {}, True)[2]
    assert set_native.TIMELINE_KEY(kept, [1], [_read_op(1, 1)._replace(f="add")], 10) is None


@needs_native
def test_scans_take_list_subclasses_as_python_does():
    """A read whose value is a list subclass is no exact list: both scans leave it to the
    Python audit (member None, in todo), lazy or not."""
    class L(list):
        pass

    for lazy in (False, True):
        got = set_native.SCAN([L([1]), [1]], [5, 5], {1: 0}, lazy)
        assert (list(got[0]), got[1]) == ([None] + ([] if lazy else [frozenset({1})]), [0])
        ops = [_read_op(0, L([1]), ret=5), _read_op(1, [1], ret=5)]
        got = set_native.SCAN_OPS(ops, {1: 0}, lazy)
        assert (list(got[0]), got[1]) == ([None] + ([] if lazy else [frozenset({1})]), [0])
