"""The Rust set index (`set_index`) and convergence's per-key call (`set_final_key`)
against the pure-Python build and loop, result for result (issue 16 item 5).

`set_index` builds a set key's index (its reads, adds, sole-writer table, the read scan
and what the session certificate reads of every op) in one pass; `set_final_key` is
convergence's loop body for a clean set key. Both decline on anything else, and the
Python paths stay the reference: every case runs `assert_same` of the set differential
tests (the full `run_checks` results and every index, through the production path, the
pure-Python engine, the Rust scan without the index, and the pre-speed-up reference).
Histories here use int elements (what the Rust calls take), with repeated adds, info and
failed adds, reads of None or of no list, duplicate elements in reads, missing final
reads, keyless histories, and injected convergence anomalies whose witnesses are known.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.checkers import convergence, run_checks, set_native, versions
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import build_indexes
from splitbrain.harness.history import Op, history_from_events
from tests.checkers.test_sets_differential import _bench_events, assert_same, set_histories

pytestmark = pytest.mark.skipif(set_native.INDEX is None or set_native.FINAL_KEY is None,
                                reason="no Rust set_index / set_final_key (older .so or "
                                       "SPLITBRAIN_SET_ENGINE=python)")


def _spy(monkeypatch, name: str) -> list[bool]:
    """Calls of set_native.<name>: True for each that answered (did not decline)."""
    calls: list[bool] = []
    real = getattr(set_native, name)

    def spy(*a):
        got = real(*a)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(set_native, name, spy)
    return calls


def _index_fields(ix) -> tuple:
    return (ix.kind, [o.index for o in ix.reads], [o.index for o in ix.writes], ix._wvals,
            [(e, w.index) for e, w in ix._writer.items()],
            {r.index: None if (m := ix.members(r)) is None else sorted(m, key=repr)
             for r in ix.reads},
            sorted(ix.corrupt), [(a.type, a.text(), a.ops) for a in ix.anomalies],
            ix.duplicates, ix.has_cas)


def assert_same_index(history) -> int:
    """Every set key's index built by set_index equals the Python build's; returns how
    many keys set_index built (their SetFacts checked against the Python counts)."""
    fast = build_indexes(history, "set")
    saved = set_native.INDEX
    set_native.INDEX = None
    try:
        slow = build_indexes(history, "set")
    finally:
        set_native.INDEX = saved
    assert fast.keys() == slow.keys()
    built = 0
    for k, ix in fast.items():
        assert _index_fields(ix) == _index_fields(slow[k]), k
        if ix.set_facts is not None:
            built += 1
            assert ix.set_facts.nonfail_writes == sum(w.type != "fail" for w in ix.writes)
            assert ix.set_facts.ok_writes == sum(w.type == "ok" for w in ix.writes)
            assert [w.f for w in ix.writes] == ["add"] * len(ix.writes)
        assert slow[k].set_facts is None
    return built


# -- seeded bench histories: every key takes both Rust calls ------------------------------


def test_bench_history_takes_set_index_and_final_key_on_every_key(monkeypatch):
    h = history_from_events(_bench_events(11, 4000))
    index_calls = _spy(monkeypatch, "INDEX")
    final_calls = _spy(monkeypatch, "FINAL_KEY")
    res = run_checks(h, CheckOptions(workload="set"))
    assert res["valid"] is True
    n_keys = res["checkers"]["convergence"]["stats"]["keys"]
    assert index_calls and all(index_calls)
    assert len(final_calls) == n_keys and all(final_calls)
    monkeypatch.undo()
    assert assert_same_index(h) == len(index_calls)
    assert_same(h)


def test_session_certificate_reads_the_index_facts(monkeypatch):
    """set_session_key takes set_index's per-op facts: with them it must answer on a clean
    bench history exactly as from the Ops (the cases below compare the results)."""
    from splitbrain.checkers.session import native

    h = history_from_events(_bench_events(12, 3000))
    ixs = build_indexes(h, "set")
    assert ixs and all(ix._set_reads is not None for ix in ixs.values())
    for ix in ixs.values():
        args = (ix.ops, ix.reads, ix._members, ix.corrupt, False)
        with_facts = native.KEY(*args, ix._set_reads)
        from_ops = native.KEY(*args)
        assert with_facts is not None and with_facts == from_ops


# -- injected convergence anomalies with known witnesses ---------------------------------


def _ev(i, p, typ, f, value, key="x", **kw):
    return {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value,
            "time": i * 10, **kw}


def _finals(start: int, per_node: dict[str, list], key="x") -> list[dict]:
    out, i = [], start
    for node, values in per_node.items():
        for v in values:
            base = {"process": f"final-{node}", "node": node, "final": True}
            out.append({**_ev(i, 0, "invoke", "read", None, key), **base})
            out.append({**_ev(i + 1, 0, "ok", "read", v, key), **base})
            i += 2
    return out


_ADDS = [_ev(0, 0, "invoke", "add", 1), _ev(1, 0, "ok", "add", 1),
         _ev(2, 1, "invoke", "add", 2), _ev(3, 1, "ok", "add", 2)]


def _convergence(events) -> dict:
    h = history_from_events(events)
    assert_same(h)
    return run_checks(h, CheckOptions(workload="set"))["checkers"]["convergence"]


def test_clean_finals_are_judged_in_rust(monkeypatch):
    calls = _spy(monkeypatch, "FINAL_KEY")
    conv = _convergence(_ADDS + _finals(4, {"n1": [[1], [2, 1]], "n2": [[1, 2, 2]]}))
    assert conv["valid"] is True and conv["stats"]["converged"] == 1
    assert calls and all(calls)


@pytest.mark.parametrize("finals,kind,witness", [
    # n1: {1,2} -> {1} -> {1,2}: flapping, its three reads the witnesses
    ({"n1": [[1, 2], [1], [2, 1]], "n2": [[1, 2]]}, "flapping", [5, 7, 9]),
    ({"n1": [[1, 2]], "n2": [[1]]}, "diverged", [5, 7]),
    ({"n1": [[1]], "n2": [[1]]}, "lost", [3, 5, 7]),            # add of 2 acked, missing
    ({"n1": [[1, 2, 9]], "n2": [[9, 2, 1]]}, "unexpected", [5, 7]),
])
def test_injected_anomalies_fall_back_and_are_found(finals, kind, witness, monkeypatch):
    calls = _spy(monkeypatch, "FINAL_KEY")
    conv = _convergence(_ADDS + _finals(4, finals))
    assert conv["valid"] is False
    got = [(a["type"], a["ops"]) for a in conv["anomalies"]]
    assert (kind, witness) in got, got
    assert calls and not any(calls)  # declined: Python reported it


def test_failed_add_present_falls_back(monkeypatch):
    events = _ADDS[:3] + [_ev(3, 1, "fail", "add", 2)] + _finals(4, {"n1": [[1, 2]]})
    calls = _spy(monkeypatch, "FINAL_KEY")
    conv = _convergence(events)
    assert ("aborted-present", [3, 5]) in [(a["type"], a["ops"]) for a in conv["anomalies"]]
    # the index holds a failed add: the Python loop judges the key without asking Rust
    assert not any(calls)


# -- declines --------------------------------------------------------------------------


def _op(i, f, value, typ="ok", **kw):
    base = dict(index=i, inv_index=i, ret_index=i, process=0, session=0, type=typ, f=f,
                key="x", value=value, version=None, node=None, t_inv=i, t_ret=i,
                t_ret_seen=i, error=None, final=False, extra=None)
    return Op(**{**base, **kw})


@pytest.mark.parametrize("ops", [
    [_op(0, "add", 1), _op(1, "add", 1)],              # an element added twice
    [_op(0, "add", 1.0)],                              # a float element
    [_op(0, "add", True)],                             # a bool element
    [_op(0, "add", 2 ** 70)],                          # beyond i64
    [_op(0, "add", None)],                             # an add of nothing
    [_op(0, "write", 1)],                              # another write f
    [_op(0, "add", 1), _op(1, "cas", [1, 2])],
    [_op(0, "add", 1, type=None)],                     # a type that is no str
])
def test_set_index_declines_other_shapes(ops):
    assert set_native.INDEX(ops, True) is None
    ix = versions.VersionIndex("x", "set")
    ix.ops = ops
    assert versions._native_set(ix) is False
    assert ix.reads == [] and ix.writes == [] and ix._set_reads is None


def test_set_index_keeps_no_session_facts_for_odd_fields():
    """A process that is no int: the index is built, the session facts are not (the
    certificate then reads the Ops, and declines there too)."""
    ops = [_op(0, "add", 1, process="p"), _op(1, "read", [1])]
    got = set_native.INDEX(ops, True)
    assert got is not None
    reads, writes = got[0], got[1]
    assert reads == [ops[1]] and writes == [ops[0]]


def test_final_key_declines():
    r = lambda i, v, t=None: _op(i, "read", v, t_inv=i if t is None else t)  # noqa: E731
    assert set_native.FINAL_KEY([[r(0, [1, 2])], [r(1, [2, 1])]], [1, 2]) == (None, None, 0)
    assert set_native.FINAL_KEY([[r(0, [1]), r(1, [1, 2])]], [1, 2]) == (0, 1, 0)
    assert set_native.FINAL_KEY([[r(0, [1]), r(1, [2]), r(2, [1])]], [1]) is None  # flap
    assert set_native.FINAL_KEY([[r(0, [1])], [r(1, [2])]], [1]) is None           # diverged
    assert set_native.FINAL_KEY([[r(0, [1])]], [1, 2]) is None                     # lost
    assert set_native.FINAL_KEY([[r(0, [1, "a"])]], [1]) is None                   # non-int
    assert set_native.FINAL_KEY([[r(0, "bad")]], []) is None
    assert set_native.FINAL_KEY([[r(0, None)]], []) == (None, None, 0)
    assert set_native.FINAL_KEY([[r(0, [1], t=2.5)]], [1]) is None                 # float time
    assert set_native.FINAL_KEY([], []) is None


# -- hypothesis: int-element set histories ----------------------------------------------


def int_set_histories():
    """The set differential tests' raw histories with int elements only (repeated adds,
    info and failed adds, reads of None or "bad", keyless, several final reads a node)."""
    return set_histories(element=st.integers(0, 9), finals_per_node=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(int_set_histories())
def test_hypothesis_int_set_histories(events):
    h = history_from_events(events)
    assert_same_index(h)
    assert_same(h)


def test_hypothesis_strategy_reaches_both_rust_calls(monkeypatch):
    """The strategy above makes keys set_index and set_final_key answer on (so the
    property compares them with the reference), and keys set_index declines."""
    from hypothesis import find

    index_calls = _spy(monkeypatch, "INDEX")
    final_calls = _spy(monkeypatch, "FINAL_KEY")

    def run(events) -> None:
        del index_calls[:], final_calls[:]
        run_checks(history_from_events(events), CheckOptions(workload="set"))

    def answered(events) -> bool:
        run(events)
        return any(index_calls) and any(final_calls)

    def declined(events) -> bool:
        run(events)
        return not all(index_calls)

    budget = settings(max_examples=2000, database=None)
    find(int_set_histories(), answered, settings=budget)  # raises when none is found
    find(int_set_histories(), declined, settings=budget)


# -- lost-updates on keys set_index built ---------------------------------------------


@pytest.mark.parametrize("finals,kind,witness", [
    ({"n1": [[1]], "n2": [[1]]}, "lost", [3, 5, 7]),        # acked add of 2 in no final read
    ({"n1": [[1, 2]], "n2": [[9]]}, "unexpected", [7]),     # 9 never added
    ({"n1": [[1]], "n2": [[2]]}, None, None),               # the union holds both: nothing lost
])
def test_lost_updates_on_indexed_keys(finals, kind, witness):
    h = history_from_events(_ADDS + _finals(4, finals))
    ix = build_indexes(h, "set")["x"]
    assert ix.set_facts is not None
    assert_same(h)
    lu = run_checks(h, CheckOptions(workload="set"))["checkers"]["lost-updates"]
    got = [(a["type"], a["ops"]) for a in lu["anomalies"]]
    if kind is None:
        assert got == [] and lu["stats"]["keys_judged"] == 1
    else:
        assert (kind, witness) in got, got
