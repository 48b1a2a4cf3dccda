"""One analysis of a history: groups ops by (session, key) and runs every session pass."""

from __future__ import annotations

from typing import Any, NamedTuple

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import VersionIndex, build_indexes, gc_paused
from splitbrain.harness.history import History, Op
from splitbrain.checkers.session import native
from splitbrain.checkers.session.findings import MR, MW, RYW, WFR, _Found, _inv
from splitbrain.checkers.session.cross_key import _pass_cross_key
from splitbrain.checkers.session.floors import _count, _pass_floors
from splitbrain.checkers.session.graph import _pass_cycles
from splitbrain.checkers.session.lists import list_floors, list_plan
from splitbrain.checkers.session.sets import (
    _pass_set_session, _pass_set_visibility, _set_visibility_judge)


def analyse(history: History, options: CheckOptions, indexes: dict | None = None) -> _Found:
    """Every session finding of `history`; `indexes`: its version indexes, if built."""
    with gc_paused():
        return _analyse(history, options, indexes)


def _analyse(history: History, options: CheckOptions, indexes: dict | None = None) -> _Found:
    if indexes is None:
        indexes = build_indexes(history, options.workload, options.version_tiebreak)
    by_session_ops = options.continue_session_after_info
    found = _Found()
    groups: dict[tuple, list[Op]] = {}
    snapshots = False
    plans: dict = {}  # set key -> what the Rust core proved (session/native.py)
    lplans: dict = {}  # list key -> what the Rust core proved (session/lists.py)
    counted: dict = {}  # versioned/list key -> what its Rust index build proved (counts)
    for k, ix in indexes.items():
        plan = _native_plan(ix, by_session_ops) if ix.kind == "set" else None
        if plan is not None:
            plans[k] = plan
            continue
        if ix.kind == "list" and ix.native is not None:  # list_index proved it (its counts)
            got = _native_register(ix, by_session_ops)
            if got is not None:
                counted[k] = got
                continue
        lplan = list_plan(ix, by_session_ops) if ix.kind == "list" else None
        if lplan is not None:  # session/lists.py: the Rust list floors
            lplans[k] = lplan
            continue
        if ix.kind == "versioned" and not ix.snapshot_values and not ix.duplicates:
            got = _native_register(ix, by_session_ops)
            if got is not None:
                counted[k] = got
                continue
        if ix.snapshot_values:
            snapshots = True
        _group_key(ix, k, by_session_ops, groups)
    skip = {k for k, ix in indexes.items() if ix.duplicates}
    found.skipped_keys = sorted(map(repr, skip))
    set_groups: dict[Any, list] = {}
    set_mem: dict[Any, dict] = {}  # key -> read index -> members, shared by both set passes
    by_key: dict[Any, list] = {}   # groups is contiguous per key, keys in index order
    for (s, k), ops in groups.items():
        by_key.setdefault(k, []).append((s, ops))
    # key by key in index order, so findings keep the order of one walk over `groups`
    for k, ix in indexes.items():
        if k in skip:
            continue
        if k in plans:
            _native_set_session(found, ix, plans[k])
            continue
        if k in lplans:
            list_floors(found, ix, lplans[k], options)
            continue
        if k in counted:
            sessions, n_r, un_r, n_w, un_w = counted[k]
            found.sessions.update(sessions)
            _count(found, n_r, un_r, n_w, un_w)
            continue
        for s, ops in by_key.get(k, ()):
            found.sessions.add(s)
            if ix.kind == "set":
                set_groups.setdefault(k, []).append((s, ops))
                _pass_set_session(found, ix, s, ops, set_mem.setdefault(k, {}))
            else:
                _pass_floors(found, ix, s, ops, options)
    for k, ix in indexes.items():
        if k in plans:
            _native_set_visibility(found, ix, plans[k])
        elif k in set_groups:
            _pass_set_visibility(found, ix, set_groups[k], set_mem.get(k, {}))
    # in first-touch order, not hash order: notices are listed in the order found
    plain_keys = dict.fromkeys(k for (s, k) in groups if k not in skip and k in indexes
                               and indexes[k].kind == "plain")
    if plain_keys:
        _pass_cycles(found, indexes, groups, plain_keys)
    if snapshots:
        _pass_cross_key(found, history, indexes, skip, by_session_ops)
    return found


_SESSION_FS = frozenset(("read", "write", "cas", "append", "add"))


def _group_key(ix: VersionIndex, k: Any, by_session_ops: bool, groups: dict) -> None:
    """One key's session ops into `groups[(session, k)]` (by process, then epochs)."""
    # group by process (cheap int hash), then split epochs when a process has several
    by_p: dict = {}
    get = by_p.get
    for op in ix.ops:
        t = op.type
        if t == "fail" or (t != "ok" and op.f == "read") or op.f not in _SESSION_FS:
            continue
        if op.extra is not None and "txn_of" in op.extra:
            continue  # a transaction's write: the transactional checker's business
        g = get(op.process)
        if g is None:
            by_p[op.process] = [op]
        else:
            g.append(op)
    if ix.snapshot_values:
        for op in ix.reads:
            if op.index in ix.snapshot_values:
                by_p.setdefault(op.process, []).append(op)
    for p, g in by_p.items():
        if ix.snapshot_values:
            g.sort(key=_inv)
        if by_session_ops or g[0].session == g[-1].session:
            groups[(g[0].session if not by_session_ops else p, k)] = g
        else:
            for op in g:
                groups.setdefault((op.session, k), []).append(op)


def _native_register(ix: VersionIndex, by_session_ops: bool) -> tuple | None:
    """(sessions, reads checked, reads unverifiable, writes checked, writes unverifiable)
    when the Rust core proved, while building this versioned or list key's index
    (registers_native.Facts, lists_native.ListFacts), every group `_group_key` makes of it sequential and
    cleared by `_clean_total_sequential` (whose counts these are: `_pass_floors` would
    report nothing); None: Python judges the key."""
    got = ix.native.session if ix.native is not None else None
    if got is None:
        return None
    by_session, by_process, *counts = got
    sessions = by_process if by_session_ops else by_session
    return None if sessions is None else (sessions, *counts)


class _Plan(NamedTuple):
    """What set_session_key proved for one set key, and the groups it could not clear."""

    sessions: list    # the session of each of the key's groups, in grouping order
    dirty: list       # positions of the groups `_pass_set_session` must judge
    n_reads: int      # reads the other groups count
    vis_checked: int  # reads `_pass_set_visibility` counts
    vis_fail: list    # positions in ix.reads failing its certificate
    groups: list      # [(session, ops)] as _group_key makes them, when anything failed


def _native_plan(ix: VersionIndex, by_session_ops: bool) -> _Plan | None:
    """The Rust core's certificate for one set key, or None (Python judges the key)."""
    if (native.KEY is None or ix.duplicates or ix.snapshot_values
            or type(ix._members) is not dict or type(ix.ops) is not list
            or type(ix.reads) is not list or type(ix.corrupt) is not set):
        return None
    got = (native.KEY(ix.ops, ix.reads, ix._members, ix.corrupt, by_session_ops)
           if ix._set_reads is None else
           native.KEY(ix.ops, ix.reads, ix._members, ix.corrupt, by_session_ops, ix._set_reads))
    if got is None:
        return None
    sessions, dirty, n_reads, vis_checked, vis_fail = got
    if len(set(sessions)) != len(sessions):
        return None  # groups merged under one session id: only the Python walk says how
    groups: list = []
    if dirty or vis_fail:
        g: dict = {}
        _group_key(ix, ix.key, by_session_ops, g)
        groups = [(s, ops) for (s, _), ops in g.items()]
        if [s for s, _ in groups] != sessions:
            return None  # never expected: the Python walk is the reference
    return _Plan(sessions, dirty, n_reads, vis_checked, vis_fail, groups)


def _native_set_session(found: _Found, ix: VersionIndex, plan: _Plan) -> None:
    """`_pass_set_session` of every group of a planned key: counts for the proven-clean
    groups, the Python pass itself on the others (in grouping order)."""
    found.sessions.update(plan.sessions)
    st = found.stats
    st[RYW]["reads_checked"] += plan.n_reads
    st[MR]["reads_checked"] += plan.n_reads
    mem: dict = {}
    for i in plan.dirty:
        s, ops = plan.groups[i]
        _pass_set_session(found, ix, s, ops, mem)


def _native_set_visibility(found: _Found, ix: VersionIndex, plan: _Plan) -> None:
    """`_pass_set_visibility` of a planned key: its findings come only from the reads
    failing the certificate (the others are counted), judged by the Python tables."""
    if not plan.sessions:
        return  # no session ops: passes.py never ran the pass on such a key
    st = found.stats
    st[MW]["reads_checked"] += plan.vis_checked
    st[WFR]["reads_checked"] += plan.vis_checked
    if plan.vis_fail:
        reads = ix.reads
        failing = [(reads[i], ix.members(reads[i])) for i in plan.vis_fail]
        mem = ix._members  # every read's members (the lazy set scan left some out)
        for r in reads:
            if r.index not in mem:
                mem[r.index] = ix.members(r)
        _set_visibility_judge(found, ix, plan.groups, mem, failing)

