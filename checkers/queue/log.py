"""Log-ordered queue anomalies (Jepsen's Kafka checker, without transactions' cycles).

Obligations (README "queue checker"; definitions as in jepsen.tests.kafka):

* the *version order* of a key is built from every poll/dequeue/drain (ok, info and fail:
  a poller must never return bad data) and from the sends of ops that must have
  committed (ok, or info with one of its values read by an ok read), by offset; offsets
  are then compressed into a dense index, so sparse offsets (Redis IDs, Kafka markers)
  are no gaps;
* inconsistent-offsets: two values at one offset; duplicate: one value at two offsets;
* lost-write: a committed value absent from every ok read although an ok read saw a
  value whose first index is at or beyond the value's last index; with a final
  `assign` (seek beginning), also a committed value missing from the final re-read of
  the whole log below its highest index — or anywhere, when that re-read reached the end
  (an empty final poll) — read earlier or not: gone from the log;
* aborted-read: an ok read of a value whose send failed; unexpected: a read value that
  no send ever attempted;
* poll-skip / nonmonotonic-poll: per process, a read of key k starting > 1 / < 1 index
  after the last value of k its previous ok read ended on (state kept across assigns
  that still cover k, dropped by assigns that do not, by subscribe-mode rebalances, by
  crashes and by a poll's `reset` list: the client recorded that its library re-seeked
  k's partition during that poll); only ok reads move the state; allowed (notices)
  under subscribe;
* int-poll-skip / int-nonmonotonic-poll: the same inside one read (keys in the op's
  `rebalanced` or `reset` list exempt); nonmonotonic-send / int-nonmonotonic-send;
* unseen: acknowledged values no ok read returned — an anomaly only after a final
  phase (a `final` read), else a notice (it cannot tell lost from late).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from splitbrain.checkers.queue import native
from splitbrain.checkers.queue.model import QueueHistory, offset_key, show_offset
from splitbrain.checkers.result import Anomaly
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import Op

_ALLOWED_UNDER_SUBSCRIBE = ("poll-skip", "nonmonotonic-poll")


class KeyLog:
    """One key's version order: offset -> {value: first op index}, dense indices."""

    __slots__ = ("at", "offsets", "index_of", "first", "last", "single")

    def __init__(self) -> None:
        self.at: dict[tuple, dict[Any, int]] = {}

    def add(self, off: Any, value: Any, op_index: int) -> None:
        vals = self.at.get(off)
        if vals is None:
            self.at[off] = {value: op_index}
        elif value not in vals:
            vals[value] = op_index

    def freeze(self, where: str = "history") -> None:
        at = self.at
        if all(type(o) is int for o in at):
            self.offsets = offsets = sorted(at)  # Kafka: integers order as themselves
        elif native.ORDER is not None and (ordered := native.ORDER(at)) is not None:
            self.offsets = offsets = ordered  # sorted(at, key=offset_key), in Rust
        else:
            try:  # no per-offset lambda (half a million Redis IDs); on a bad offset
                self.offsets = offsets = sorted(at, key=offset_key)
            except InputError:  # ... sorted again, for the message naming `where`
                self.offsets = offsets = sorted(at, key=lambda o: offset_key(o, where))
        n = len(offsets)
        self.index_of = dict(zip(offsets, range(n)))
        # the usual log: one value per offset, each value once (C-level; first is last)
        self.single = sum(map(len, at.values())) == n
        if self.single:
            vals = list(map(next, map(iter, map(at.__getitem__, offsets))))
            first = dict(zip(vals, range(n)))
            if len(first) == n:
                self.first = self.last = first
                return
        first: dict[Any, int] = {}
        last: dict[Any, int] = {}
        for i, o in enumerate(self.offsets):
            for v in self.at[o]:
                if v not in first:
                    first[v] = i
                last[v] = i
        self.first, self.last = first, last

    def values_at(self, i: int) -> list:
        return list(self.at[self.offsets[i]])


def read_ok_index(qh: QueueHistory) -> dict[str, dict[Any, Op]]:
    """key -> value -> the first ok read that returned it (cached on `qh`)."""
    return qh.read_ok  # built while parsing (model.py)


def committed_ops(qh: QueueHistory) -> set[int]:
    """Indices of send ops that must have committed: ok, or info with a value read ok."""
    read_ok = read_ok_index(qh)
    if native.COMMITTED is not None:
        return native.COMMITTED(qh.op_sends, read_ok)  # the loop below, in Rust
    out = set()
    for idx, sends in qh.op_sends.items():
        op = sends[0][0] if sends else None
        if op is None:
            continue
        if op.type == "ok":
            out.add(idx)
        elif op.type == "info" and any(v in read_ok.get(k, ()) for _, k, v, _ in sends):
            out.add(idx)
    return out


def build_logs(qh: QueueHistory, committed: set[int]) -> dict[str, KeyLog]:
    # the reads' placements, gathered while parsing, adopted (not copied): the committed
    # sends are added to them, a key only sends placed appended after them
    ats = {k: at for k, at in qh.read_at.items() if at}
    if native.COMMIT is not None and type(qh.sends) is list and type(committed) is set:
        native.COMMIT(qh.sends, committed, ats)  # the loop below, in Rust
    else:
        for op, k, v, off in qh.sends:
            if off is not None and op.index in committed:
                at = ats.get(k)
                if at is None:
                    at = ats[k] = {}
                vals = at.get(off)  # KeyLog.add, inline (once per committed send)
                if vals is None:
                    at[off] = {v: op.index}
                elif v not in vals:
                    vals[v] = op.index
    logs: dict[str, KeyLog] = {}
    for k, at in ats.items():
        lg = logs[k] = KeyLog()
        lg.at = at
        lg.freeze(f"{qh.source}: key {k}")
    return logs


class ReadSummary:
    """One pass over every read message, placed in the version order.

    per_op: op index -> {key: [first index, first value, last index, last value, max index]}
      (a dict, or with the Rust pass a QueueIndex answering .get(op index[, default]) alike)
    intra: (op, key, previous index, previous value, index, value) for each pair of
      consecutive messages of one key inside one read that are not one index apart.
    """

    __slots__ = ("per_op", "intra")

    def __init__(self, qh: QueueHistory, logs: dict[str, "KeyLog"]):
        per_op: dict[int, dict] = {}
        intra: list = []
        if native.DENSE is not None:
            # the same pass in Rust (native/src/queue.rs): per_op is then a compact
            # QueueIndex whose .get renders one read's summaries in the dict form below
            maps = {k: (lg.index_of, lg.first) for k, lg in logs.items()}
            self.per_op, self.intra = native.DENSE(qh.reads, maps, intra), intra
            if native.SENDS is not None and type(qh.sends) is list:
                native.SENDS(self.per_op, qh.sends)  # the sends' indices, once (STEPS, LAG)
            if native.PROCS is not None and type(qh.by_process) is dict:
                # each op's fields, once (STEPS, LAG), as queue_ops read them where it did
                native.PROCS(self.per_op, qh.by_process, getattr(qh, "op_recs", None))
            return
        add_intra = intra.append
        for op, pairs in qh.reads:
            summ: dict[str, list] = {}
            is_poll = op.f == "poll"
            for k, msgs in pairs:
                lg = logs.get(k)
                if lg is None:
                    continue
                s = summ.get(k)
                index_of, first = lg.index_of, lg.first
                for it in msgs:
                    off, v = it[0], it[1]
                    i = index_of.get(off) if off is not None else first.get(v)
                    if i is None:
                        continue
                    if s is None:
                        s = summ[k] = [i, v, i, v, i]
                        continue
                    if i - s[2] != 1 and is_poll:
                        # only a log consumer's read is contiguous; a group read (dequeue,
                        # drain) skips what the group gave others and mixes in reclaims
                        add_intra((op, k, s[2], s[3], i, v))
                    s[2] = i
                    s[3] = v
                    if i > s[4]:
                        s[4] = i
            per_op[op.index] = summ
        self.per_op, self.intra = per_op, intra


def dense_reads(qh: QueueHistory, logs: dict[str, KeyLog]) -> ReadSummary:
    return ReadSummary(qh, logs)


class LogFindings:
    """Anomalies (invalidating), notices (reported, allowed) and counts."""

    def __init__(self) -> None:
        self.anomalies: list[Anomaly] = []
        self.notices: list[Anomaly] = []
        self.counts: dict[str, int] = {}

    def add(self, a: Anomaly, allowed: bool = False) -> None:
        self.counts[a.type] = self.counts.get(a.type, 0) + 1
        (self.notices if allowed else self.anomalies).append(a)


def check_log(qh: QueueHistory, logs: dict[str, KeyLog], committed: set[int],
              out: LogFindings) -> dict:
    name = qh.names
    sends = qh.sends
    read_ok = read_ok_index(qh)  # key -> value -> first ok reader
    unwritten = unseen_sends = None
    if native.WRITERS is not None and type(sends) is list:
        # the writer index as key -> value -> first send, the aborted-read / unexpected
        # scan against it and the unseen scan below, in one Rust pass over the sends: no
        # (key, value) tuple per send
        by_key, distinct, unwritten, qh.sends_ok, unseen_sends = native.WRITERS(sends, read_ok)
        writer: Any = _Writers(by_key)
        repeated = ({kv: n for kv, n in Counter((k, v) for _, k, v, _ in sends).items() if n > 1}
                    if distinct != len(sends) else {})
    else:
        kvs = [(k, v) for _, k, v, _ in sends]
        # (key, value) -> its first send: reversed so that the first one wins (C-level loops)
        writer = dict(zip(reversed(kvs), [s[0] for s in reversed(sends)]))
        # (key, value) -> times sent, for the values sent more than once (usually none)
        repeated = ({kv: n for kv, n in Counter(kvs).items() if n > 1}
                    if len(writer) != len(kvs) else {})
        del kvs
    qh.repeated_values = len(repeated)

    def sends_of(kv) -> int:
        return repeated.get(kv, 1 if kv in writer else 0)

    # inconsistent offsets and duplicates
    for k, lg in logs.items():
        if lg.first is lg.last:
            continue  # one value per offset, each value once (KeyLog.freeze)
        for i, off in enumerate(lg.offsets):
            vals = lg.at[off]
            if len(vals) > 1:
                out.add(Anomaly(
                    "inconsistent-offsets",
                    f"Offset {show_offset(off)} of key {name[k]} holds {len(vals)} different "
                    f"values {sorted(vals, key=repr)}: a log position must hold one message.",
                    sorted(set(vals.values())), key=name[k],
                    details={"offset": show_offset(off), "index": i,
                             "values": sorted(vals, key=repr)}))
        seen_at: dict[Any, list] = {}
        for off in lg.offsets:
            for v, oi in lg.at[off].items():
                seen_at.setdefault(v, []).append((off, oi))
        for v, places in seen_at.items():
            if len(places) > 1:
                offs = [show_offset(o) for o, _ in places]
                w = writer.get((k, v))
                if len(places) <= sends_of((k, v)):
                    # the history sent this value that many times itself: not a duplicate
                    out.add(Anomaly("repeated-value",
                                    f"Value {v!r} of key {name[k]} was sent "
                                    f"{sends_of((k, v))} times, so its {len(places)} offsets "
                                    f"are not a duplicate; values should be unique per key.",
                                    [w.index] if w else [], key=name[k],
                                    details={"value": v, "offsets": offs}), allowed=True)
                    continue
                seen_by = sorted({oi for _, oi in places} - {w.index if w else None})
                sent = f" by {w.describe()}" if w else ""
                out.add(Anomaly(
                    "duplicate",
                    f"Value {v!r} of key {name[k]}, sent once{sent}, sits at {len(places)} "
                    f"offsets {offs}: it was appended to the log more than once.",
                    ([w.index] if w else []) + seen_by, key=name[k],
                    details={"value": v, "count": len(places), "offsets": offs,
                             "writer": w.index if w else None}))

    # aborted reads and unexpected values (once per distinct value, first ok reader);
    # a value sent more than once is aborted only when every send of it failed
    unfailed = ({(k, v) for op, k, v, _ in sends if op.type != "fail"} if repeated else None)
    for k, v, op, w in (_unwritten_reads(read_ok, writer) if unwritten is None else unwritten):
        if w is None:
            out.add(Anomaly(
                "unexpected",
                f"{op.describe()} read value {v!r} of key {name[k]}, which no send ever "
                f"attempted.", [op.index], key=name[k], process=op.process,
                details={"value": v}))
        elif unfailed is None or (k, v) not in unfailed:  # (its first send failed)
            out.add(Anomaly(
                "aborted-read",
                f"{op.describe()} read value {v!r} of key {name[k]}, whose send "
                f"{w.describe()} failed.", [w.index, op.index], key=name[k],
                process=op.process, details={"value": v, "reader": op.index,
                                             "writer": w.index}))

    # lost writes (Jepsen's bound) ...
    lost_seen: set[tuple[str, Any]] = set()
    for k, v, li, bound, bound_op in _lost_candidates(logs, read_ok):
        w = writer.get((k, v))
        if w is None or w.index not in committed:
            continue
        lost_seen.add((k, v))
        out.add(Anomaly(
            "lost-write",
            f"Value {v!r} of key {name[k]} was committed by {w.describe()} at index {li}, "
            f"but no ok read returned it although {bound_op.describe()} read index {bound} "
            f"beyond it.", [w.index, bound_op.index], key=name[k],
            details={"value": v, "index": li, "max_read_index": bound,
                     "writer": w.index, "max_read": bound_op.index}))

    # ... and values gone from the final re-read of the whole log
    final_reads, vanished = _vanished_candidates(qh, logs, lost_seen)
    for k, v, li, top in vanished:
        fr = final_reads.get(k, {})
        w = writer.get((k, v))
        if w is None or w.index not in committed:
            continue
        lost_seen.add((k, v))
        ops = [w.index] + ([reads_op.index] if (reads_op := read_ok.get(k, {}).get(v)) else [])
        last_final = max(fr.values(), key=lambda o: o.index) if fr else None
        if last_final is not None:
            ops.append(last_final.index)
        where = ("to the end of the log" if k in qh.final_complete
                 else f"below index {top}")
        seen = "and read earlier" if reads_op else "(never read)"
        out.add(Anomaly(
            "lost-write",
            f"Value {v!r} of key {name[k]} was committed by {w.describe()} {seen}, but the "
            f"final re-read of the whole log, {where}, no longer holds it: the log lost it.",
            ops, key=name[k],
            details={"value": v, "index": li, "max_read_index": top, "writer": w.index,
                     "vanished": True, "read_earlier": bool(reads_op)}))

    # unseen: acknowledged, never read (final phase decides anomaly vs notice)
    had_final = bool(qh.finals)
    unseen: dict[str, list] = {}
    unseen_ops: dict[str, list] = {}
    if unseen_sends is not None:  # (native.WRITERS: the loop below but for lost_seen)
        for k, v, oi in unseen_sends:
            if not lost_seen or (k, v) not in lost_seen:
                unseen.setdefault(k, []).append(v)
                unseen_ops.setdefault(k, []).append(oi)
    elif native.UNSEEN is not None and type(sends) is list:
        native.UNSEEN(sends, read_ok, lost_seen, unseen, unseen_ops)  # the loop below, in Rust
    else:
        ro_get = read_ok.get
        for op, k, v, _ in sends:
            if (op.type == "ok" and v not in ro_get(k, ())
                    and (not lost_seen or (k, v) not in lost_seen)):
                unseen.setdefault(k, []).append(v)
                unseen_ops.setdefault(k, []).append(op.index)
    for k, vals in unseen.items():
        a = Anomaly(
            "unseen",
            f"{len(vals)} acknowledged value(s) of key {name[k]} (first {vals[0]!r}) were never "
            f"returned by any ok read" + (" even after the final drain." if had_final else
                                          "; with no final drain they may only be late."),
            unseen_ops[k][:8], key=name[k],
            details={"count": len(vals), "values": vals[:32]})
        out.add(a, allowed=not had_final)
    return {"unseen": sum(len(v) for v in unseen.values()), "final_phase": had_final}


class _Writers:
    """check_log's `writer` ((key, value) -> first send op) kept as key -> value -> op
    (`native.WRITERS`): the same answers to `get` and `in`, without a tuple per send."""

    __slots__ = ("by_key",)

    def __init__(self, by_key: dict) -> None:
        self.by_key = by_key

    def get(self, kv: tuple, default: Any = None) -> Any:
        d = self.by_key.get(kv[0])
        return default if d is None else d.get(kv[1], default)

    def __contains__(self, kv: tuple) -> bool:
        d = self.by_key.get(kv[0])
        return d is not None and kv[1] in d


def _unwritten_reads(read_ok: dict[str, dict], writer: dict) -> list:
    """(key, value, first ok reader, writer | None) of each value read ok, in read_ok's
    order, that no send attempted (None) or whose first send failed."""
    if native.UNEXPECTED is not None:
        return native.UNEXPECTED(read_ok, writer)  # the loop below, in Rust
    out = []
    for k, reads in read_ok.items():
        for v, op in reads.items():
            w = writer.get((k, v))
            if w is None or w.type == "fail":
                out.append((k, v, op, w))
    return out


def _lost_candidates(logs: dict[str, KeyLog], read_ok: dict[str, dict]) -> list:
    """(key, value, last index, bound, bound_op) of each value of a key's log, in log
    order, never read ok and at or below Jepsen's bound: the highest first index of a
    value read ok (bound_op: the first reader of the first value reaching it)."""
    if native.LOST is not None:  # the loop below, in Rust
        return native.LOST([(k, lg.first, lg.last) for k, lg in logs.items()], read_ok)
    out = []
    for k, lg in logs.items():
        reads = read_ok.get(k)
        if not reads:
            continue
        bound, bound_op = -1, None
        for v, rop in reads.items():
            fi = lg.first.get(v)
            if fi is not None and fi > bound:
                bound, bound_op = fi, rop
        if bound_op is None:
            continue
        for v, li in lg.last.items():
            if li > bound or v in reads:
                continue
            out.append((k, v, li, bound, bound_op))
    return out


def _vanished_candidates(qh: QueueHistory, logs: dict[str, KeyLog],
                         lost_seen: set) -> tuple[dict[str, dict[Any, Op]], list]:
    """(final_reads: key -> value -> its first ok final reader, candidates): for each key
    re-read from the beginning at the end (in `final_assigned` order) with a log,
    (key, value, last index, top) of each value of its log, in order, that the final
    re-read did not return, at or below top (the highest first index re-read, or the
    log's length when the re-read reached the end) and not already in `lost_seen`."""
    if native.VANISHED is not None and type(qh.finals) is list:  # the loops below, in Rust
        return native.VANISHED(qh.finals, qh.final_assigned,
                               {k: (lg.first, lg.last, len(lg.offsets)) for k, lg in logs.items()},
                               qh.final_complete, lost_seen)
    final_reads: dict[str, dict[Any, Op]] = {}
    for op, pairs in qh.finals:
        if op.type == "ok":
            for k, msgs in pairs:
                for it in msgs:
                    final_reads.setdefault(k, {}).setdefault(it[1], op)
    out = []
    for k in qh.final_assigned:
        lg = logs.get(k)
        fr = final_reads.get(k, {})
        if lg is None:
            continue
        top = max((lg.first[v] for v in fr if v in lg.first), default=-1)
        if k in qh.final_complete:
            top = len(lg.offsets)  # the re-read reached the end: everything must be there
        for v, li in lg.last.items():
            if v in fr or li > top or (k, v) in lost_seen:
                continue
            out.append((k, v, li, top))
    return final_reads, out


def _exempt(extra: dict) -> set[str]:
    """Keys a read names as repositioned during it: `rebalanced` (Jepsen's rebalance log)
    and `reset` (the client library re-seeked the partition, e.g. librdkafka's offset
    validation after a leader change)."""
    return {str(k) for f in ("rebalanced", "reset") for k in (extra.get(f) or ())}


def check_intra(qh: QueueHistory, logs: dict[str, KeyLog], out: LogFindings,
                dense: ReadSummary) -> None:
    """int-poll-skip / int-nonmonotonic-poll: consecutive messages of one key in one read."""
    name = qh.names
    for op, k, pi, pv, i, v in dense.intra:
        ex = op.extra
        if ex and k in _exempt(ex):
            continue
        d = i - pi
        if d > 1:
            lg = logs[k]
            skipped = [x for j in range(pi + 1, i) for x in lg.values_at(j)]
            out.add(Anomaly(
                "int-poll-skip",
                f"{op.describe()} jumped from {pv!r} to {v!r} on key {name[k]}, "
                f"skipping {skipped[:8]} inside one read.", [op.index],
                key=name[k], process=op.process,
                details={"values": [pv, v], "skipped": skipped[:32], "delta": d}))
        else:
            out.add(Anomaly(
                "int-nonmonotonic-poll",
                f"{op.describe()} read {v!r} after {pv!r} on key {name[k]}, "
                f"going back {1 - d} position(s) inside one read.", [op.index],
                key=name[k], process=op.process, details={"values": [pv, v], "delta": d}))


def _order_finding(out: LogFindings, logs, name, proc, k: str, lr: tuple, s: list, op: Op,
                   allow: bool) -> None:
    """poll-skip / nonmonotonic-poll on key k: the previous ok read `lr` = (index, value,
    op) ended at lr[0]; this read `op` (summary `s`) starts at s[0], not lr[0] + 1."""
    i, v = s[0], s[1]
    d = i - lr[0]
    if d > 1:
        lg = logs[k]
        skipped = [x for j in range(lr[0] + 1, i) for x in lg.values_at(j)]
        out.add(Anomaly(
            "poll-skip",
            f"Process {proc} read {lr[1]!r} of key {name[k]} in op "
            f"{lr[2].index}, then started at {v!r} in op {op.index}, skipping "
            f"{skipped[:8]}.", [lr[2].index, op.index], key=name[k],
            process=proc,
            details={"delta": d, "skipped": skipped[:32]}), allowed=allow)
    elif d < 1:
        out.add(Anomaly(
            "nonmonotonic-poll",
            f"Process {proc} read {lr[1]!r} of key {name[k]} in op "
            f"{lr[2].index}, then went back to {v!r} in op {op.index}.",
            [lr[2].index, op.index], key=name[k], process=proc,
            details={"delta": d, "values": [lr[1], v]}), allowed=allow)


def check_processes(qh: QueueHistory, logs: dict[str, KeyLog], out: LogFindings,
                    dense: ReadSummary) -> None:
    """Per-process order checks: poll-skip, nonmonotonic-poll, sends, intra-op forms."""
    check_intra(qh, logs, out, dense)
    name = qh.names
    allow = qh.subscribed
    empty = KeyLog()
    empty.offsets, empty.index_of, empty.first, empty.last, empty.at = [], {}, {}, {}, {}
    empty.single = True

    def idx(lg: KeyLog, off: tuple | None, v: Any) -> int | None:
        if off is not None:
            i = lg.index_of.get(off)
            if i is not None:
                return i
        return lg.first.get(v)

    per_op = dense.per_op
    per_op_get = per_op.get
    # the Rust steps read the compact index (a dict per_op: the Python pass ran)
    steps = native.STEPS if type(per_op) is not dict else None
    for proc, ops in qh.by_process.items():
        last_read: dict[str, tuple[int, Any, Op]] = {}   # key -> (index, value, op)
        last_send: dict[str, tuple[int, Any, Op]] = {}
        lr_get = last_read.get
        found = (lambda k, lr, s, op, proc=proc:
                 _order_finding(out, logs, name, proc, k, lr, s, op, allow))

        def int_send(op, k, p, v, i, proc=proc):
            out.add(Anomaly(
                "int-nonmonotonic-send",
                f"{op.describe()} sent {p[1]!r} then {v!r} to key {name[k]}, but the "
                f"log orders {v!r} first.", [op.index], key=name[k], process=proc,
                details={"values": [p[1], v], "delta": i - p[0]}))

        def mono_send(op, k, ls, v, i, proc=proc):
            out.add(Anomaly(
                "nonmonotonic-send",
                f"Process {proc} sent {ls[1]!r} to key {name[k]} in op {ls[2].index}, "
                f"then {v!r} in op {op.index}, but the log puts {v!r} at or before it.",
                [ls[2].index, op.index], key=name[k], process=proc,
                details={"values": [ls[1], v], "delta": i - ls[0]}))

        n, j = len(ops), 0
        while j < n:
            if steps is not None:
                # plain polls and sends from j on, in Rust (native/src/queue.rs): the same
                # checks as below, the findings made by the same functions; it stops at
                # the first other op
                j = steps(per_op, ops, j, last_read, last_send, qh.op_sends, found,
                          int_send, mono_send)
                if j >= n:
                    break
            op = ops[j]
            j += 1
            f = op.f
            if f == "poll" and not op.extra:
                # the hot path: a plain poll (same checks as below, fewer lookups)
                summ = per_op_get(op.index)
                if summ is None:
                    continue
                ok = op.type == "ok"
                for k, s in summ.items():
                    lr = lr_get(k)
                    if lr is not None and s[0] - lr[0] != 1:
                        _order_finding(out, logs, name, proc, k, lr, s, op, allow)
                    if ok:
                        last_read[k] = (s[2], s[3], op)
                continue
            if f in ("assign", "subscribe"):
                # positions on keys the new assignment still covers survive (Jepsen)
                keep = set(qh.assigned_keys(op))
                for st in (last_read, last_send):
                    for k in [k for k in st if k not in keep]:
                        del st[k]
                continue
            if f == "crash":
                last_read.clear()
                last_send.clear()
                continue
            summ = dense.per_op.get(op.index)
            ex = op.extra
            if ex and f == "poll" and ex.get("reset"):
                # the consumer was re-seeked during this poll: a fresh position on those
                # keys (data the re-read contradicts is still caught by the log checks)
                for k in _exempt({"reset": ex["reset"]}):
                    last_read.pop(k, None)
            if summ is not None and op.f == "poll":  # group dequeues share the log
                ok = op.type == "ok"
                for k, s in summ.items():
                    lr = last_read.get(k)
                    if lr is not None and s[0] - lr[0] != 1:
                        _order_finding(out, logs, name, proc, k, lr, s, op, allow)
                    if ok:
                        last_read[k] = (s[2], s[3], op)
            sends = qh.op_sends.get(op.index)
            if sends and op.type in ("ok", "info"):
                first_s: dict[str, tuple[int, Any]] = {}
                prev_s: dict[str, tuple[int, Any]] = {}
                for _, k, v, off in sends:
                    lg = logs.get(k, empty)
                    i = idx(lg, off, v)
                    if i is None:
                        continue
                    first_s.setdefault(k, (i, v))
                    p = prev_s.get(k)
                    if p is not None and i - p[0] < 1:
                        int_send(op, k, p, v, i)
                    prev_s[k] = (i, v)
                for k, (i, v) in first_s.items():
                    ls = last_send.get(k)
                    if ls is not None and i - ls[0] < 1:
                        mono_send(op, k, ls, v, i)
                for k, (i, v) in prev_s.items():
                    last_send[k] = (i, v, op)
