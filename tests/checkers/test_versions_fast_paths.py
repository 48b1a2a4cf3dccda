"""The version index's C-level fast paths (issue 16 item 5: throughput) decide exactly as
the per-op loops they skip: built both ways on simulated histories — clean, with injected
faults, and with corrupted versions and values — every table and finding is the same."""

from __future__ import annotations

import random

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers.versions as V
from splitbrain.harness.history import History
from tests.checkers import sim


def _tables(ixs: dict) -> dict:
    return {k: (ix.kind, list(ix.read_versions.items()), list(ix.write_versions.items()),
                sorted(ix.corrupt), ix.max_rank, ix.unverifiable_writes,
                [o.index if o is not None else None for o in ix._by_rank], ix._evidence,
                [(a.type, a.ops, str(a.explanation() if callable(a.explanation)
                                     else a.explanation), a.details) for a in ix.anomalies],
                {i: ix.members(o) for o in ix.reads for i in (o.index,)}
                if ix.kind == "set" else None)
            for k, ix in ixs.items()}


def _slow(h: History, workload: str) -> dict:
    """The same indexes with every fast path refused (the per-op loops decide)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(V, "_versioned_reads_fast", lambda *a: None)
        m.setattr(V, "_one_to_one", lambda *a: False)
        real_set = set

        class NoFastSet(real_set):  # `"cas" not in set(fs)` then never takes the shortcut
            def __contains__(self, x):
                return True if x == "cas" else real_set.__contains__(self, x)

        m.setattr(V, "set", NoFastSet, raising=False)
        return _tables(V.build_indexes(h, workload))


def _corrupt(h: History, seed: int) -> History:
    """Flip some ok reads' versions and values so conflicts, mismatches and garbage occur."""
    rng = random.Random(seed)
    ops = []
    for op in h.ops:
        if op.f == "read" and op.type == "ok" and rng.random() < 0.15:
            if op.version is not None and rng.random() < 0.5:
                op = op._replace(version=op.version + rng.choice((-1, 1)))
            elif not isinstance(op.value, list):
                op = op._replace(value=rng.choice((op.value, "garbage", None)))
        ops.append(op)
    return History(ops=ops, source=h.source)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), workload=st.sampled_from(sim.WORKLOADS),
       store=st.sampled_from(sim.STORES), versions=st.booleans(),
       faults=st.sampled_from([(), ("lost-write",), ("reorder",), ("failed-write-read",)]),
       corrupt=st.booleans())
def test_fast_paths_equal_the_loops(seed, workload, store, versions, faults, corrupt):
    h = sim.history(sim.simulate(workload, store, seed=seed, versions=versions, ops=60,
                                 faults=faults, final_reads=True))
    if corrupt:
        h = _corrupt(h, seed)
    assert _tables(V.build_indexes(h, workload)) == _slow(h, workload)
