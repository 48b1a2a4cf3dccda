"""Multi-register histories whose initial state is not recorded, and rw-register
histories with repeated writes judged by linearizability (strict serializability).

Knossos proves `multi-register/good/multi-register.edn` linearizable from {x 0, y 0}
(its test builds the model with that state; the file only says so in a comment). From
absent registers it is not: its first reads see 0 before anyone wrote 0 to y.
"""

from __future__ import annotations

import itertools
import os
import random

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.linearizable import LinearizableOptions, check_linearizable
from splitbrain.checkers.linearizable.models import MultiRegister, build_partitions
from splitbrain.checkers.linearizable.search import VALID, search
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import freeze, history_from_events, read_history
from tests.checkers import brute_lin
from tests.checkers.lin_gen import random_history

GOOD = os.path.join(os.path.dirname(__file__), "data", "knossos", "multi-register", "good",
                    "multi-register.edn")


def _txn_history(txns: list[tuple[int, str, list, int, int]], edn: bool = True):
    """(process, type, mops, invoke position, complete position) -> History."""
    evs = []
    for p, typ, mops, i, c in txns:
        evs.append((i, {"process": p, "type": "invoke", "f": "txn",
                        "value": [[f, k, None if f == "r" else v] for f, k, v in mops]}))
        evs.append((c, {"process": p, "type": typ, "f": "txn", "value": mops}))
    evs.sort(key=lambda t: t[0])
    h = history_from_events([dict(e, index=n, time=n) for n, (_, e) in enumerate(evs)])
    if edn:
        h.meta["format"] = "edn"
    return h


def test_knossos_good_is_unknown_without_its_initial_state_and_says_which():
    h = read_history(GOOD)
    r = check_linearizable(h, LinearizableOptions(model="multi-register"))
    assert r.valid == "unknown"
    assert "--lin-initial" in r.reason and '{"x":0,"y":0}' in r.reason
    assert "initial:unknown" in r.assumptions


def test_knossos_good_is_valid_from_its_initial_state():
    h = read_history(GOOD)
    r = check_linearizable(h, LinearizableOptions(model="multi-register",
                                                  initial={"x": 0, "y": 0}))
    assert r.valid is True and r.stats["ops_required"] > 100


def test_knossos_good_through_the_default_checkers():
    h = read_history(GOOD)
    res = run_checks(h)  # inferred txn-rw-register; its writes repeat
    t = res["checkers"]["transactions"]
    assert t["valid"] == "unknown" and "--lin-initial" in t["reason"]
    res = run_checks(h, CheckOptions(linearizable=LinearizableOptions(initial={"x": 0, "y": 0})))
    t = res["checkers"]["transactions"]
    assert res["valid"] is True and t["stats"]["judged_by"].startswith("linearizability")


# T1 writes x=1 and completes; then T2 writes x=2 and completes; then T3 reads x=1 and
# T4 reads x=1: a stale read after a completed overwrite, whatever the initial state.
STALE = [(0, "ok", [["w", "x", 1]], 0, 1), (1, "ok", [["w", "x", 2]], 2, 3),
         (0, "ok", [["w", "x", 1]], 4, 5), (1, "ok", [["w", "x", 2]], 6, 7),
         (2, "ok", [["r", "x", 1]], 8, 9)]


def test_a_stale_read_after_repeated_writes_is_invalid_for_strict_serializability():
    h = _txn_history(STALE)
    lin = check_linearizable(h, LinearizableOptions(model="multi-register"))
    assert lin.valid is False  # from every initial state
    res = run_checks(h)
    t = res["checkers"]["transactions"]
    assert t["valid"] is False and t["anomaly_types"] == [
        "strict-serializability-violation"]
    # a weaker claim is not decided by a real-time failure
    res = run_checks(h, CheckOptions(consistency_models=("serializable",)))
    assert res["checkers"]["transactions"]["valid"] == "unknown"


def test_repeated_writes_that_linearize_are_valid_for_every_model():
    ok = STALE[:4] + [(2, "ok", [["r", "x", 2], ["w", "y", 1]], 8, 9),
                      (3, "ok", [["w", "y", 1]], 10, 11), (3, "ok", [["r", "y", 1]], 12, 13)]
    h = _txn_history(ok, edn=False)
    for models in ((), ("serializable",), ("read-committed",)):
        res = run_checks(h, CheckOptions(consistency_models=models))
        assert res["valid"] is True, res["checkers"]["transactions"]


@pytest.mark.parametrize("nil_read", ["absent", "unconstrained"])
def test_unknown_initial_agrees_with_brute_force_over_every_initial_state(nil_read):
    checked = dependent = 0
    outcomes: set = set()
    for seed in range(250):
        rng = random.Random(seed)
        h = random_history(rng, "multi-register", n_ops=rng.randint(1, 6),
                           procs=rng.randint(1, 3), n_vals=2)
        lazy = MultiRegister(nil_read=nil_read, cas_fail="drop")
        lazy.set_unknown_initial()
        parts, _ = build_partitions(h.ops, lazy)
        strict = MultiRegister(nil_read=nil_read, cas_fail="drop")
        sparts, _ = build_partitions(h.ops, strict)
        for p, sp in zip(parts, sparts):
            got = search(p.inv, p.ret, p.required, p.payload, p.observer, p.initial, lazy.step)
            keys = sorted({k for pl in p.payload for _, k, _ in pl})
            vals = [None, 1, 2]
            some = False
            for combo in itertools.product(vals, repeat=len(keys)):
                init = tuple(sorted(((freeze(k), v) for k, v in zip(keys, combo)
                                     if v is not None), key=repr))
                if brute_lin.linearizable(sp.inv, sp.ret, sp.required, sp.payload,
                                          strict.step, init):
                    some = True
                    break
            assert (got.status == VALID) == some, (seed, [o.describe() for o in h.ops])
            checked += 1
            outcomes.add(some)
            if some and not brute_lin.linearizable(sp.inv, sp.ret, sp.required, sp.payload,
                                                   strict.step, sp.initial):
                dependent += 1
    assert checked > 200 and outcomes == {True, False} and dependent > 5
