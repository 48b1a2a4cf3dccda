"""Set membership: RYW and MR per session, MW/WFR visibility across sessions (checker-spec
§3.1c-§3.4 for sets).
"""

from __future__ import annotations

from itertools import filterfalse, islice, repeat
from typing import Any

from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import VersionIndex
from splitbrain.checkers.versions import frozen as _fz
from splitbrain.harness.history import Op
from splitbrain.checkers.session.findings import (
    MR, MW, RYW, WFR, _RET, _SECOND, _Found, _sequential, _steps, _suspect, _uniq)


def _pass_set_session(found: _Found, ix: VersionIndex, s: Any, ops: list[Op],
                      mem: dict) -> None:
    """RYW (own acked adds not yet seen by the session ⊆ read) and MR (floor ⊆ read).

    checker-spec §3.1c/§3.2 for sets. A read is judged at its invocation against what the
    session had completed before it (§3.5); its completion then raises the floor.
    """
    pending: dict = {}            # element -> own acked add not yet seen in a session read
    own_seen: dict = {}           # element -> own acked add a session read has shown
    floor: set = set()
    floor_src: dict = {}          # element -> first session read that showed it
    corrupt = ix.corrupt
    members = ix.members
    n_reads = 0
    if _sequential(ops):
        # each op is judged and completes before the next one: one step per op
        for op in ops:
            f = op.f
            if f == "read":
                if op.index in corrupt:
                    continue
                m = mem[op.index] = members(op)  # ix.members is pure: once per read
                if m is None:
                    continue
                n_reads += 1
                if pending:
                    _set_ryw_pending(found, ix, op, m, pending)
                below = floor <= m
                if not below:
                    _set_floor_broken(found, ix, op, m, floor, floor_src, own_seen)
                if pending:  # own_seen is only looked up by element: pop order is free
                    for e in [e for e in pending if e in m]:
                        own_seen[e] = pending.pop(e)
                # |m| - |floor| new elements when the floor held (the common case)
                if not below or len(m) > len(floor):
                    _raise_floor(floor, floor_src, m, op)
            elif f == "add" and op.type == "ok":
                _own_add(op, floor, pending, own_seen)
    else:
        for op, done in _steps(ops):
            if op.f == "read":
                if op.index in corrupt:
                    continue
                if not done:
                    m = mem[op.index] = members(op)
                    if m is None:
                        continue
                    n_reads += 1
                    if pending:
                        _set_ryw_pending(found, ix, op, m, pending)
                    if floor and not floor <= m:
                        _set_floor_broken(found, ix, op, m, floor, floor_src, own_seen)
                else:
                    m = mem[op.index] if op.index in mem else members(op)
                    if m is None:
                        continue
                    if pending:
                        for e in [e for e in pending if e in m]:
                            own_seen[e] = pending.pop(e)
                    _raise_floor(floor, floor_src, m, op)
            elif op.f == "add" and done and op.type == "ok":
                _own_add(op, floor, pending, own_seen)
    st = found.stats
    st[RYW]["reads_checked"] += n_reads
    st[MR]["reads_checked"] += n_reads


def _own_add(op: Op, floor: set, pending: dict, own_seen: dict) -> None:
    """An own acked add: pending until a session read shows it (or already shown)."""
    e = op.value
    if e is not None:
        fe = _fz(e)
        if fe not in floor:
            pending[fe] = op
        else:
            own_seen[fe] = op


def _raise_floor(floor: set, floor_src: dict, m: frozenset, op: Op) -> None:
    # floor's iteration order names MR's first missing element: insert the new elements
    # in m's order, as one-by-one adds did
    # (a list, so the set is built by single inserts exactly as before)
    new = m.difference(floor)
    if new:
        if len(new) == len(m):
            new = list(m)
        elif len(new) > 1:
            new = [e for e in m if e in new]
        else:
            new = list(new)
        floor.update(new)
        floor_src.update(dict.fromkeys(new, op))


def _set_ryw_pending(found: _Found, ix: VersionIndex, op: Op, m: frozenset,
                     pending: dict) -> None:
    """§3.1c: an own acked add the session has not seen yet is missing from this read."""
    for e in [e for e in pending if e not in m]:
        w = pending.pop(e)
        found.add(RYW, Anomaly(
            RYW, f"Process {w.process} added {e!r} to {ix.key!r} (op {w.index}, ok); "
                 f"its later read op {op.index} does not contain it.",
            [w.index, op.index], key=ix.key, process=op.process,
            details={"roles": {"write": w.index, "read": op.index}, "missing": e}))


def _set_floor_broken(found: _Found, ix: VersionIndex, op: Op, m: frozenset, floor: set,
                      floor_src: dict, own_seen: dict) -> None:
    """§3.2 for sets: elements an earlier session read showed are missing (MR), and an
    own acked add seen before and missing now is a RYW violation too (§3.1c)."""
    miss = [e for e in floor if e not in m]
    for e in miss:
        w = own_seen.pop(e, None)
        if w is not None:  # an own acked add, seen before, now missing
            found.add(RYW, Anomaly(
                RYW, f"Process {w.process} added {e!r} to {ix.key!r} (op {w.index}, "
                     f"ok); its later read op {op.index} does not contain it.",
                [w.index, op.index], key=ix.key, process=op.process,
                details={"roles": {"write": w.index, "read": op.index},
                         "missing": e}))
    r1 = floor_src[miss[0]]
    w = ix.writer(miss[0])
    found.add(MR, Anomaly(
        MR, f"Process {op.process} read {ix.key!r} containing {miss[0]!r} "
            f"(op {r1.index}), then a read without it (op {op.index})"
            + (f"; {len(miss)} elements vanished" if len(miss) > 1 else "") + ".",
        _uniq([r1.index, op.index, w.index if w else None]), key=ix.key,
        process=op.process,
        details={"roles": {"r1": r1.index, "r2": op.index},
                 "missing": miss[:16], "missing_count": len(miss), "count": 1}))


def _set_visibility_tables(ix: VersionIndex, sessions: list, mem: dict) -> tuple:
    """(info.get, per_session) of `_pass_set_visibility`: per session, adds in session
    order with their ok-before counts and floor ordinals, and first-seen ordinals of the
    elements its reads showed (every session read's members are in `mem`)."""
    import bisect

    info: dict = {}  # element -> (session id, number, add op)
    per_session: dict = {}
    for s, ops in sessions:
        adds = [o for o in ops if o.f == "add"]
        seq = _sequential(ops)
        ok_rets = sorted(o.ret_index for o in adds if o.type == "ok")
        rd = sorted((o for o in ops if o.f == "read" and o.index not in ix.corrupt), key=_RET)
        rets = list(map(_RET, rd))
        first_seen: dict = {}      # element -> ordinal (1-based) of the first read showing it
        first_read: dict = {}      # element -> that read
        prefix = [0]               # prefix[q] = #elements first seen by reads 1..q
        seen_before = first_seen.__contains__
        for q, r in enumerate(rd, 1):
            # the elements this read shows first, in the read's iteration order (C-level)
            new = list(filterfalse(seen_before, mem[r.index] or ()))
            if new:
                first_seen.update(dict.fromkeys(new, q))
                first_read.update(dict.fromkeys(new, r))
            prefix.append(len(first_seen))
        ok_before, floor_q = [], []
        n_ok = 0
        for j, a in enumerate(adds):
            ok_before.append(n_ok if seq else bisect.bisect_left(ok_rets, a.inv_index))
            if a.type == "ok":
                n_ok += 1
            floor_q.append(bisect.bisect_left(rets, a.inv_index))
            if a.value is not None:
                info[_fz(a.value)] = (s, j, a.type == "ok")
        per_session[s] = (adds, ok_before, floor_q, seq, first_seen, first_read, prefix)
    return info.get, per_session


def _pass_set_visibility(found: _Found, ix: VersionIndex, sessions: list, mem: dict) -> None:
    """MW (§3.3c sets: per-session prefix of acked adds) and WFR (session floor at w2).

    Per session, every element its reads showed gets the ordinal of the first read that
    showed it (reads in completion order), with prefix counts; an add's floor is "ordinal
    ≤ q" where q = reads completed before its invocation. A read R containing add j must
    contain the whole floor: a count over R's elements, O(|R|) per session in R.
    """
    import bisect

    corrupt = ix.corrupt
    # (element, index) of every event that can oblige a read to contain the element: an
    # ok add's completion (MW's w1) and a session read's completion showing it (WFR's
    # floor). Both rules only bind R to elements whose event precedes R's completion
    # (w1 ≺ w2 ≤ R, floor reads ≺ w2 ≤ R), so a read containing every element with an
    # event before its completion can have no MW/WFR finding: proven once per read in C,
    # and the per-session tables are built only if some read needs them (issue 16: this
    # pass dominated the checkers).
    #
    # Sharper still: both rules bind R only through an add w2 ∈ R of these sessions and
    # only to elements whose event precedes w2's invocation, so the elements due before
    # the latest invocation of any add whose element R shows are enough (a stale read
    # that misses only newer adds needs no tables).
    events: list = []
    rd_all = []
    add_inv: dict = {}  # element -> latest invocation index of an add of it (any type)
    for s, ops in sessions:
        for o in ops:
            if o.f == "add":
                fe = _fz(o.value)
                if o.type == "ok":
                    events.append((fe, o.ret_index))
                if o.value is not None and add_inv.get(fe, -1) < o.inv_index:
                    add_inv[fe] = o.inv_index
            elif o.f == "read" and o.index not in corrupt:
                rd_all.append(o)
    rd_all.sort(key=_RET)
    first: dict = {}  # element -> completion index of the earliest session read showing it
    shown: set = set()  # first's keys (only the certificate below reads either)
    for r in rd_all:
        m = mem[r.index] if r.index in mem else ix.members(r)
        mem[r.index] = m
        if m:
            new = m.difference(shown)
            if new:
                shown.update(new)
                first.update(dict.fromkeys(new, r.ret_index))
    events.extend(first.items())
    st = found.stats
    failing: list = []
    # earliest event per element (reversed: the earliest assignment is the last), then the
    # elements in the order of their earliest event
    events.sort(key=_SECOND)
    earliest = sorted(dict(reversed(events)).items(), key=_SECOND)
    due = [e for e, _ in earliest]
    due_at = [t for _, t in earliest]
    add_inv_get = add_inv.get
    for R in ix.reads:
        if R.index in ix.corrupt:
            continue
        m = mem[R.index] if R.index in mem else ix.members(R)
        if not m:
            continue
        st[MW]["reads_checked"] += 1
        st[WFR]["reads_checked"] += 1
        bound = max(map(add_inv_get, m, repeat(-1)))
        if m.issuperset(islice(due, bisect.bisect_left(due_at, bound))):
            continue
        failing.append((R, m))
    if failing:
        _set_visibility_judge(found, ix, sessions, mem, failing)


def _set_visibility_judge(found: _Found, ix: VersionIndex, sessions: list, mem: dict,
                          failing: list) -> None:
    """The MW/WFR findings of the reads `(R, members)` that failed the certificate of
    `_pass_set_visibility`, in ix.reads order (`mem`: members of every session read)."""
    info_get, per_session = _set_visibility_tables(ix, sessions, mem)
    seen_mw: set = set()
    seen_wfr: set = set()
    for R, m in failing:
        best: dict = {}
        best_get = best.get
        present_ok: dict = {}
        for got in map(info_get, m):
            if got is None:
                continue
            s, j, ok = got
            if j > best_get(s, -1):
                best[s] = j
            if ok:
                p = present_ok.get(s)
                if p is None:
                    present_ok[s] = [j]
                else:
                    p.append(j)
        for s, j in best.items():
            adds, ok_before, floor_q, seq, first_seen, first_read, prefix = per_session[s]
            w2 = adds[j]
            if w2.inv_index > R.ret_index:
                continue  # a future read; integrity reports it
            need = ok_before[j]
            if seq:
                # j is the largest number present for s (each number has one element), so
                # "present ok adds numbered below j" is all of them but j itself
                pok = present_ok.get(s)
                have = (len(pok) - (1 if pok[-1] == j or j in pok else 0)) if pok else 0
            else:
                have = sum(1 for x in present_ok.get(s, ())
                           if x < j and adds[x].ret_index < w2.inv_index)
            if have < need:
                for w1 in adds[:j]:
                    if (w1.type == "ok" and w1.ret_index < w2.inv_index
                            and _fz(w1.value) not in m and w1.index not in seen_mw):
                        seen_mw.add(w1.index)
                        found.add(MW, Anomaly(
                            MW, f"Process {w1.process} added {w1.value!r} (op {w1.index}, ok) and "
                                f"then {w2.value!r} (op {w2.index}) to {ix.key!r}; read "
                                f"op {R.index} shows {w2.value!r} but not {w1.value!r}.",
                            [w1.index, w2.index, R.index], key=ix.key, process=w2.process,
                            details={"roles": {"w1": w1.index, "w2": w2.index, "evidence": R.index},
                                     "kind": "visibility"}), _suspect(w1, w2))
                        break
            q = floor_q[j]
            if q == 0:
                continue
            # "fewer of m's elements were first seen by reads 1..q than there are such
            # elements" == "one of the first prefix[q] first-seen elements is not in m"
            if not m.issuperset(islice(first_seen, prefix[q])):
                miss = next(e for e, o in first_seen.items() if o <= q and e not in m)
                r1 = first_read[miss]
                if (r1.index, w2.index) in seen_wfr:
                    continue
                seen_wfr.add((r1.index, w2.index))
                ow = ix.writer(miss)
                found.add(WFR, Anomaly(
                    WFR, f"Process {w2.process} read {ix.key!r} containing {miss!r} "
                         f"(op {r1.index}) and then added {w2.value!r} (op {w2.index}); "
                         f"read op {R.index} shows {w2.value!r} but not {miss!r}.",
                    _uniq([r1.index, ow.index if ow else None, w2.index, R.index]),
                    key=ix.key, process=w2.process,
                    details={"roles": {"r1": r1.index, "w2": w2.index, "evidence": R.index,
                                       "observed_writer": ow.index if ow else None},
                             "missing": miss}), _suspect(r1, w2))


