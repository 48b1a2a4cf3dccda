"""Convergence / eventual consistency of the final reads (checker-spec §6).

Judged on the final reads (`final: true`, ok, tagged with the serving `node`), after
faults healed and writes stopped. Per key:

1. **converged** iff every node's *last* ok final read returns the same value V
   (`diverged` otherwise; witness: the last read of every node);
2. **convergence time**: the window after t0 = max(last nemesis event, last write
   completion) in which the key settled: `[t_inv(last disagreeing read) − t0,
   t_inv(next read) − t0]`, or `[0, t_inv(first final read) − t0]` when none disagreed;
3. **stability**: no node goes V → V' → V during the final phase (`flapping`);
4. **admissibility of V**: written by an ok/info write (`unexpected`, `aborted-present`
   otherwise); lists/sets ⊇ acknowledged elements (`lost`) and ⊆ attempted; versioned
   registers ver(V) ≥ max ver(acknowledged writes) (`stale-final`); plain registers:
   V's writer must be real-time maximal among ok writes — a violation (`superseded`)
   only when the store claims real-time order (`options.realtime_claim`), otherwise a
   notice, because sequential/eventual models may order the later write first (P10).

Obligations: a node with no ok final read of a key (while other nodes have one) is
unknown for that key and counted, never assumed to agree; the whole checker is unknown
only when the history has no ok final read at all (P15). info writes may land late, so
their values are admissible final values (§6(d)). Counters with negative deltas may
legitimately revisit a value while increments arrive, so they are not judged for flapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataclasses import replace
from operator import attrgetter

from splitbrain.checkers import registers_native, set_native
from splitbrain.checkers.analysis import Analysis
from splitbrain.checkers.distribution import percentile
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN
from itertools import compress
from operator import attrgetter

from splitbrain.harness.history import History, Op, freeze

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis

NAME = "convergence"
WRITE_FS = ("write", "cas", "append", "add", "incr")
_WRITE_F = frozenset(WRITE_FS)


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    analysis = Analysis.of(history, options, analysis)
    workload = analysis.workload
    if workload is None:
        from splitbrain.checkers import infer_workload

        workload = infer_workload(history)
    fin = analysis.final_reads
    if not fin.any:
        return {NAME: CheckResult(
            NAME, UNKNOWN, stats={"keys": 0},
            reason="no ok final read (final: true) in the history, so convergence cannot be "
                   "judged; final reads on every node after healing are needed (P15)")}
    t0 = _quiet_time(history)
    if workload != analysis.workload:  # inferred here: index by the inferred shape
        analysis = Analysis(history, replace(analysis.options, workload=workload))
    indexes = analysis.indexes if workload in ("register", "list-append") else {}
    # set keys take their writes from the built indexes where they can (`_set_writes`)
    set_ix = analysis.built("indexes") if workload == "set" else None
    writes_by_key = (_writes_by_key(analysis.groups[0])
                     if workload == "counter" or (workload == "set" and set_ix is None) else {})
    anomalies: list[Anomaly] = []
    notices: list[Anomaly] = []
    lat_lo: list[float] = []
    lat_hi: list[float] = []
    st = {"keys": 0, "converged": 0, "diverged": 0, "flapping": 0, "unknown_node_keys": 0,
          "keys_never_converged": []}
    negative_counter = workload == "counter" and any(
        isinstance(w.value, (int, float)) and w.value < 0
        for ws in writes_by_key.values() for w in ws)
    list_norm = _normaliser(workload)
    for key, per_node in fin.reads.items():
        st["keys"] += 1
        missing = fin.nodes - set(per_node)
        st["unknown_node_keys"] += len(missing)
        norm = list_norm
        if workload == "list-append" and _LIST_FAST:
            ix = indexes.get(key)
            if ix is not None and ix.native is not None:
                # list_index built the key (lists_native.ListFacts): every ok read of it,
                # so every final read, is a prefix of one list, so two of them are equal
                # exactly when they are as long (norm only ever compares, within a key)
                norm = _length
                same = ix.native.final_same if fin.assumption is None else None
                if same is not None:
                    # every final read of the key as long as the others: one value, so no
                    # flapping, converged, and `_latency` finds no disagreeing read
                    t_first, length = same
                    st["converged"] += 1
                    lat_lo.append(0)
                    lat_hi.append(max(0, t_first - t0))
                    if not (ix.native.nonfail_writes == len(ix.writes) == length):
                        finals = sorted((rs[-1] for rs in per_node.values()),
                                        key=lambda o: o.index)
                        _admissible_indexed(key, ix, finals, options, anomalies, notices,
                                            lambda w, key=key: fin.covers(key, w))
                    continue
        if set_ix is not None and _SET_FAST and _set_final_clean(
                key, per_node, analysis.groups[0], set_ix, t0, lat_lo, lat_hi):
            st["converged"] += 1
            continue
        if not (workload == "counter" and negative_counter):
            for node, rs in per_node.items():
                flap = _flap(rs, norm)
                if flap:
                    st["flapping"] += 1
                    a, b, c = flap
                    anomalies.append(Anomaly(
                        "flapping",
                        f"node {node} returned {_show(a)} (op {a.index}), then {_show(b)} "
                        f"(op {b.index}), then {_show(a)} again (op {c.index}) during the "
                        f"final phase of {key!r}: the value was not stable",
                        [a.index, b.index, c.index], key, None, {"node": node}))
        last = {node: rs[-1] for node, rs in per_node.items()}
        values = {}
        for node, r in last.items():
            values.setdefault(norm(r.value), []).append((node, r))
        if len(values) > 1:
            st["diverged"] += 1
            if len(st["keys_never_converged"]) < 50:
                st["keys_never_converged"].append(key)
            groups = "; ".join(
                f"{_show(rs[0][1])} on {', '.join(str(n) for n, _ in rs)}"
                for rs in values.values())
            anomalies.append(Anomaly(
                "diverged",
                f"the final reads of {key!r} never agreed: the last read on each node "
                f"returned {groups}",
                sorted(r.index for r in last.values()), key, None,
                {"by_node": {str(n): r.index for n, r in last.items()}}))
            continue
        st["converged"] += 1
        V, _ = next(iter(values.items()))
        lo, hi = _latency(per_node, V, norm, t0)
        lat_lo.append(lo)
        lat_hi.append(hi)
        finals = sorted(last.values(), key=lambda o: o.index)
        covers = lambda w, key=key: fin.covers(key, w)  # noqa: E731
        if workload in ("register", "list-append"):
            ix = indexes.get(key)
            if ix is not None:
                _admissible_indexed(key, ix, finals, options, anomalies, notices, covers)
        elif workload == "set":
            ws = (writes_by_key.get(key, []) if set_ix is None
                  else _set_writes(key, analysis.groups[0], set_ix))
            _admissible_set(key, ws, finals, anomalies, covers)
    lat_lo.sort()
    lat_hi.sort()
    st["latency_p50_ms"] = [_ms(percentile(lat_lo, 50)), _ms(percentile(lat_hi, 50))]
    st["latency_max_ms"] = [_ms(lat_lo[-1] if lat_lo else 0), _ms(lat_hi[-1] if lat_hi else 0)]
    st["nodes"] = sorted(str(n) for n in fin.nodes)
    anomalies.sort(key=lambda a: a.ops[0] if a.ops else -1)
    assumptions = ["unique-values"] + ([fin.assumption] if fin.assumption else [])
    if options.realtime_claim:
        assumptions.append("realtime-claim")
    res = CheckResult(NAME, not anomalies, anomalies, stats=st, assumptions=assumptions,
                      notices=notices)
    if not anomalies and st["unknown_node_keys"] and st["converged"] == 0:
        res.valid = UNKNOWN
        res.reason = "no key has an ok final read on every node"
    return {NAME: res}


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _quiet_time(history: History) -> float:
    """t0 = max(last nemesis event, last write completion of any type) (§6(a))."""
    t = 0
    for ev in history.nemesis:
        tv = ev.get("time")
        if isinstance(tv, (int, float)) and tv > t:
            t = tv
    native = registers_native.LAST_WRITE_TIME
    got = native(history.ops) if native is not None and type(history.ops) is list else None
    if got is not None:  # the loop below, by the Rust core (native/src/registers.rs)
        found, tv = got
        return tv if found and tv > t else t
    for op in history.ops:
        if op.f in WRITE_FS:
            tv = op.t_ret_seen if op.t_ret_seen is not None else op.t_inv
            if tv > t:
                t = tv
    return t


def _writes_by_key(groups: dict[Any, list[Op]]) -> dict[Any, list[Op]]:
    """key -> its write-like ops, in order, for keys that have some. `groups` is the
    analysis' single-key op groups (transactions' writes count, issue 10 item 4; tuple
    keys are no group); the selection runs in C."""
    out: dict[Any, list[Op]] = {}
    is_write = _WRITE_F.__contains__
    for key, ops in groups.items():
        ws = list(compress(ops, map(is_write, map(_F, ops))))
        if ws:
            out[key] = ws
    return out


def _length(v: Any) -> int:
    """A list read's length (None: empty), the list normaliser of a key whose reads are
    all prefixes of one list."""
    return 0 if v is None else len(v)


def _set_writes(key: Any, groups: dict[Any, list[Op]], indexes: dict) -> list[Op]:
    """`_writes_by_key(groups).get(key, [])` as `_admissible_set` reads it (its adds, in
    order): the key's index's writes when the index was built from the key's group (they
    hold every add; an `incr` is no add), else the selection itself. Read-only."""
    ops = groups.get(key)
    if not ops:
        return []
    ix = indexes.get(key)
    if ix is not None and ix.ops is ops and ix.kind == "set":
        return ix.writes
    return list(compress(ops, map(_WRITE_F.__contains__, map(_F, ops))))


def _set_final_clean(key: Any, per_node: dict, groups: dict, indexes: dict, t0: float,
                     lat_lo: list, lat_hi: list) -> bool:
    """The loop body of `check` for a set key the Rust core judges clean in one call
    (set_native.FINAL_KEY): no node flapping, the nodes' last reads agreeing, and the
    converged set exactly the key's adds, each of its own int and none failed (so
    `_admissible_set` finds nothing); the latencies appended as `_latency` gives them.
    False, having changed nothing, for any other key."""
    ix = indexes.get(key)
    if (set_native.FINAL_KEY is None or ix is None or ix.set_facts is None
            or ix.ops is not groups.get(key)
            or ix.set_facts.nonfail_writes != len(ix.writes)):
        return False
    got = set_native.FINAL_KEY(list(per_node.values()), ix._wvals)
    if got is None:
        return False
    t_bad, t_next, t_first = got
    if t_bad is None:
        lo, hi = 0, max(0, t_first - t0)
    else:
        lo = max(0, t_bad - t0)
        hi = max(lo, t_next - t0) if t_next is not None else lo
    lat_lo.append(lo)
    lat_hi.append(hi)
    return True


def _normaliser(workload: str):
    if workload == "set":
        return _norm_set
    if workload == "counter":
        return lambda v: 0 if v is None else v
    if workload == "list-append":
        return lambda v: () if v is None else freeze(v)
    return freeze


_ATOMS = frozenset((int, str, float, bool, type(None)))  # freeze(x) is x for these types
_VALUE = attrgetter("value")
_F = attrgetter("f")


def _norm_set(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return _frozen_set(v)
    return frozenset() if v is None else freeze(v)


def _frozen_set(v: list | tuple) -> frozenset:
    """frozenset(map(freeze, v)), built in C when every element is hashable as it is:
    `freeze` only rewrites lists and dicts, exactly the unhashable elements."""
    try:
        return frozenset(v)
    except TypeError:
        return frozenset(map(freeze, v))


def _fz(v: Any) -> Any:
    """freeze(v), skipping the call for atoms (freeze returns them as they are)."""
    return v if type(v) in _ATOMS else freeze(v)


def _show(op: Op) -> str:
    v = op.value
    s = repr(v) if not isinstance(v, list) else "[" + ",".join(map(str, v)) + "]"
    return s if len(s) <= 40 else s[:39] + "…"


def _flap(reads: list[Op], norm) -> tuple[Op, Op, Op] | None:
    """First V → V' → V on one node: (first read of V, a read of V', the return to V)."""
    left: dict[Any, tuple[Op, Op]] = {}  # value -> (its last read, first read after leaving)
    cur, cur_op = None, None
    for r in reads:
        v = norm(r.value)
        if cur_op is not None and v != cur:
            if v in left:
                first, between = left[v]
                return first, between, r
            left[cur] = (cur_op, r)
        if cur_op is None or v != cur:
            cur, cur_op = v, r
    return None


def _latency(per_node: dict, V: Any, norm, t0: float) -> tuple[float, float]:
    reads = sorted((r for rs in per_node.values() for r in rs), key=lambda o: (o.t_inv, o.inv_index))
    last_bad = None
    for i in range(len(reads) - 1, -1, -1):
        if norm(reads[i].value) != V:
            last_bad = i
            break
    if last_bad is None:
        return 0, max(0, reads[0].t_inv - t0)
    lo = max(0, reads[last_bad].t_inv - t0)
    hi = max(lo, reads[last_bad + 1].t_inv - t0) if last_bad + 1 < len(reads) else lo
    return lo, hi


def _admissible_indexed(key, ix, finals: list[Op], options: CheckOptions,
                        anomalies: list[Anomaly], notices: list[Anomaly],
                        covers=lambda w: True) -> None:
    r = finals[0]
    ids = [o.index for o in finals]
    if ix.kind == "list":
        if (_LIST_FAST and ix.native is not None and ix.native.nonfail_writes == len(ix.writes)
                and ix.read_versions.get(r.index) == len(ix.writes)):
            # list_index built the key (lists_native.ListFacts): r is one of its clean
            # reads (distinct elements, each appended by one of its writes, none failed),
            # so holding as many elements as there are writes, it holds exactly them
            return
        members = ix.members(r) or frozenset()
        if not (_LIST_FAST and _list_converged_clean(ix.writes, members)):
            _admissible_members(key, ix.writes, members, finals, anomalies, "append", covers)
        return
    if ix.native is not None and r.value is not None:
        # a versioned key the Rust core built (registers_native.Facts): no ok write ranked
        # above the converged version means no newer acked write, so nothing below applies
        wv = ix.writer(r.value)
        if wv is not None and wv.type != "fail":
            v = ix.ver(r)
            if v is None or ix.native.max_ok_rank <= v:
                return
    # only writes the final state testifies about can be missing from it (item 5)
    acked = [w for w in ix.writes if w.type == "ok" and covers(w)]
    if r.value is None:
        if acked:
            w = max(acked, key=lambda o: o.inv_index)
            anomalies.append(Anomaly(
                "lost",
                f"every node's final read of {key!r} returned the initial value, yet "
                f"{len(acked)} write(s) were acknowledged (e.g. {w.describe()})",
                [w.index] + ids, key, None, {"roles": {"write": w.index, "final_reads": ids}}))
        return
    wv = ix.writer(r.value)
    if wv is None:
        if freeze(r.value) not in {v for v, _ in ix.duplicates}:
            anomalies.append(Anomaly(
                "unexpected", f"{key!r} converged to {_show(r)}, which no operation wrote",
                ids, key, None, {"roles": {"final_reads": ids}}))
        return
    if wv.type == "fail":
        anomalies.append(Anomaly(
            "aborted-present",
            f"{key!r} converged to {_show(r)}, written only by {wv.describe()}, which failed",
            [wv.index] + ids, key, None, {"roles": {"write": wv.index, "final_reads": ids}}))
        return
    if ix.kind == "versioned":
        v = ix.ver(r)
        newer = [(ix.ver(w), w) for w in acked if ix.ver(w) is not None and v is not None
                 and ix.ver(w) > v]
        if newer:
            hv, hw = max(newer, key=lambda t: t[0])
            anomalies.append(Anomaly(
                "stale-final",
                f"{key!r} converged to {_show(r)} (version {v}, {wv.describe()}), older than "
                f"the acknowledged {hw.describe()} (version {hv})",
                [wv.index, hw.index] + ids, key, None,
                {"roles": {"final_writer": wv.index, "newer_acked_write": hw.index,
                           "final_reads": ids}, "final_version": v, "newest_acked_version": hv}))
        return
    # plain register: is writer(V) real-time maximal among ok writes? (§6(a).4)
    if wv.type != "ok":
        return  # an info write may land at any time, so it is admissible (§6(d))
    later = [w for w in acked if w.inv_index > wv.ret_index]  # acked: covered ones only
    if not later:
        return
    w2 = max(later, key=lambda o: o.inv_index)
    a = Anomaly(
        "superseded",
        f"{key!r} converged to {_show(r)}, written by {wv.describe()}, but {w2.describe()} "
        f"was invoked after that write completed (index {w2.inv_index} > {wv.ret_index}) and "
        f"was acknowledged, so under real-time last-writer-wins it should have won",
        [wv.index, w2.index] + ids, key, None,
        {"roles": {"final_writer": wv.index, "later_acked_write": w2.index, "final_reads": ids},
         "confidence": "assumption:realtime-claim"})
    (anomalies if options.realtime_claim else notices).append(a)


# False: every list key takes `_admissible_members` (the differential tests compare)
_LIST_FAST = True
# False: every set key takes `_admissible_members` (the differential tests compare)
_SET_FAST = True


def _list_converged_clean(writes: list[Op], members: frozenset) -> bool:
    """True when `_admissible_members` would find nothing, by C-level tests: the writes'
    values are distinct atoms, none failed, and the converged list holds exactly them
    (nothing lost, unexpected or aborted)."""
    vals = list(map(_VALUE, writes))
    return (_ATOMS.issuperset(map(type, vals)) and len(set(vals)) == len(vals) == len(members)
            and members.issuperset(vals) and "fail" not in set(map(_TYPE, writes)))


_ATOMS = frozenset((int, str, float, bool, type(None)))  # freeze(x) is x for these
_VALUE, _TYPE = attrgetter("value"), attrgetter("type")


def _admissible_set(key, writes: list[Op], finals: list[Op], anomalies: list[Anomaly],
                    covers=lambda w: True) -> None:
    v = finals[0].value
    members = _frozen_set(v) if isinstance(v, (list, tuple)) else frozenset()
    adds = list(compress(writes, map("add".__eq__, map(_F, writes))))
    if not (_SET_FAST and _list_converged_clean(adds, members)):
        _admissible_members(key, adds, members, finals, anomalies, "add", covers)


def _admissible_members(key, writes: list[Op], members: frozenset, finals: list[Op],
                        anomalies: list[Anomaly], f: str, covers=lambda w: True) -> None:
    ids = [o.index for o in finals]
    values = list(map(_VALUE, writes))
    if not _ATOMS.issuperset(map(type, values)):
        values = list(map(_fz, values))
    attempted: dict[Any, Op] = dict(zip(values, writes))
    if len(attempted) != len(writes):  # some value written twice: retries, or P1
        attempted = {}
        get = attempted.get
        for w, e in zip(writes, values):
            prev = get(e)
            if prev is not None and "retry_of" not in (w.extra or {}) and "retry_of" not in (prev.extra or {}):
                return  # duplicate values: unjudgeable (P1), the integrity checker says so
            if prev is None or w.type == "ok":
                attempted[e] = w
    # attempted[e] holds a write of e (retries re-send the same value), so e is its frozen value
    missing = [w for e, w in attempted.items() if w.type == "ok" and e not in members
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
