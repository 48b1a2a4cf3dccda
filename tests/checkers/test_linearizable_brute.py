"""The search engines against the brute-force oracle on random tiny histories (§8.2)."""

from __future__ import annotations

import os
import random

import pytest

from splitbrain.checkers.linearizable import engine
from splitbrain.checkers.linearizable.models import MODELS, build_partitions
from splitbrain.checkers.linearizable.search import INVALID, VALID, search
from tests.checkers import brute_lin
from tests.checkers.lin_gen import random_history

N = int(os.environ.get("LIN_BRUTE_N", "400"))
CASES = [("cas-register", "absent", "observe-mismatch"),
         ("cas-register", "unconstrained", "drop"),
         ("register", "absent", "drop"),
         ("mutex", "absent", "drop"),
         ("set", "absent", "drop"),
         ("list-append", "absent", "drop"),
         ("counter", "absent", "drop"),
         ("fifo-queue", "absent", "drop"),
         ("multi-register", "absent", "drop"),
         ("multi-register", "unconstrained", "drop")]


def _compare(model_name, nil_read, cas_fail, seed, native=False):
    rng = random.Random(seed)
    n_ops = rng.randint(1, 7)
    h = random_history(rng, model_name, n_ops=n_ops, procs=rng.randint(1, 4),
                       n_vals=rng.randint(1, 3))
    model = MODELS[model_name](nil_read=nil_read, cas_fail=cas_fail)
    parts, _ = build_partitions(h.ops, model)
    for p in parts:
        ref = brute_lin.reference(p.inv, p.ret, p.required, p.payload, model.step, p.initial)
        if native:
            from splitbrain.checkers.linearizable.engine import run_native
            got = run_native([(p.inv, p.ret, p.required, p.payload, p.observer, p.initial)],
                             10**6, 10**7, 1)[0]
        else:
            got = search(p.inv, p.ret, p.required, p.payload, p.observer, p.initial, model.step)
        ctx = (model_name, nil_read, cas_fail, seed, [o.describe() for o in h.ops])
        assert (got.status == VALID) == ref["valid"], ctx
        if not ref["valid"]:
            assert got.status == INVALID, ctx
            assert got.kstar == ref["kstar"], ctx
            assert set(got.frontier) == ref["frontier"], ctx
            assert got.frontier_count == len(ref["frontier"]), ctx
    return len(parts)


@pytest.mark.parametrize("model_name,nil_read,cas_fail", CASES)
def test_python_engine_agrees_with_brute_force(model_name, nil_read, cas_fail):
    checked = sum(_compare(model_name, nil_read, cas_fail, seed) for seed in range(N))
    assert checked > N // 2


@pytest.mark.skipif(not engine.available(), reason=engine.NATIVE_PROBLEM or "")
@pytest.mark.parametrize("model_name,nil_read,cas_fail",
                         [c for c in CASES if MODELS[c[0]].native])
def test_native_engine_agrees_with_brute_force(model_name, nil_read, cas_fail):
    checked = sum(_compare(model_name, nil_read, cas_fail, seed, native=True)
                  for seed in range(N))
    assert checked > N // 2


@pytest.mark.slow
@pytest.mark.parametrize("model_name,nil_read,cas_fail", CASES)
def test_brute_force_many(model_name, nil_read, cas_fail):
    native = engine.available() and MODELS[model_name].native
    for seed in range(10_000, 10_000 + 5_000):
        _compare(model_name, nil_read, cas_fail, seed, native=native)


@pytest.mark.parametrize("model_name", ["cas-register", "register", "set", "list-append",
                                        "mutex", "counter"])
def test_witness_is_invalid_and_one_minimal_under_the_oracle(model_name):
    from splitbrain.checkers.linearizable import _problem
    from splitbrain.checkers.linearizable.engine import run_python
    from splitbrain.checkers.linearizable.witness import _deletable, minimal_witness

    checked = 0
    for seed in range(N):
        rng = random.Random(seed)
        h = random_history(rng, model_name, n_ops=rng.randint(2, 7), procs=rng.randint(1, 4),
                           n_vals=rng.randint(1, 3))
        model = MODELS[model_name]()
        for p in build_partitions(h.ops, model)[0]:
            r = search(p.inv, p.ret, p.required, p.payload, p.observer, p.initial, model.step)
            if r.status != INVALID:
                continue
            k = r.kstar
            wit = minimal_witness(p, k, lambda probs: run_python(probs, model.step, 10**6, 10**7),
                                  200)
            W = set(wit["ranks"])
            init = wit.get("initial", p.initial)
            req = {o for o in W if o < p.required and p.ret[o] <= p.ret[k]}
            assert k in W and wit["replayed"]
            prob = _problem(p, sorted(W), req, initial=init)[0]
            assert not brute_lin.linearizable(*prob[:4], model.step, prob[5]), seed
            if wit["minimal"]:
                for o in _deletable(p, W, k, init):
                    prob = _problem(p, sorted(W - {o}), req, initial=init)[0]
                    assert brute_lin.linearizable(*prob[:4], model.step, prob[5]), (seed, o)
            checked += 1
    assert checked > N // 10
