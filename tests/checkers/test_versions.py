"""The VersionIndex of checker-spec §2.3/§2.4: sources A (lists), B (versions), C (plain)."""

from __future__ import annotations

from splitbrain.checkers.versions import BOTTOM, build_index, build_indexes
from splitbrain.harness.history import history_from_events


def ev(index, process, type_, f, key, value, **extra):
    d = {"index": index, "process": process, "type": type_, "f": f, "key": key,
         "value": value, "time": index * 1000}
    d.update(extra)
    return d


def op2(i, p, f, v, key="x", typ="ok", **kw):
    return [ev(i, p, "invoke", f, key, None if f == "read" else v), ev(i + 1, p, typ, f, key, v, **kw)]


def idx(evs, workload=None):
    h = history_from_events(evs)
    return h, build_indexes(h, workload)


def test_list_order_from_longest_read():
    evs = (op2(0, 0, "append", 1) + op2(2, 0, "append", 2) + op2(4, 0, "append", 3)
           + op2(6, 1, "read", [1]) + op2(8, 1, "read", [1, 2]))
    h, ixs = idx(evs)
    ix = ixs["x"]
    assert ix.kind == "list" and ix.total and ix.order == [1, 2]
    ops = h.by_index()
    assert ix.ver(ops[1]) == 1 and ix.ver(ops[3]) == 2 and ix.ver(ops[5]) is None  # 3 unread
    assert ix.ver(ops[7]) == 1 and ix.ver(ops[9]) == 2
    assert ix.rank(ops[9]) == 2 and ix.max_rank == 2
    assert ix.writer(2) is ops[3] and ix.writer_at(2) is ops[3]
    assert ix.evidence(1) == 7 and ix.evidence(2) == 9
    assert ix.members(ops[9]) == frozenset({1, 2})
    assert ix.cmp(1, 2) == "<" and ix.cmp(2, 2) == "=" and ix.cmp(None, 2) is None
    assert ix.unverifiable_writes == 1


def test_single_unread_append_has_no_position():
    h, ixs = idx(op2(0, 0, "append", 1))
    assert ixs["x"].order == [] and ixs["x"].ver(h.ops[0]) is None


def test_versioned_dense_ranks_and_learned_versions():
    # write b acked without a version; a read reveals it (sparse global revisions).
    evs = (op2(0, 0, "write", "a", version=10) + op2(2, 1, "write", "b")
           + op2(4, 2, "read", "b", version=40) + op2(6, 2, "read", None))
    h, ixs = idx(evs)
    ix = ixs["x"]
    ops = h.by_index()
    assert ix.kind == "versioned" and ix.total
    assert ix.ver(ops[1]) == 1 and ix.ver(ops[3]) == 2 and ix.ver(ops[5]) == 2
    assert ix.ver(ops[7]) == 0  # ⊥
    assert ix.evidence(2) == 5 and ix.writer_at(2) is ops[3]


def test_versioned_unknown_write_is_unverifiable():
    evs = op2(0, 0, "write", "a", version=1) + op2(2, 1, "write", "b")
    h, ixs = idx(evs)
    assert ixs["x"].ver(h.by_index()[3]) is None and ixs["x"].unverifiable_writes == 1


def test_plain_register_partial_order():
    evs = (op2(0, 0, "write", "a") + op2(2, 1, "write", "b")
           + op2(4, 2, "cas", ["a", "c"]) + op2(6, 3, "read", None))
    h, ixs = idx(evs)
    ix = ixs["x"]
    ops = h.by_index()
    assert ix.kind == "plain" and not ix.total
    va, vb, vc = ix.ver(ops[1]), ix.ver(ops[3]), ix.ver(ops[5])
    assert (va, vb, vc) == ("a", "b", "c")
    assert ix.ver_observed(ops[5]) == "a" and ix.ver(ops[7]) is BOTTOM
    assert ix.cmp(BOTTOM, "a") == "<" and ix.cmp("a", "c") == "<" and ix.cmp("c", "a") == ">"
    assert ix.cmp("a", "b") is None and ix.rank(ops[1]) is None


def test_sets_have_members_but_no_order():
    evs = op2(0, 0, "add", 1, key="s") + op2(2, 1, "read", [1], key="s")
    h, ixs = idx(evs, "set")
    ix = ixs["s"]
    assert ix.kind == "set" and not ix.total and ix.members(h.by_index()[3]) == {1}
    assert ix.ver(h.by_index()[3]) is None


def test_snapshot_reads_feed_each_key():
    evs = (op2(0, 0, "write", "a") + op2(2, 1, "write", "b", key="y")
           + [ev(4, 2, "invoke", "read", ["x", "y"], None),
              ev(5, 2, "ok", "read", ["x", "y"], {"x": "a", "y": None})])
    h, ixs = idx(evs)
    snap = h.by_index()[5]
    assert ixs["x"].ver(snap) == "a" and ixs["y"].ver(snap) is BOTTOM
    assert ixs["x"].observed(snap) == "a"


def test_indexes_are_kept_by_the_analysis_not_the_history():
    # issue 16 item 5: derived tables live in the analysis context, History.meta holds
    # only facts of the input
    from splitbrain.checkers.analysis import Analysis
    from splitbrain.checkers.options import CheckOptions

    h, ixs = idx(op2(0, 0, "write", "a"))
    a = Analysis(h, CheckOptions())
    assert a.indexes is a.indexes and repr(a.indexes) == repr(ixs)
    assert not any(k.startswith("_") or k == "version_tiebreak" for k in h.meta)


def test_keys_never_mix():
    # P18: the same value on two keys maps to each key's own writer.
    evs = op2(0, 0, "write", "v") + op2(2, 1, "write", "v", key="y")
    h, ixs = idx(evs)
    assert ixs["x"].writer("v").key == "x" and ixs["y"].writer("v").key == "y"
    assert not ixs["x"].duplicates


def test_build_index_direct():
    h = history_from_events(op2(0, 0, "append", 1) + op2(2, 1, "read", [1]))
    ix = build_index("x", h.ops)
    assert ix.order == [1]
