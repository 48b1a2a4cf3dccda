"""The set workload's checker functions as they were before the issue-16 item-5 speed-up
(versions._build_set, lost_updates._Job._set_timeline and _presence, convergence's
_admissible_set/_admissible_members/_norm_set), kept verbatim as the reference the
differential tests (test_sets_differential.py) compare the fast paths against."""

from __future__ import annotations

from typing import Any

from splitbrain.checkers import lost_updates as _lu
from splitbrain.checkers.lost_updates import TIMELINE_BUDGET, _ATOMS, _fz as _lu_fz
from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import (_SIMPLE_T, VersionIndex, _ValueAudit,
                                          _elements_audit, _fz, _read_elements)
from splitbrain.harness.history import Op, freeze


def build_set(ix: VersionIndex) -> None:
    """Audit every read's elements and keep its members (`ix.members`, built once here).

    Same findings as `_read_elements` + `_elements_audit` per read, with the frozenset
    (what `members` returns) as the duplicate test and the fast C-level audit; the
    element-order paths only for the rare read that needs them."""
    audit = _ValueAudit(ix)
    # see _build_list: the C-level test that every `audit.check` would pass
    winv = {e: w.inv_index for e, w in ix._writer.items() if w.type != "fail"}
    winv_get = winv.get
    simple = _SIMPLE_T
    snap = ix._obs
    mem: dict[int, frozenset | None] = {}
    empty = frozenset()
    for r in ix.reads:
        i = r.index
        v = r.value if r.f == "read" and i not in snap else ix.observed(r)
        if v is None:
            mem[i] = empty
            continue
        if not isinstance(v, (list, tuple)):
            mem[i] = None
            ix.corrupt.add(i)
            continue
        atoms = simple.issuperset(map(type, v))
        m = mem[i] = frozenset(v) if atoms else frozenset(map(_fz, v))
        if len(m) != len(v):  # an element twice: _read_elements reports and marks it
            elems = _read_elements(ix, r, simple, snap)
            if elems is not None:
                _elements_audit(audit, winv_get, r, elems)
            continue
        if m:
            invs = list(map(winv_get, m))
            if None in invs or max(invs) > r.ret_index:
                for e in (v if atoms else map(_fz, v)):
                    audit.check(r, e)  # reported; the read stays usable
    ix._members = mem
    audit.flush()


def set_timeline(self, key: Any, ops: list[Op], attempts: dict[Any, Op]) -> None:
    """set-full's per-element stable/lost latencies, as stats (§5.1(a), O(Σ|read|))."""
    reads = [r for r in ops if r.f == "read" and r.type == "ok"
             and isinstance(r.value, (list, tuple))]
    if sum(len(r.value) for r in reads) > TIMELINE_BUDGET:
        self.stats["set_full"] = "skipped: reads too large"
        return
    reads.sort(key=lambda r: r.inv_index)
    atoms = _ATOMS
    # the set index's members of each read when the analysis built them (the same
    # frozensets, built once), else built here
    ix = (self.a.built("indexes") or {}).get(key)
    known = ix._members if ix is not None and ix._members is not None else {}
    members = [known.get(r.index) or (
               frozenset(r.value) if atoms.issuperset(map(type, r.value))
               else frozenset(_lu_fz(e) for e in r.value)) for r in reads]
    first, last, last_absent = presence(members)
    n = len(reads)
    tail = members[-1] if members else frozenset()
    stable_lat, lost_lat = [], []
    never_read = 0
    for e, w in attempts.items():
        if w.type == "fail":
            continue
        p0 = first.get(e)
        known_t = w.t_ret if w.type == "ok" else float("inf")
        known_i = w.ret_index
        if p0 is not None and reads[p0].ret_index < known_i:
            known_t, known_i = reads[p0].t_ret, reads[p0].ret_index
        last_p = last.get(e)
        # the last read that does not contain e
        j = last_absent.get(e, -1) if e in tail else n - 1
        last_a = j if j >= 0 and reads[j].inv_index > w.inv_index else None
        if last_p is not None and (last_a is None or last_a < last_p):
            t_stable = reads[last_a].t_inv + 1 if last_a is not None else 0
            stable_lat.append(max(0, t_stable - known_t) if known_t != float("inf") else 0)
        elif (known_t != float("inf") and last_a is not None
              and reads[last_a].inv_index > known_i):
            t_lost = reads[last_p].t_inv + 1 if last_p is not None else 0
            lost_lat.append(max(0, t_lost - known_t))
        else:
            never_read += 1
    self.stable_lat.extend(stable_lat)
    self.lost_lat.extend(lost_lat)
    self.never_read += never_read
    self.timeline_done = True


def presence(members: list[frozenset]) -> tuple[dict, dict, dict]:
    """Per element: the first and the last read (position in `members`) containing it, and,
    for elements of the last read, the last read *not* containing it (absent: -1 when every
    read from its first on does). O(Σ|read|) with set operations instead of one Python
    step per element of every read."""
    first: dict = {}
    seen: set = set()
    for i, m in enumerate(members):
        new = m.difference(seen)  # usually empty or one element
        if new:
            seen.update(new)
            first.update(dict.fromkeys(new, i))
    last: dict = {}
    seen = set()
    for i in range(len(members) - 1, -1, -1):
        new = members[i].difference(seen)
        if new:
            seen.update(new)
            last.update(dict.fromkeys(new, i))
    last_absent: dict = {}
    run = set(members[-1]) if members else set()
    j = len(members) - 2
    while run and j >= 0:
        gone = run.difference(members[j])
        if gone:
            last_absent.update(dict.fromkeys(gone, j))
            run.difference_update(gone)
        j -= 1
    return first, last, last_absent


def norm_set(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        if _ATOMS.issuperset(map(type, v)):
            return frozenset(v)  # nothing to freeze: built in C
        return frozenset(freeze(e) for e in v)
    return frozenset() if v is None else freeze(v)


def admissible_set(key, writes: list[Op], finals: list[Op], anomalies: list[Anomaly],
                    covers=lambda w: True) -> None:
    v = finals[0].value
    members = frozenset(freeze(e) for e in v) if isinstance(v, (list, tuple)) else frozenset()
    admissible_members(key, [w for w in writes if w.f == "add"], members, finals, anomalies,
                        "add", covers)


def admissible_members(key, writes: list[Op], members: frozenset, finals: list[Op],
                        anomalies: list[Anomaly], f: str, covers=lambda w: True) -> None:
    ids = [o.index for o in finals]
    attempted: dict[Any, Op] = {}
    for w in writes:
        e = freeze(w.value)
        prev = attempted.get(e)
        if prev is not None and "retry_of" not in (w.extra or {}) and "retry_of" not in (prev.extra or {}):
            return  # duplicate values: unjudgeable (P1), the integrity checker says so
        if prev is None or w.type == "ok":
            attempted[e] = w
    missing = [w for w in attempted.values() if w.type == "ok" and freeze(w.value) not in members
               and covers(w)]
    if missing:
        anomalies.append(Anomaly(
            "lost",
            f"{key!r} converged without {len(missing)} acknowledged element(s), e.g. "
            f"{missing[0].value!r} ({missing[0].describe()})",
            [missing[0].index] + ids, key, None,
            {"roles": {"write": missing[0].index, "final_reads": ids},
             "missing": [freeze(w.value) for w in missing[:50]], "missing_count": len(missing)}))
    extra = [e for e in members if e not in attempted]
    if extra:
        anomalies.append(Anomaly(
            "unexpected",
            f"{key!r} converged to a value holding {len(extra)} element(s) no operation "
            f"attempted to {f}, e.g. {extra[0]!r}", ids, key, None,
            {"roles": {"final_reads": ids}, "unexpected": extra[:50]}))
    aborted = [w for e, w in attempted.items() if e in members and w.type == "fail"]
    if aborted:
        anomalies.append(Anomaly(
            "aborted-present",
            f"{key!r} converged to a value holding {aborted[0].value!r}, whose "
            f"{f} ({aborted[0].describe()}) failed", [aborted[0].index] + ids, key, None,
            {"roles": {"write": aborted[0].index, "final_reads": ids},
             "aborted_count": len(aborted)}))


def writes_by_key(ops: list[Op]) -> dict[Any, list[Op]]:
    """convergence._writes_by_key as it was (over single_key_ops, not the groups)."""
    from splitbrain.checkers.convergence import WRITE_FS

    out: dict[Any, list[Op]] = {}
    for op in ops:  # transactions' writes count (issue 10 item 4)
        if op.f in WRITE_FS and type(op.key) is not tuple:
            out.setdefault(op.key, []).append(op)
    return out


def collection(self, key: Any, ops: list[Op], f: str, timeline: bool) -> None:
    """lost_updates._Job._collection before the C-level fast paths."""
    writes = [op for op in ops if op.f == f]
    if not writes:
        return
    self.stats["keys"] += 1
    attempts: dict[Any, Op] = {}
    dup = None
    for w in writes:
        e = _lu_fz(w.value)
        prev = attempts.get(e)
        if prev is not None and not _lu._retry(prev, w):
            dup = (e, [prev, w])
            break
        if prev is None or _lu._strength(w) > _lu._strength(prev):
            attempts[e] = w
    if dup is not None:
        self._duplicates(key, *dup)
        return
    acked = [w for w in attempts.values() if w.type == "ok"]
    self.stats["acked"] += len(acked)
    if timeline:
        self._set_timeline(key, ops, attempts)
    got = self._final_union(key)
    if got is None:
        self._no_final(key)
        return
    present, finals = got
    self.stats["keys_judged"] += 1
    final_ids = [r.index for r in finals]
    covers = self.fin.covers
    lost = [w for w in acked if _lu_fz(w.value) not in present and covers(key, w)]
    if lost:
        last_seen = _lu._last_containing(ops, {_lu_fz(w.value) for w in lost})
        for w in lost:
            e = _lu_fz(w.value)
            seen = last_seen.get(e)
            ops_ = [w.index] + ([seen.index] if seen is not None else []) + final_ids
            what = "added" if f == "add" else "appended"
            self.anomalies.append(Anomaly(
                "lost",
                f"{w.describe()} {what} {e!r} to {key!r} and was acknowledged, but no "
                f"node's final read contains it (final reads: ops "
                f"{', '.join(map(str, final_ids))})"
                + (f"; it was last seen by op {seen.index}" if seen is not None
                   else "; no read ever saw it"),
                ops_, key, w.process,
                {"roles": {"write": w.index, "last_present": seen.index if seen else None,
                           "final_reads": final_ids}, "element": e}))
        self.stats["lost"] += len(lost)
        self.lost_elements.extend(_lu_fz(w.value) for w in lost)
    for e, r in present.items():
        w = attempts.get(e)
        if w is None:
            self.stats["unexpected"] += 1
            self.anomalies.append(Anomaly(
                "unexpected",
                f"final read {r.describe()} of {key!r} contains {e!r}, which no "
                f"operation ever tried to {f}", [r.index], key, r.process,
                {"roles": {"final_read": r.index}, "element": e}))
        elif w.type == "fail":
            self.stats["aborted_present"] += 1
            self.anomalies.append(Anomaly(
                "aborted-present",
                f"final read {r.describe()} of {key!r} contains {e!r}, but its "
                f"{f} ({w.describe()}) failed, i.e. definitely did not take effect",
                [w.index, r.index], key, r.process,
                {"roles": {"write": w.index, "final_read": r.index}, "element": e}))
        elif w.type == "info":
            self.stats["recovered"] += 1


def quiet_time(history) -> float:
    """convergence._quiet_time before the C-level max."""
    from splitbrain.checkers.convergence import WRITE_FS

    t = 0
    for ev in history.nemesis:
        tv = ev.get("time")
        if isinstance(tv, (int, float)) and tv > t:
            t = tv
    for op in history.ops:
        if op.f in WRITE_FS:
            tv = op.t_ret_seen if op.t_ret_seen is not None else op.t_inv
            if tv > t:
                t = tv
    return t


def index_writers(ix: VersionIndex) -> None:
    """versions._index_writers before the C-level dict of distinct values."""
    from splitbrain.checkers.versions import _is_retry, _strength

    writer = ix._writer
    get = writer.get
    dups: dict[Any, list[Op]] = {}
    for op, v in zip(ix.writes, ix._wvals):
        if v is None:
            continue
        prev = get(v)
        if prev is None:
            writer[v] = op
            continue
        if _is_retry(prev, op):
            if _strength(op) > _strength(prev):
                writer[v] = op
            continue
        dups.setdefault(v, [prev]).append(op)
    for v, ops in dups.items():
        del writer[v]
        ix.duplicates.append((v, ops))
