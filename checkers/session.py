"""Session guarantees: read-your-writes, monotonic reads, monotonic writes, writes-follow-reads.

checker-spec §3 (Terry et al. 1994; Viotti & Vukolić's so/vis/ar form). Every finding is
one of two observable facts plus session order (§3): "read r returned a version strictly
older than w" proves w ∉ vis(r); "ver(w2) < ver(w1)" proves w1 is not ar-before w2.

* Total orders (list-append positions, version numbers): the one-pass floors of §3.5,
  evaluated at each op's invocation against floors updated at completions (so pipelined
  sessions get the ≺s semantics of §1.3, P7), plus the list membership rules (own acked
  appends never seen by any read, §3.1c/§3.3c).
* Sets: membership — own acked adds ⊆ read (RYW), union of earlier reads ⊆ read (MR),
  per-session prefix of acked adds (MW visibility), last read before a write ⊆ any read
  showing that write (WFR visibility).
* Plain unique-value registers: the same floors with the data-only partial order
  (⊥ < v, cas chains), then the session version graph of §3.6 (assumption A-LWW): Tarjan
  SCC + shortest cycle, labelled by the guarantee(s) on the cycle.
* Cross-key MW/WFR only with multi-key snapshot reads (P20).

`info` own writes create no obligations; `info`/`fail` reads are ignored; session =
`op.session` (a process reused after `info` starts a new epoch, P6). Keys whose written
values are not unique are skipped and make the results "unknown" (P1). Reads with a
corrupt observation (integrity anomalies) are skipped (P17). Every reported anomaly is
re-checked on its witness sub-history (§9 witness replay); failures are dropped and
counted as `replay_dropped`.
"""

from __future__ import annotations

from itertools import chain, cycle, filterfalse, islice, repeat
from operator import attrgetter, itemgetter, lt
from typing import TYPE_CHECKING, Any

from splitbrain.checkers.cycles import shortest_cycle, strongly_connected
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, nothing_checked_reason, result_from_anomalies
from splitbrain.checkers.versions import BOTTOM, VersionIndex, build_indexes, gc_paused, txn_count
from splitbrain.checkers.versions import frozen as _fz
from splitbrain.harness.history import History, Op

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis

RYW, MR, MW, WFR = ("read-your-writes", "monotonic-reads", "monotonic-writes",
                    "writes-follow-reads")
NAMES = (RYW, MR, MW, WFR)
# The conjunction: a cycle mixing guarantees proves at least one of them is broken even
# when no single one provably is (issue 10 item 7): INVALID, never a mere notice.
SESSION = "session"
ALL_NAMES = (*NAMES, SESSION)
SHORT = {RYW: "RYW", MR: "MR", MW: "MW", WFR: "WFR"}
REPLAY_LIMIT = 256  # per checker; beyond it findings are kept unreplayed (counted)


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    found = analyse(history, options, analysis.indexes if analysis is not None else None)
    return _results(history, options, found)


# ------------------------------------------------------------------------------------
# Analysis core (also used by witness replay)


class _Found:
    """Anomalies and counters of one analysis run."""

    def __init__(self) -> None:
        self.anoms: dict[str, list[Anomaly]] = {n: [] for n in ALL_NAMES}
        self.notices: dict[str, list[Anomaly]] = {n: [] for n in ALL_NAMES}
        self.stats: dict[str, dict] = {n: {"reads_checked": 0, "writes_checked": 0,
                                           "unverifiable": 0} for n in ALL_NAMES}
        self.sessions: set = set()
        self.skipped_keys: list = []
        self.flagged: set[int] = set()  # ops already reported by a floor rule (plain keys)
        self.plain_edges: dict = {}     # key -> §3.6 session edges (va, vb, ka, kb, a, b)

    def add(self, name: str, a: Anomaly, suspect: bool = False) -> None:
        if suspect:
            a.details["confidence"] = "suspect:info-session"
            self.notices[name].append(a)
        else:
            a.details.setdefault("confidence", "definite")
            self.anoms[name].append(a)


def analyse(history: History, options: CheckOptions, indexes: dict | None = None) -> _Found:
    """Every session finding of `history`; `indexes`: its version indexes, if built."""
    with gc_paused():
        return _analyse(history, options, indexes)


def _analyse(history: History, options: CheckOptions, indexes: dict | None = None) -> _Found:
    if indexes is None:
        indexes = build_indexes(history, options.workload)
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


_inv = _INV = attrgetter("inv_index")
_SECOND = itemgetter(1)
_RET = attrgetter("ret_index")


def _sequential(ops: list[Op]) -> bool:
    """Every op completes before the next one is invoked (C-level pairwise check)."""
    return all(map(lt, map(_RET, ops), map(_INV, islice(ops, 1, None))))


def _steps(ops: list[Op]) -> list[tuple[Op, bool]]:
    """(op, is_completion) in ≺s order: an op is judged at its invocation against what
    completed before it (§3.5 pipelined sessions); sequential sessions interleave."""
    if _sequential(ops):
        # each op twice: judged at its invocation, then its completion raises the floors
        return zip(chain.from_iterable(zip(ops, ops)), cycle((False, True)))
    ev = []
    for op in ops:
        ev.append((op.inv_index, 1, op))
        ev.append((op.ret_index, 0, op))
    ev.sort(key=lambda e: (e[0], e[1]))
    return [(op, kind == 0) for _, kind, op in ev]


def _suspect(*ops: Op | None) -> bool:
    sess = {o.session for o in ops if o is not None}
    return len(sess) > 1


def _uniq(xs) -> list[int]:
    out: list[int] = []
    for x in xs:
        if x is not None and x not in out:
            out.append(x)
    return out


def _fmt(ix: VersionIndex, v: Any) -> str:
    if v is None:
        return "unknown version"
    if v is BOTTOM or v == 0 and ix.total:
        return "⊥"
    if ix.kind == "list":
        return f"position {v}"
    if ix.kind == "versioned":
        return f"version rank {v}"
    return repr(v)


def _val(ix: VersionIndex, op: Op, observed: bool) -> Any:
    if observed:
        return ix.observed(op)
    if op.f == "cas":
        v = op.value
        return v[1] if isinstance(v, (list, tuple)) and len(v) == 2 else None
    return op.value


# -- total orders (lists, version numbers) and plain floors ------------------------------


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
    st = found.stats
    st[RYW]["reads_checked"] += n_r
    st[MR]["reads_checked"] += n_r
    st[RYW]["unverifiable"] += un_r
    st[MR]["unverifiable"] += un_r
    st[MW]["writes_checked"] += n_w
    st[WFR]["writes_checked"] += n_w
    st[MW]["unverifiable"] += un_w
    st[WFR]["unverifiable"] += un_w


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


def _short(v: Any) -> str:
    s = repr(list(v) if isinstance(v, tuple) else v)
    return s if len(s) < 60 else s[:57] + "..."


def _j(v: Any) -> Any:
    return None if v is BOTTOM else v


# -- sets ----------------------------------------------------------------------------------


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
    seen_mw: set = set()
    seen_wfr: set = set()
    st = found.stats
    tables: list = []
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
        if not tables:
            tables.append(_set_visibility_tables(ix, sessions, mem))
        info_get, per_session = tables[0]
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


# -- §3.6 session version graph for plain registers -------------------------------------


_LABEL = {("W", "R"): RYW, ("R", "R"): MR, ("W", "W"): MW, ("R", "W"): WFR}


def _items(ix: VersionIndex, ops: list[Op]) -> list[tuple[str, Any, Op]]:
    """(kind, version node, op) per ok op side, in session order; corrupt sides dropped."""
    out = []
    for op in ops:
        if op.type != "ok" or op.index in ix.corrupt:
            continue
        if op.f in ("read", "cas"):
            v = ix.ver_observed(op)
            if v is not None:
                out.append(("R", v, op))
        if op.f != "read":
            v = ix.ver(op)
            if v is not None:
                out.append(("W", v, op))
    return out


def _data_edges(ix: VersionIndex, nodes: set) -> dict:
    edges: dict = {}
    for n in nodes:
        if n is not BOTTOM:
            edges.setdefault(BOTTOM, {})[n] = ("data", None, None)
    for a, bs in ix.data_successors.items():
        for b in bs:
            edges.setdefault(a, {}).setdefault(b, ("data", None, None))
    return edges


def _pass_cycles(found: _Found, indexes: dict, groups: dict, keys: set) -> None:
    for k in keys:
        ix = indexes[k]
        flagged = found.flagged
        # an edge into an op a floor rule reported later in the pass is dropped here (the
        # floor finding already explains that op)
        flat = [e for e in found.plain_edges.get(k, ()) if e[5].index not in flagged]
        if not flat or not _maybe_cyclic(ix, flat):
            continue
        nodes: set = set()
        edges: dict = {}
        for va, vb, ka, kb, a, b in flat:
            nodes.add(va)
            nodes.add(vb)
            edges.setdefault(va, {}).setdefault(vb, (_LABEL[(ka, kb)], a, b))
        data = _data_edges(ix, nodes)
        for a, bs in data.items():
            for b, lab in bs.items():
                edges.setdefault(a, {}).setdefault(b, lab)
        succ = {a: list(bs) for a, bs in edges.items()}
        for comp in strongly_connected(succ):
            cyc = shortest_cycle(succ, comp)
            if not cyc:
                continue
            steps = [(a, b, edges[a][b]) for a, b in zip(cyc, cyc[1:] + cyc[:1])]
            labels = {lab for _, _, (lab, _, _) in steps if lab != "data"}
            if not labels:
                continue  # data-only: cyclic-versions, reported by integrity
            items_by_s = {s: _items(ix, ops) for (s, kk), ops in groups.items() if kk == k}
            _report_cycle(found, ix, steps, labels, comp, items_by_s)


def _maybe_cyclic(ix: VersionIndex, flat: list) -> bool:
    """False when every edge goes forward in writer-invocation order (then no cycle).

    A cheap certificate of acyclicity: most keys of a well-behaved history pass it, so
    the SCC search runs only where a session edge points backwards.
    """
    pos = {v: w.inv_index for v, w in ix.sole_writers.items()}
    pos[BOTTOM] = -1
    pg = pos.get
    for e in flat:
        pa, pb = pg(e[0]), pg(e[1])
        if pa is None or pb is None or pa >= pb:
            return True
    for a, bs in ix.data_successors.items():
        pa = pg(a)
        for b in bs:
            pb = pg(b)
            if pa is None or pb is None or pa >= pb:
                return True
    return False


def _step_text(ix: VersionIndex, a, b, lab) -> str:
    name, oa, ob = lab
    if name == "data":
        w = ix.writer(b) if b is not BOTTOM else None
        if a is BOTTOM:
            return f"⊥ < {b!r} because every write follows the initial state"
        return f"{a!r} < {b!r} because {w.describe() if w else 'a cas'} replaced {a!r} by {b!r}"
    verb = {RYW: ("wrote", "read"), MR: ("read", "read"), MW: ("wrote", "wrote"),
            WFR: ("read", "wrote")}[name]
    fa = "⊥" if a is BOTTOM else repr(a)
    fb = "⊥" if b is BOTTOM else repr(b)
    return (f"{fa} < {fb} because process {ob.process} {verb[0]} {fa} (op {oa.index}) and then "
            f"{verb[1]} {fb} (op {ob.index}) [{SHORT[name]}]")


def _cycle_anomaly(name: str, ix: VersionIndex, steps, label_set, note: str = "") -> Anomaly:
    ops: list[int] = []
    for a, b, (lab, oa, ob) in steps:
        if lab == "data":
            if a is not BOTTOM:
                w = ix.writer(b)
                if w is not None:
                    ops.append(w.index)
        else:
            ops += [oa.index, ob.index]
    procs = [ob.process for _, _, (lab, _, ob) in steps if lab != "data"]
    text = ("Under a single-valued register (A-LWW) these orders form a cycle: "
            + "; ".join(_step_text(ix, a, b, lab) for a, b, lab in steps) + "." + note)
    return Anomaly(name, text, _uniq(ops), key=ix.key, process=procs[0] if procs else None,
                   details={"method": "session-version-graph", "guarantees": sorted(SHORT[l] for l in label_set),
                            "cycle": [None if x is BOTTOM else x for x, _, _ in steps],
                            "confidence": "assumption:lww-register"})


def _report_cycle(found: _Found, ix: VersionIndex, steps, labels: set, comp: set,
                  items_by_s: dict) -> None:
    suspect = _suspect(*[lab[1] for _, _, lab in steps if lab[0] != "data"],
                       *[lab[2] for _, _, lab in steps if lab[0] != "data"])
    if len(labels) == 1:
        name = next(iter(labels))
        found.add(name, _cycle_anomaly(name, ix, steps, labels), suspect)
        return
    # Mixed: attribute to single guarantees by rebuilding each one's full edge set on the
    # SCC's sessions (§3.6); an SCC may hide a single-guarantee cycle behind a mixed one.
    involved = [items for items in items_by_s.values() if any(it[1] in comp for it in items)]
    attributed = False
    for name in NAMES:
        cyc = _single_guarantee_cycle(ix, name, comp, involved, found.flagged)
        if cyc is not None:
            sus = _suspect(*[lab[1] for _, _, lab in cyc if lab[0] != "data"],
                           *[lab[2] for _, _, lab in cyc if lab[0] != "data"])
            found.add(name, _cycle_anomaly(name, ix, cyc, {name}), sus)
            attributed = True
    if not attributed:
        model = "causal consistency" if WFR in labels else "PRAM"
        note = (f" {model} is violated: {', '.join(sorted(SHORT[l] for l in labels))} cannot "
                f"all hold, so at least one of them is broken (no single one provably is).")
        for name in labels:
            found.notices[name].append(_cycle_anomaly(name, ix, steps, labels, note))
        a = _cycle_anomaly(SESSION, ix, steps, labels, note)
        a.details["candidates"] = sorted(labels)
        found.add(SESSION, a, suspect)


def _single_guarantee_cycle(ix, name: str, comp: set, item_lists: list, flagged: set,
                            limit: int = 3000):
    """A cycle of data edges and `name`'s full (not only consecutive) session edges inside
    the SCC `comp`, or None. Quadratic in the SCC's session lengths, hence the limit."""
    edges: dict = {}
    for items in item_lists:
        items = [it for it in items if it[1] in comp]
        if len(items) > limit:
            return None
        want = {RYW: ("W", "R"), MR: ("R", "R"), MW: ("W", "W"), WFR: ("R", "W")}[name]
        for i, (ka, va, a) in enumerate(items):
            if ka != want[0]:
                continue
            for kb, vb, b in items[i + 1:]:
                if (kb != want[1] or va == vb or a is b or not a.ret_index < b.inv_index
                        or b.index in flagged):
                    continue
                edges.setdefault(va, {}).setdefault(vb, (name, a, b))
    data = _data_edges(ix, set(comp))
    for a, bs in data.items():
        for b, lab in bs.items():
            edges.setdefault(a, {}).setdefault(b, lab)
    succ = {a: list(bs) for a, bs in edges.items()}
    for c in strongly_connected(succ):
        cyc = shortest_cycle(succ, c)
        if cyc:
            steps = [(a, b, edges[a][b]) for a, b in zip(cyc, cyc[1:] + cyc[:1])]
            if any(lab[0] != "data" for _, _, lab in steps):
                return steps
    return None


# -- cross-key (multi-key snapshot reads only, P20) -------------------------------------


def _pass_cross_key(found: _Found, history: History, indexes: dict, skip: set,
                    by_process: bool) -> None:
    """§3.3c/§3.4a cross-key: a snapshot read showing w2 must show, on every other key,
    at least what w2's session had written (MW) or read (WFR) before w2."""
    sessions: dict = {}
    for op in history.ops:
        if op.type == "fail" or (op.f == "read" and op.type != "ok"):
            continue
        sessions.setdefault(op.process if by_process else op.session, []).append(op)
    deps: dict = {}   # (key, frozen value) -> (w2, {k: read op}, {k: write op})
    for s, ops in sessions.items():
        top_r: dict = {}
        top_w: dict = {}
        for op, done in _steps(ops):
            k = op.key
            if not done:
                if op.f != "read" and type(k) is not tuple and k not in skip and k in indexes:
                    v = _val(indexes[k], op, False)
                    if v is not None and (top_r or top_w):
                        deps[(k, _fz(v))] = (op, {kk: r for kk, r in top_r.items() if kk != k},
                                             {kk: w for kk, w in top_w.items() if kk != k})
                continue
            if op.type != "ok":
                continue
            keys = k if type(k) is tuple else (k,)
            for kk in keys:
                ix = indexes.get(kk)
                if ix is None or kk in skip:
                    continue
                if op.f == "read" or op.f == "cas":
                    if op.index in ix.corrupt:
                        continue
                    v = ix.ver_observed(op)
                    prev = top_r.get(kk)
                    if v is not None and (prev is None or _raises(ix.cmp(v, ix.ver_observed(prev)), ix.total)):
                        top_r[kk] = op
                if op.f != "read":
                    v = ix.ver(op)
                    prev = top_w.get(kk)
                    if v is not None and (prev is None or _raises(ix.cmp(v, ix.ver(prev)), ix.total)):
                        top_w[kk] = op
    if not deps:
        return
    reported: set = set()
    for R in history.ops:
        if type(R.key) is not tuple or R.f != "read" or R.type != "ok":
            continue
        for k2 in R.key:
            ix2 = indexes.get(k2)
            if ix2 is None or k2 in skip or R.index in ix2.corrupt:
                continue
            shown = ix2.observed(R)
            cands = []
            if ix2.kind in ("list", "set"):
                for e in (shown or ()):
                    if (k2, _fz(e)) in deps:
                        cands.append((k2, _fz(e)))
            elif shown is not None and (k2, _fz(shown)) in deps:
                cands.append((k2, _fz(shown)))
            for c in cands:
                w2, reads, writes = deps[c]
                for name, table, getv in ((WFR, reads, "ver_observed"), (MW, writes, "ver")):
                    for k1, o1 in table.items():
                        if k1 not in R.key:
                            continue
                        ix1 = indexes[k1]
                        if R.index in ix1.corrupt:
                            continue
                        vr = ix1.ver_observed(R)
                        v1 = getattr(ix1, getv)(o1)
                        if ix1.cmp(vr, v1) != "<" or (name, o1.index, w2.index, R.index) in reported:
                            continue
                        reported.add((name, o1.index, w2.index, R.index))
                        ow = ix1.writer(ix1.observed(o1)) if name == WFR else None
                        what = "read" if name == WFR else "wrote"
                        seen = ix1.observed(R)
                        text = (f"Process {w2.process} {what} {k1!r}={_short(_val(ix1, o1, name == WFR))} "
                                f"(op {o1.index}) before writing {k2!r}={_short(_val(ix2, w2, False))} "
                                f"(op {w2.index}); snapshot read op {R.index} shows that write "
                                f"but {k1!r}={_short(seen)}, which is older.")
                        found.add(name, Anomaly(
                            name, text, _uniq([o1.index, ow.index if ow else None, w2.index, R.index]),
                            key=(k1, k2), process=w2.process,
                            details={"roles": {("r1" if name == WFR else "w1"): o1.index,
                                               "w2": w2.index, "evidence": R.index},
                                     "kind": "cross-key"}), _suspect(o1, w2))


# ------------------------------------------------------------------------------------
# Results and witness replay (§9)


def _results(history: History, options: CheckOptions, found: _Found) -> dict[str, CheckResult]:
    by_index = None
    out: dict[str, CheckResult] = {}
    reason = None
    if found.skipped_keys:
        reason = (f"{len(found.skipped_keys)} key(s) skipped because written values are not "
                  f"unique (P1), e.g. {found.skipped_keys[0]}")
    n_txn = txn_count(history)
    st_all = found.stats[SESSION]
    for name in NAMES:
        for k in ("reads_checked", "writes_checked", "unverifiable"):
            st_all[k] = max(st_all[k], found.stats[name][k])
    for name in ALL_NAMES:
        anoms = found.anoms[name]
        kept, dropped, unreplayed = [], 0, 0
        for i, a in enumerate(anoms):
            if i >= REPLAY_LIMIT:
                unreplayed += 1
                kept.append(a)
                continue
            if by_index is None:
                by_index = history.by_index()
            if replay(history, options, name, a, by_index):
                kept.append(a)
            else:
                dropped += 1
        kept.sort(key=lambda a: a.ops[0] if a.ops else -1)
        stats = dict(found.stats[name])
        stats["sessions"] = len(found.sessions)
        stats["replay_dropped"] = dropped
        if unreplayed:
            stats["unreplayed"] = unreplayed
        if found.skipped_keys:
            stats["keys_skipped"] = len(found.skipped_keys)
        total_groups = sum(a.details.get("count", 1) for a in kept)
        if total_groups != len(kept):
            stats["violating_ops"] = total_groups
        why = reason
        if why is None and n_txn:
            stats["transactions"] = n_txn
            why = (f"{n_txn} transaction(s) are not judged by the session checkers (they "
                   f"check single-key ops; transactions are the transactional checker's)")
        if why is None and stats["reads_checked"] + stats["writes_checked"] == 0:
            why = nothing_checked_reason(history, "reads or writes with a known version")
        res = result_from_anomalies(name, kept, stats=stats, assumptions=_assumptions(found, name),
                                    unknown_reason=why)
        res.notices = found.notices[name]
        out[name] = res
    return out


def _assumptions(found: _Found, name: str) -> list[str]:
    a = ["unique-values", "session-ends-on-info"]
    if any(x.details.get("confidence") == "assumption:lww-register" for x in found.anoms[name]):
        a.append("lww-register")
    return a


def replay(history: History, options: CheckOptions, name: str, a: Anomaly,
           by_index: dict | None = None) -> bool:
    """Does the anomaly's witness sub-history alone still violate `name`? (§9)"""
    by_index = by_index if by_index is not None else history.by_index()
    sub = [by_index[i] for i in a.ops if i in by_index]
    if len(sub) != len(a.ops):
        return False
    # plus the writers the witness references: those of every value its reads observed
    indexes = build_indexes(history, options.workload)
    have = {o.index for o in sub}
    for op in list(sub):
        if op.f not in ("read", "cas") or op.type != "ok":
            continue
        for k in (op.key if type(op.key) is tuple else (op.key,)):
            ix = indexes.get(k)
            if ix is None:
                continue
            seen = ix.observed(op)
            vals = seen if ix.kind in ("list", "set") and isinstance(seen, (list, tuple)) else [seen]
            for v in vals:
                w = ix.writer(v) if v is not None else None
                if w is not None and w.index not in have:
                    have.add(w.index)
                    # a referenced writer shows where a value came from; it must not
                    # add session obligations the witness did not rely on
                    tag = ("witness-writer", w.index)
                    sub.append(w._replace(process=tag, session=tag))
    sub.sort(key=lambda o: o.inv_index)
    tb = history.meta.get("version_tiebreak")
    h = History(ops=sub, source=f"{history.source}#witness",
                meta={"version_tiebreak": tb} if tb else {})
    f2 = analyse(h, options)
    return bool(f2.anoms[name]) or bool(f2.notices[name] and a.details.get("confidence", "").startswith("suspect"))
