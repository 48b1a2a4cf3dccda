"""Counter reads against the sums the adds can reach (checker-spec §5.4): with deltas
other than ±1 the bounds leave gaps (Maelstrom's pn-counter test: 10 acknowledged, +5 -1 -1
indeterminate, a read of 11 lies in [8, 15] but no subset reaches it). The bitset search
is compared with a brute force over every subset on random small histories."""

from __future__ import annotations

import random
from itertools import combinations

from hypothesis import given, settings, strategies as st

from splitbrain.checkers import run_checks
from splitbrain.checkers.lost_updates import _SubsetSums, _contiguous
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events


def _history(adds, reads):
    """adds: (process, delta, completion type, inv, ret); reads: (process, value, inv, ret):
    positions on one clock, events sorted by it."""
    evs = []
    for p, d, t, i, r in adds:
        evs.append((i, {"process": p, "type": "invoke", "f": "add", "value": d}))
        evs.append((r, {"process": p, "type": t, "f": "add", "value": d}))
    for p, v, i, r in reads:
        evs.append((i, {"process": p, "type": "invoke", "f": "read", "value": None}))
        evs.append((r, {"process": p, "type": "ok", "f": "read", "value": v}))
    evs.sort(key=lambda e: e[0])
    return history_from_events([dict(e, index=n, time=n * 1000) for n, (_, e) in enumerate(evs)])


def _brute(h, read, definite):
    adds = [o for o in h.ops if o.f == "add" and o.type != "fail" and o.inv_index < read.ret_index]
    must = [o for o in adds if definite and o.type == "ok" and o.ret_index < read.inv_index]
    maybe = [o.value for o in adds if o not in must]
    base = sum(o.value for o in must)
    return any(base + sum(c) == read.value
               for n in range(len(maybe) + 1) for c in combinations(maybe, n))


def _random_history(rnd: random.Random, max_adds: int, deltas: list, types: list,
                    add_len: float, n_reads: int, values: tuple, read_len: float):
    """Up to `max_adds` adds of random deltas and completion types, then `n_reads` ok
    reads of random values, on one clock."""
    adds, reads, procs = [], [], iter(range(100))
    for _ in range(rnd.randint(0, max_adds)):
        i = rnd.random() * 10
        adds.append((next(procs), rnd.choice(deltas), rnd.choice(types), i,
                     i + rnd.random() * add_len))
    for _ in range(n_reads):
        i = rnd.random() * 12
        reads.append((next(procs), rnd.randint(*values), i, i + rnd.random() * read_len))
    return _history(adds, reads)


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_reachable_agrees_with_every_subset(rnd: random.Random):
    h = _random_history(rnd, 7, [-5, -3, -2, -1, 1, 2, 4, 5, 7], ["ok", "ok", "info", "fail"],
                        4, 3, (-12, 20), 3)
    ss = _SubsetSums(list(h.ops), {})
    for r in (o for o in h.ops if o.f == "read"):
        for definite in (False, True):
            assert ss.reachable(r, r.value, definite=definite) == _brute(h, r, definite), (
                r, definite)


def test_contiguous_sums():
    assert _contiguous({1: 3, 4: 1}, 1)          # 0..7
    assert not _contiguous({2: 2}, 1)            # 0, 2, 4
    assert _contiguous({-1: 1, -2: 1}, -1)       # 0, -1, -2, -3
    assert not _contiguous({5: 1, -1: 2}, 1)     # 0, 5 (the negatives are the other sign)


def test_gap_read_is_invalid_and_reachable_read_valid():
    """+10 ok, then +5 -1 -1 indeterminate: 11 and 12 are no subset's sum, 13 is."""
    adds = [(0, 10, "ok", 0, 1), (1, 5, "info", 2, 3), (2, -1, "info", 4, 5),
            (3, -1, "info", 6, 7)]
    for value, valid in ((11, False), (12, False), (13, True), (8, True), (10, True)):
        res = run_checks(_history(adds, [(9, value, 8, 9)]), CheckOptions(workload="counter"))
        lu = res["checkers"]["lost-updates"]
        # reachable: nothing found (unknown: no final read, so nothing lost is judged)
        assert (lu["valid"] is False) is (not valid) and bool(lu["anomalies"]) is (not valid), (
            value, lu)
        if not valid:
            a = lu["anomalies"][0]
            assert a["type"] == "counter-bounds" and a["subset_sums"] is True
            assert "within [" in a["explanation"], a["explanation"]


def test_unit_deltas_need_no_search():
    """±1 deltas reach every sum between the bounds: no bitset is built."""
    adds = [(p, 1 if p % 2 else -1, "info", p, p + 0.5) for p in range(40)]
    h = _history(adds, [(99, 3, 41, 42)])
    ss = _SubsetSums(list(h.ops), {})
    r = next(o for o in h.ops if o.f == "read")
    assert ss.reachable(r, 3, definite=False) and ss.work == 0


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_subset_shortcut_agrees_with_every_subset(rnd: random.Random):
    """From `any_from` on, an any-subset read inside its bounds is reachable without a
    search (enough ±1s invoked): the brute force agrees on every such read (the next
    test shows where `any_from` falls)."""
    h = _random_history(rnd, 12, [-3, -1, -1, -1, 1, 1, 1, 1, 2, 3], ["ok", "info", "fail"],
                        2, 4, (-6, 10), 2)
    ss = _SubsetSums(list(h.ops), {})
    for r in (o for o in h.ops if o.f == "read"):
        if r.ret_index < ss.any_from:
            continue
        maybe = [o.value for o in h.ops if o.f == "add" and o.type != "fail"
                 and o.inv_index < r.ret_index]
        low, high = sum(d for d in maybe if d < 0), sum(d for d in maybe if d > 0)
        if low <= r.value <= high:
            assert _brute(h, r, False), (r, ss.any_from)


def test_any_subset_shortcut_is_taken_and_gaps_keep_the_search():
    ones = [(p, 1, "info", p, p + 0.5) for p in range(4)]
    ss = _SubsetSums(list(_history(ones + [(9, 5, "info", 9, 9.5)], []).ops), {})
    assert ss.any_from == 6  # the 4th +1's invocation (event 6): 4 ones bridge a +5 (0..9)
    ss = _SubsetSums(list(_history(ones[:3] + [(9, 5, "info", 9, 9.5)], []).ops), {})
    assert ss.any_from == float("inf")  # 3 ones: 4 is no sum of {1, 1, 1, 5}
    ss = _SubsetSums(list(_history([(0, 2, "info", 0, 1)], []).ops), {})
    assert ss.any_from == float("inf")  # no +1 at all: sums of 2s leave gaps
