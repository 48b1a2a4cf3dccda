"""Total-order floors: RYW/MR/MW/WFR of lists and versioned registers, and the plain-register
floors with the data-only partial order (checker-spec §3.5, §3.1c/§3.3c list membership).
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import BOTTOM, VersionIndex
from splitbrain.harness.history import Op
from splitbrain.checkers.session.findings import (
    MR, MW, RYW, WFR, _Found, _fmt, _j, _sequential, _short, _steps, _suspect, _uniq, _val)


def _pass_floors(found: _Found, ix: VersionIndex, s: Any, ops: list[Op],
                 options: CheckOptions) -> None:
    """§3.5 one pass for one (session, key); plain registers use the partial order."""
    total = ix.total
    is_list = ix.kind == "list"
    corrupt = ix.corrupt
    cmp = ix.cmp if ix.data_successors or ix.kind != "plain" else _cmp_flat
    rget = ix.read_versions.get
    wget = ix.write_versions.get
    flagged = found.flagged
    top_w = top_r = None          # ops
    top_w_v = top_r_v = None      # their versions
    unseen_ryw: list[Op] = []     # own acked appends never seen by any read (lists)
    unseen_mw: list[Op] = []
    mr_group: Anomaly | None = None
    n_r = n_w = un_r = un_w = 0
    plain = ix.kind == "plain"
    prev = None
    edges = found.plain_edges.setdefault(ix.key, []) if plain else None
    seq = _sequential(ops)
    if seq and total and _clean_total_sequential(found, ix, ops):
        return
    # sequential sessions: each op is judged and then completes in one iteration;
    # pipelined ones walk invocation/completion events (§3.5)
    for item in (ops if seq else _steps(ops)):
        if seq:
            op, judge, complete = item, True, True
        else:
            op, complete = item
            judge = not complete
        f = op.f
        is_read = f == "read" or f == "cas"
        is_write = f != "read"
        if judge:
            # ---- judged at invocation ----
            if is_read and op.index not in corrupt:
                v = rget(op.index)
                if v is None:
                    un_r += 1
                else:
                    n_r += 1
                    if top_w is not None and ((v < top_w_v) if total else cmp(v, top_w_v) == "<"):
                        found.add(RYW, _ryw(ix, top_w, op, v, top_w_v), _suspect(top_w, op))
                        flagged.add(op.index)
                    if unseen_ryw:
                        for w in unseen_ryw:
                            found.add(RYW, _ryw_missing(ix, w, op), _suspect(w, op))
                        flagged.add(op.index)
                        unseen_ryw = []
                    if top_r is not None and ((v < top_r_v) if total else cmp(v, top_r_v) == "<"):
                        if mr_group is not None and mr_group.details["roles"]["r1"] == top_r.index:
                            mr_group.details["count"] += 1
                            mr_group.details["last_read"] = op.index
                        else:
                            mr_group = _mr(ix, top_r, op, v, top_r_v)
                            found.add(MR, mr_group, _suspect(top_r, op))
                        flagged.add(op.index)
                    else:
                        mr_group = None
            if is_write and op.type != "fail":
                v = wget(op.index)
                if v is None:
                    if op.type == "ok":
                        un_w += 1
                else:
                    n_w += 1
                    if top_w is not None and ((v < top_w_v) if total else cmp(v, top_w_v) == "<"):
                        found.add(MW, _mw_order(ix, top_w, op, v, top_w_v), _suspect(top_w, op))
                        flagged.add(op.index)
                    if unseen_mw:
                        for u in unseen_mw:
                            found.add(MW, _mw_vis(ix, u, op, v), _suspect(u, op))
                        flagged.add(op.index)
                        unseen_mw = []
                    if top_r is not None and ((v <= top_r_v) if total else cmp(v, top_r_v) == "<"):
                        found.add(WFR, _wfr(ix, top_r, op, v, top_r_v), _suspect(top_r, op))
                        flagged.add(op.index)
        if complete and op.type == "ok":
            # ---- completion: raise the floors (never lower them) ----
            if plain and op.index not in corrupt:
                # §3.6 session edges between consecutive ok ops with different values
                for kind, v in (("R", rget(op.index) if is_read else None),
                                ("W", wget(op.index) if is_write else None)):
                    if v is None:
                        continue
                    if (prev is not None and prev[1] != v and prev[2] is not op
                            and prev[2].ret_index < op.inv_index and op.index not in flagged):
                        edges.append((prev[1], v, prev[0], kind, prev[2], op))
                    prev = (kind, v, op)
            if is_read and op.index not in corrupt:
                v = rget(op.index)
                if v is not None and (top_r is None or ((v > top_r_v) if total
                                                        else cmp(v, top_r_v) in (">", None))):
                    top_r, top_r_v = op, v
            if is_write:
                v = wget(op.index)
                if v is not None:
                    if top_w is None or ((v > top_w_v) if total
                                         else cmp(v, top_w_v) in (">", None)):
                        top_w, top_w_v = op, v
                elif is_list and op.index not in corrupt:
                    unseen_ryw.append(op)
                    unseen_mw.append(op)
    _count(found, n_r, un_r, n_w, un_w)


def _count(found: _Found, n_r: int, un_r: int, n_w: int, un_w: int) -> None:
    """One pass's reads and writes judged (and unverifiable) into the four guarantees."""
    st = found.stats
    st[RYW]["reads_checked"] += n_r
    st[MR]["reads_checked"] += n_r
    st[RYW]["unverifiable"] += un_r
    st[MR]["unverifiable"] += un_r
    st[MW]["writes_checked"] += n_w
    st[WFR]["writes_checked"] += n_w
    st[MW]["unverifiable"] += un_w
    st[WFR]["unverifiable"] += un_w


def _clean_total_sequential(found: _Found, ix: VersionIndex, ops: list[Op]) -> bool:
    """`_pass_floors` for a sequential session on a total order that breaks no floor: its
    counts, and True. The same judgements as the general loop, against the same floors
    (the highest read and write versions its ok ops completed with, -1 below every
    version for none yet), with half the work per op. False, nothing counted, at the
    first op that would need more than counting (a floor broken, a cas, a list append no
    read saw): the general loop then decides and reports."""
    corrupt = ix.corrupt
    rget = ix.read_versions.get
    wget = ix.write_versions.get
    is_list = ix.kind == "list"
    top_r = top_w = -1
    n_r = n_w = un_r = un_w = 0
    for op in ops:
        f = op.f
        i = op.index
        if f == "read":
            if i in corrupt:
                continue
            v = rget(i)
            if v is None:
                un_r += 1
                continue
            if v < top_w or v < top_r:
                return False  # read-your-writes or monotonic-reads
            n_r += 1
            if v > top_r and op.type == "ok":
                top_r = v
            continue
        if f == "cas":
            return False  # reads and writes in one op: the general loop's
        t = op.type
        if t == "fail":
            return False
        v = wget(i)
        if v is None:
            if t == "ok":
                if is_list and i not in corrupt:
                    return False  # an append no read saw: RYW/MW visibility
                un_w += 1
            continue
        if v < top_w or v <= top_r:
            return False  # monotonic-writes or writes-follow-reads
        n_w += 1
        if v > top_w and t == "ok":
            top_w = v
    _count(found, n_r, un_r, n_w, un_w)
    return True


def _cmp_flat(x: Any, y: Any) -> str | None:
    """VersionIndex.cmp for a plain register without cas edges: only ⊥ is ordered."""
    if x is y or x == y:
        return "="
    if x is BOTTOM:
        return "<"
    if y is BOTTOM:
        return ">"
    return None


def _raises(c: str | None, total: bool) -> bool:
    # Total orders: only a strictly newer version raises the floor. Partial orders: a
    # version that is not known to be older replaces it (any earlier op is a sound floor).
    return c == ">" if total else c in (">", None)


def _observed_writer(ix: VersionIndex, read: Op, v: Any) -> Op | None:
    if ix.kind == "list":
        return None
    val = ix.observed(read)
    return ix.writer(val) if val is not None else None


def _ver_evidence(ix: VersionIndex, op: Op, v: Any) -> int | None:
    """The op that revealed a write's version, when its acknowledgement did not."""
    if ix.kind == "versioned" and op.f != "read" and op.version is None and isinstance(v, int):
        return ix.evidence(v)
    if ix.kind == "list" and op.f != "read" and isinstance(v, int):
        return ix.evidence(v)
    return None


def _ryw(ix, w: Op, r: Op, v, wv) -> Anomaly:
    ow = _observed_writer(ix, r, v)
    ev = _ver_evidence(ix, w, wv)
    if ix.kind == "list":
        e = _val(ix, w, False)
        text = (f"Session of process {w.process} appended {e!r} to {ix.key!r} (op {w.index}), "
                f"but its later read op {r.index} does not contain it: the read has "
                f"{v} elements and {e!r} is at position {wv}.")
    else:
        text = (f"Process {w.process} wrote {ix.key!r}={_val(ix, w, False)!r} (op {w.index}, "
                f"{_fmt(ix, wv)}); its later read op {r.index} returned "
                f"{_val(ix, r, True)!r} ({_fmt(ix, v)}"
                + (f", written by op {ow.index}" if ow is not None else "")
                + f"), which is older, so op {w.index} was not visible to op {r.index}.")
    roles = {"write": w.index, "read": r.index}
    if ow is not None:
        roles["observed_writer"] = ow.index
    return Anomaly(RYW, text, _uniq([w.index, r.index, ow.index if ow else None, ev]),
                   key=ix.key, process=r.process,
                   details={"roles": roles, "observed": {"value": _val(ix, r, True), "version": _j(v)},
                            "expected": {"version_at_least": _j(wv)}})


def _ryw_missing(ix, w: Op, r: Op) -> Anomaly:
    e = _val(ix, w, False)
    text = (f"Process {w.process} appended {e!r} to {ix.key!r} (op {w.index}, ok); its later "
            f"read op {r.index} does not contain it (no read ever did).")
    return Anomaly(RYW, text, [w.index, r.index], key=ix.key, process=r.process,
                   details={"roles": {"write": w.index, "read": r.index}, "missing": e})


def _mr(ix, r1: Op, r2: Op, v2, v1) -> Anomaly:
    w1 = ix.writer_at(v1) if ix.total else ix.writer(ix.observed(r1))
    w2 = None if ix.kind == "list" else _observed_writer(ix, r2, v2)
    if ix.kind == "list":
        lost = ix.order[v2:v1]
        text = (f"Process {r2.process} read {ix.key!r} with {v1} elements (op {r1.index}), then "
                f"only {v2} (op {r2.index}): {_short(lost)} "
                f"{'were' if len(lost) > 1 else 'was'} visible and then not.")
    else:
        text = (f"Process {r2.process} read {ix.key!r}={_val(ix, r1, True)!r} (op {r1.index}, "
                f"{_fmt(ix, v1)}), then {_val(ix, r2, True)!r} (op {r2.index}, "
                f"{_fmt(ix, v2)}), an older version: the read went back in time.")
    roles = {"r1": r1.index, "r2": r2.index}
    if w1 is not None:
        roles["observed_writer_r1"] = w1.index
    if w2 is not None:
        roles["observed_writer_r2"] = w2.index
    sev = {}
    if ix.total and isinstance(v1, int) and isinstance(v2, int):
        sev["regression_versions"] = v1 - v2
    return Anomaly(MR, text, _uniq([r1.index, r2.index, w1.index if w1 else None,
                                    w2.index if w2 else None]),
                   key=ix.key, process=r2.process,
                   details={"roles": roles, "count": 1, "last_read": r2.index, **sev})


def _mw_order(ix, w1: Op, w2: Op, v2, v1) -> Anomaly:
    ev = [_ver_evidence(ix, w1, v1), _ver_evidence(ix, w2, v2)]
    if ix.kind == "list":
        text = (f"Process {w1.process} appended {_val(ix, w1, False)!r} (op {w1.index}) and then "
                f"{_val(ix, w2, False)!r} (op {w2.index}) to {ix.key!r}, but read op {ev[0]} shows "
                f"{_val(ix, w2, False)!r} ordered before {_val(ix, w1, False)!r}.")
    else:
        text = (f"Process {w1.process} wrote {ix.key!r}={_val(ix, w1, False)!r} (op {w1.index}, "
                f"{_fmt(ix, v1)}) and then {_val(ix, w2, False)!r} (op {w2.index}), which got the "
                f"lower {_fmt(ix, v2)}: its writes were applied out of order.")
    return Anomaly(MW, text, _uniq([w1.index, w2.index, *ev]), key=ix.key, process=w2.process,
                   details={"roles": {"w1": w1.index, "w2": w2.index, "evidence": _uniq(ev)},
                            "kind": "order"})


def _mw_vis(ix, w1: Op, w2: Op, v2) -> Anomaly:
    ev = ix.evidence(v2)
    text = (f"Process {w1.process} appended {_val(ix, w1, False)!r} (op {w1.index}, ok) and then "
            f"{_val(ix, w2, False)!r} (op {w2.index}) to {ix.key!r}; read op {ev} shows "
            f"{_val(ix, w2, False)!r} but {_val(ix, w1, False)!r} is in no read at all.")
    return Anomaly(MW, text, _uniq([w1.index, w2.index, ev]), key=ix.key, process=w2.process,
                   details={"roles": {"w1": w1.index, "w2": w2.index, "evidence": ev},
                            "kind": "visibility"})


def _wfr(ix, r1: Op, w2: Op, v2, v1) -> Anomaly:
    ow = _observed_writer(ix, r1, v1) if ix.kind != "list" else ix.writer_at(v1)
    ev = _ver_evidence(ix, w2, v2)
    text = (f"Process {r1.process} read {ix.key!r}={_short(_val(ix, r1, True))} (op {r1.index}, "
            f"{_fmt(ix, v1)}) and then wrote {_val(ix, w2, False)!r} (op {w2.index}), which "
            f"got {_fmt(ix, v2)}, not newer than what it had read: the write is ordered before a "
            f"write its author had already seen.")
    roles = {"r1": r1.index, "w2": w2.index}
    if ow is not None:
        roles["observed_writer"] = ow.index
    return Anomaly(WFR, text, _uniq([r1.index, ow.index if ow else None, w2.index, ev]),
                   key=ix.key, process=w2.process, details={"roles": roles})


