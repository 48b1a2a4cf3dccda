"""One analysis of a history: groups ops by (session, key) and runs every session pass."""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import build_indexes, gc_paused
from splitbrain.harness.history import History, Op
from splitbrain.checkers.session.findings import _Found, _inv
from splitbrain.checkers.session.cross_key import _pass_cross_key
from splitbrain.checkers.session.floors import _pass_floors
from splitbrain.checkers.session.graph import _pass_cycles
from splitbrain.checkers.session.sets import _pass_set_session, _pass_set_visibility


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
    for k, ix in indexes.items():
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
            snapshots = True
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
    skip = {k for k, ix in indexes.items() if ix.duplicates}
    found.skipped_keys = sorted(map(repr, skip))
    set_groups: dict[Any, list] = {}
    set_mem: dict[Any, dict] = {}  # key -> read index -> members, shared by both set passes
    for (s, k), ops in groups.items():
        if k in skip:
            continue
        ix = indexes.get(k)
        if ix is None:
            continue
        found.sessions.add(s)
        if ix.kind == "set":
            set_groups.setdefault(k, []).append((s, ops))
            _pass_set_session(found, ix, s, ops, set_mem.setdefault(k, {}))
        else:
            _pass_floors(found, ix, s, ops, options)
    for k, sess in set_groups.items():
        _pass_set_visibility(found, indexes[k], sess, set_mem.get(k, {}))
    # in first-touch order, not hash order: notices are listed in the order found
    plain_keys = dict.fromkeys(k for (s, k) in groups if k not in skip and k in indexes
                               and indexes[k].kind == "plain")
    if plain_keys:
        _pass_cycles(found, indexes, groups, plain_keys)
    if snapshots:
        _pass_cross_key(found, history, indexes, skip, by_session_ops)
    return found


_SESSION_FS = frozenset(("read", "write", "cas", "append", "add"))

