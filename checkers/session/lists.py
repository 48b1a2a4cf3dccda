"""The list-append session floors' use of the Rust core (checkers/lists_native.py `SESSION`,
native/src/list_passes.rs `list_session_key`).

Rust groups one list key's session ops as `passes._group_key` does and proves which
sessions `_clean_total_sequential` clears (it only counts those); `_pass_floors` itself
runs on every other session, in grouping order, so every anomaly and explanation comes
from floors.py. None (Python groups and judges the whole key) when the core is missing or
declines, or for a key with snapshot reads or duplicate values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from splitbrain.checkers import lists_native
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import VersionIndex
from splitbrain.checkers.session.findings import _Found
from splitbrain.checkers.session.floors import _count, _pass_floors

# False: every list key takes the Python grouping and floors (the differential tests
# flip it to compare the two)
_LIST_FAST = True


class _Plan(NamedTuple):
    sessions: list   # the session of each of the key's groups, in grouping order
    counts: tuple    # (n_r, un_r, n_w, un_w) of the groups proven clean
    dirty: list      # positions of the groups `_pass_floors` must walk
    groups: list     # [(session, ops)] as _group_key makes them, when any is dirty


def list_plan(ix: VersionIndex, by_session_ops: bool) -> _Plan | None:
    """The Rust core's floors certificate for one list key, or None."""
    fn = lists_native.SESSION
    if (fn is None or not _LIST_FAST or ix.kind != "list" or ix.duplicates
            or ix.snapshot_values or type(ix.ops) is not list
            or type(ix.corrupt) is not set):
        return None
    got = fn(ix.ops, ix.read_versions, ix.write_versions, ix.corrupt, by_session_ops)
    if got is None:
        return None
    sessions, counts, dirty = got
    if len(set(sessions)) != len(sessions):
        return None  # groups merged under one session id: only the Python walk says how
    groups: list = []
    if dirty:
        from splitbrain.checkers.session.passes import _group_key

        g: dict = {}
        _group_key(ix, ix.key, by_session_ops, g)
        groups = [(s, ops) for (s, _), ops in g.items()]
        if [s for s, _ in groups] != sessions:
            return None  # never expected: the Python walk is the reference
    return _Plan(sessions, counts, dirty, groups)


def list_floors(found: _Found, ix: VersionIndex, plan: _Plan, options: CheckOptions) -> None:
    """`_pass_floors` of every group of a planned key: counts for the proven-clean
    groups, the Python pass itself on the others (in grouping order)."""
    found.sessions.update(plan.sessions)
    _count(found, *plan.counts)
    for i in plan.dirty:
        s, ops = plan.groups[i]
        _pass_floors(found, ix, s, ops, options)
