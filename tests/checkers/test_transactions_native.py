"""The Rust core's list-append inference, CSR and SCC pass (checkers/transactions/native.py)
give the same results as the pure-Python reference, result for result: on the pinned
histories, on the benchmark's clean histories, and on hypothesis-simulated stores (clean
ones take the native path; anomalous ones make the core decline)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.transactions import check, native
from splitbrain.harness.history import history_from_events, read_history
from tests.checkers.test_transactions_pinned import _history as pinned_history
from tests.checkers.txn_sim import simulate

pytestmark = pytest.mark.skipif(native.NATIVE is None,
                                reason=f"no native core: {native.NATIVE_PROBLEM}")


def _result(h, engine: str, model: str) -> tuple[str, dict]:
    saved = native.NATIVE
    if engine == "python":
        native.NATIVE = None
    try:
        r = check(h, CheckOptions(consistency_models=(model,)))["transactions"].to_json()
    finally:
        native.NATIVE = saved
    stats = r.get("stats", {})
    used = stats.pop("engine", None)
    stats.pop("engine_note", None)
    stats.pop("seconds", None)
    return used, json.loads(json.dumps(r, sort_keys=True, default=str))


def _same(h, model="strict-serializable") -> str:
    used, a = _result(h, "native", model)
    py_used, b = _result(h, "python", model)
    assert py_used in ("python", None)
    assert a == b
    return used


@pytest.mark.parametrize("seed", range(6))
def test_pinned_histories_agree(seed):
    _same(pinned_history(seed), "serializable")


def test_clean_benchmark_history_takes_the_native_path(tmp_path):
    from bench.transactions import generate

    p = os.path.join(tmp_path, "h.jsonl")
    generate(3000, p, seed=7)
    assert _same(read_history(p)) == "native"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 150), concurrency=st.integers(1, 10),
       keys=st.integers(1, 5), store=st.sampled_from(["strict", "stale-reads", "si",
                                                      "read-committed", "brat"]),
       model=st.sampled_from(["strict-serializable", "serializable", "snapshot-isolation"]))
def test_simulated_stores_agree(seed, n, concurrency, keys, store, model):
    evs = simulate(store, seed, n=n, concurrency=concurrency, keys=keys,
                   workload="list-append", p_fail=0.0 if seed % 2 else 0.05)
    _same(history_from_events(evs), model)


def test_cycles_are_explained_identically_on_the_native_path():
    """Stale reads checked as strict-serializable: realtime cycles and no other anomaly,
    so the core infers and Python explains."""
    seen = 0
    for seed in range(10):
        h = history_from_events(simulate("stale-reads", seed, n=120, concurrency=6, keys=3,
                                         p_fail=0.0, p_info=0.0))
        used = _same(h, "strict-serializable")
        _, r = _result(h, "native", "strict-serializable")
        if used == "native" and r["anomalies"]:
            seen += 1
    assert seen >= 1


def test_failed_txns_keep_the_native_path_and_agree():
    """Failed appends nobody read change no edge: the core keeps them (as a real run's
    fail txns) and still agrees with Python."""
    used = [_same(history_from_events(simulate("strict", seed, n=150, concurrency=5, keys=4,
                                                p_fail=0.2, p_info=0.1)))
            for seed in range(6)]
    assert used.count("native") >= 3, used


def _txns(*txns):
    evs = []
    for p, mops in enumerate(txns):
        inv = [[f, k, None if f == "r" else v] for f, k, v in mops]
        evs.append(dict(index=len(evs), time=len(evs), process=p, type="invoke", f="txn",
                        value=inv))
        evs.append(dict(index=len(evs), time=len(evs), process=p, type="ok", f="txn",
                        value=[list(m) for m in mops]))
    return history_from_events(evs)


@pytest.mark.parametrize("txns, want", [
    # internal: a second read of x disagrees with the first, inside one txn
    (((["append", "x", 1],), (["r", "x", [1]], ["r", "x", []])), "internal"),
    # future-read: a read holds the element the same txn appends afterwards
    (((["append", "x", 1],), (["r", "x", [1, 2]], ["append", "x", 2])), "future-read"),
    # internal after an own append: the read must end with it
    (((["append", "y", 1],), (["append", "y", 2], ["r", "y", [1]])), "internal"),
])
def test_internal_anomalies_found_on_the_native_path_as_in_python(txns, want):
    h = _txns(*txns)
    assert _same(h) == "native"
    _, r = _result(h, "native", "strict-serializable")
    assert want in {a["type"] for a in r["anomalies"]}, r["anomalies"]


_ATOM = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "1"]), st.booleans(),
                  st.none(), st.floats(allow_nan=False, width=16), st.just(2**70))
_VAL = st.one_of(_ATOM, st.lists(_ATOM, max_size=4),
                 st.lists(st.lists(st.integers(0, 2), max_size=2), max_size=2))
_F = st.sampled_from(["r", "read", "append", "w", "write", "cas", 1])
_MOP = st.lists(st.one_of(_F, _ATOM, _VAL), min_size=2, max_size=4)


@settings(max_examples=400, deadline=None)
@given(pairs=st.lists(st.tuples(_F, _ATOM, _VAL, _VAL, st.booleans(), st.booleans()),
                      max_size=4),
       odd=st.one_of(st.none(), _MOP), shorter=st.booleans())
def test_native_txn_import_gives_the_python_result(pairs, odd, shorter):
    """harness/history.py: the core's `txn_ok_fast` returns exactly what `_txn_ok_fast`
    returns, or None (then the Python one decides)."""
    from splitbrain.harness import history as H

    if H._txn_ok_native is None:
        pytest.skip("no txn_ok_fast in this build")
    inv, comp = [], []
    for f, k, v_inv, v_ok, same_f, same_k in pairs:
        inv.append([f if same_f else "append", k if same_k else "z", v_inv])
        comp.append([f, k, v_ok if f in ("r", "read") else (v_inv if same_k else v_ok)])
    if odd is not None:
        comp.append(odd)
        if not shorter:
            inv.append(list(odd))
    got = H._txn_ok_native(inv, comp)
    want = H._txn_ok_fast(inv, comp)
    assert got is None or got == want
    if got is not None:  # the same types too (1 == True == 1.0 in Python)
        assert [tuple(map(type, m)) for m in got] == [tuple(map(type, m)) for m in want]
        assert [[type(e) for e in m[2]] for m in got if type(m[2]) is tuple] == \
            [[type(e) for e in m[2]] for m in want if type(m[2]) is tuple]


def test_native_txn_import_takes_the_common_shape():
    from splitbrain.harness import history as H

    if H._txn_ok_native is None:
        pytest.skip("no txn_ok_fast in this build")
    inv = [["append", "x", 1], ["r", 2, None], ["read", "y", None]]
    comp = [["append", "x", 1], ["r", 2, [1, "a"]], ["read", "y", None]]
    assert H._txn_ok_native(inv, comp) == (("append", "x", 1), ("r", 2, (1, "a")),
                                           ("r", "y", None))
    assert H._txn_ok_native(inv, comp) == H._txn_ok_fast(inv, comp)
