"""The transaction graph machinery: Tarjan over the CSR against networkx, the order
edges (Elle's realtime-graph cases), cycle classification, walk splitting."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from splitbrain.checkers.transactions.graph import (PROCESS, REALTIME, RW, WR, WW, Edges, _split_walk,
                                         add_process_edges, add_realtime_edges, classify)
from splitbrain.harness.history import history_from_events


@pytest.mark.parametrize("seed", range(30))
def test_tarjan_matches_networkx(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    e = Edges(n)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for _ in range(rng.randint(0, 3 * n)):
        a, b = rng.randrange(n), rng.randrange(n)
        m = rng.choice([WW, WR, RW, PROCESS, REALTIME])
        e.add(a, b, m)
        if a != b and m & (WW | WR):
            g.add_edge(a, b)
    e.freeze()
    ours = sorted(sorted(c) for c in e.sccs(WW | WR))
    ref = sorted(sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1)
    assert ours == ref


def test_classify():
    assert classify([WW, WW]) == "G0"
    assert classify([WW, WR]) == "G1c"
    assert classify([WW, RW]) == "G-single-item"
    assert classify([RW, RW]) == "G2-item"
    assert classify([RW, WW, RW, WR]) == "G-nonadjacent-item"
    assert classify([RW, WW, WR, RW]) == "G2-item"  # last -> first is adjacent
    assert classify([WR, RW, PROCESS]) == "G-single-item-process"
    assert classify([WR, RW, PROCESS, REALTIME]) == "G-single-item-realtime"


def test_split_walk_into_simple_cycles():
    assert _split_walk([1, 2, 3]) == [[1, 2, 3]]
    pieces = _split_walk([1, 2, 3, 2, 4])  # 1 2 3 2 4 (-> 1): 2-3-2 and 1-2-4
    assert sorted(map(sorted, pieces)) == [[1, 2, 4], [2, 3]]


def _ops(spec):
    """spec: list of (process, invoke_at, complete_at or None for info); index order."""
    evs = []
    for p, (proc, inv, comp) in enumerate(spec):
        evs.append((inv, {"process": proc, "type": "invoke", "f": "txn",
                          "value": [["r", "x", None]]}))
        if comp is not None:
            evs.append((comp, {"process": proc, "type": "ok", "f": "txn",
                               "value": [["r", "x", []]]}))
    evs.sort(key=lambda t: t[0])
    out = []
    for i, (_, e) in enumerate(evs):
        e["index"] = i
        out.append(e)
    return history_from_events(out).ops


def _rt(ops):
    e = Edges(len(ops))
    add_realtime_edges(e, ops, bytearray(1 if o.type == "ok" else 0 for o in ops))
    e.freeze()
    return {(a, b) for a in range(len(ops)) for b, _ in e.out(a)}


def test_realtime_one_followed_by_two_concurrent():
    ops = _ops([(0, 0, 1), (1, 2, 5), (2, 3, 4)])
    assert _rt(ops) == {(0, 1), (0, 2)}


def test_realtime_is_a_transitive_reduction():
    ops = _ops([(0, 0, 1), (1, 2, 3), (2, 4, 5)])
    assert _rt(ops) == {(0, 1), (1, 2)}


def test_realtime_nothing_after_info():
    ops = _ops([(0, 0, None), (1, 2, 3), (2, 4, 5)])
    assert (0, 1) not in _rt(ops) and (0, 2) not in _rt(ops)
    assert _rt(ops) == {(1, 2)}


def test_process_edges_link_one_sessions_ok_txns():
    ops = _ops([(0, 0, 1), (1, 2, 3), (0, 4, 5)])
    e = Edges(len(ops))
    add_process_edges(e, ops, bytearray([1, 1, 1]))
    e.freeze()
    assert {(a, b) for a in range(3) for b, _ in e.out(a)} == {(0, 2)}


# Elle's core_test.clj realtime-graph-test, transcribed: event order -> expected edges
ELLE_REALTIME = [
    ("a a'", {}),
    ("a a' b b'", {"a": ["b"]}),
    ("a a' b b' c c'", {"a": ["b"], "b": ["c"]}),
    ("a a' b c c' b'", {"a": ["b", "c"]}),
    ("a b a' b' c c'", {"a": ["c"], "b": ["c"]}),
    ("a b b' a' c d c' d'", {"a": ["c", "d"], "b": ["c", "d"]}),
    ("a a' b d b' c d' c' e e'", {"a": ["b", "d"], "b": ["c"], "c": ["e"], "d": ["e"]}),
]


@pytest.mark.parametrize("order,expected", ELLE_REALTIME, ids=[o for o, _ in ELLE_REALTIME])
def test_elle_realtime_graph_cases(order, expected):
    names = sorted({t[0] for t in order.split()})
    evs = []
    for t in order.split():
        p = names.index(t[0])
        done = t.endswith("'")
        evs.append({"index": len(evs), "process": p, "type": "ok" if done else "invoke",
                    "f": "txn", "value": [["r", "x", [] if done else None]]})
    ops = history_from_events(evs).ops
    name_of = {i: names[op.process] for i, op in enumerate(ops)}
    got: dict = {}
    for a, b in _rt(ops):
        got.setdefault(name_of[a], []).append(name_of[b])
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}


def test_an_append_read_only_in_an_incompatible_read_gets_no_after_the_last_edge():
    """Failover shape (a real Sentinel run): the longest read of k is [2, 3], another
    read saw [1]. Append 1 is not in the chosen order, but it *was* read, so "never read,
    hence after the last observed element 3" is no basis for a ww (or rw) edge: a cycle
    through it was reported whose witness could not be replayed."""
    from splitbrain.checkers.transactions.list_append import ListAppend
    from splitbrain.checkers.transactions.txn import Txns
    from splitbrain.harness.history import history_from_events

    txns = [(0, [["append", "k", 1]]), (1, [["append", "k", 2]]),
            (2, [["append", "k", 3]]), (3, [["r", "k", [2, 3]]]), (4, [["r", "k", [1]]])]
    evs = []
    for p, v in txns:
        evs.append({"index": len(evs), "process": p, "type": "invoke", "f": "txn",
                    "value": [[f, k, None if f == "r" else x] for f, k, x in v]})
        evs.append({"index": len(evs), "process": p, "type": "ok", "f": "txn", "value": v})
    t = Txns(history_from_events(evs))
    inf = ListAppend(t).run()
    assert "incompatible-order" in {a.type for a in inf.anomalies}
    inf.edges.freeze()
    v1 = next(v for v, op in enumerate(t.vertices) if op.value[0][2] == 1
              and op.value[0][0] == "append")
    into_v1 = [u for u in range(len(t.vertices)) for x, _ in inf.edges.out(u) if x == v1]
    assert into_v1 == [], into_v1
