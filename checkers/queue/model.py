"""Queue histories normalised for the queue checkers (README "Queue ops").

One pass over `History.ops` turns the queue ops into plain tuples:

* `send`: single form `key`, `value`, the ok completion's `offset`; batch form (no `key`)
  `value = [[key, value], ...]` with the completion's `offsets = [offset|null, ...]`;
* `poll` / `dequeue` / `drain`: `value = {key: [[offset, value], ...]}` in delivery order
  (info/fail reads keep whatever they carry: pollers must never return bad data);
* `assign` / `subscribe`: `value = [keys]` (an optional `seek`); `crash`: client torn down.

Keys are compared by `str(key)` because JSON object keys (poll values) are strings while a
send's `key` may be an int; the first non-string spelling seen is kept for display.
Offsets are compared as the broker orders them: Kafka ints, Redis stream IDs `"ms-seq"`
(or `[ms, seq]`), as tuples of ints (`offset_key`, once per distinct offset). A malformed queue op raises InputError naming it.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from splitbrain.checkers.queue import native
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import History, Op

READS = frozenset(("poll", "dequeue", "drain"))
ASSIGNS = frozenset(("assign", "subscribe"))
QUEUE_FS = READS | ASSIGNS | {"send", "ack", "crash"}
_second = itemgetter(1)


def raw_offset(off: Any, where: Any) -> Any:
    """An offset as recorded, made hashable: int and str stay, [ms, seq] -> "ms-seq".
    Comparison happens once per distinct offset (`offset_key`), not once per message."""
    t = type(off)
    if t is int or t is str or off is None:
        return off
    if t in (list, tuple) and len(off) == 2 and all(type(x) is int for x in off):
        return f"{off[0]}-{off[1]}"
    raise InputError(f"{where() if callable(where) else where}: offset {off!r} is neither an "
                     f"integer nor a stream ID")


def offset_key(off: Any, where: Any = "history") -> tuple:
    """A broker offset as a comparable tuple: 7 -> (7,), "1700-3" -> (1700, 3)."""
    if type(off) is int:
        return (off,)
    a, sep, b = str(off).partition("-")
    try:
        return (int(a), int(b)) if sep else (int(a),)
    except ValueError:
        raise InputError(f"{where() if callable(where) else where}: offset {off!r} is neither an "
                         f"integer nor a stream ID like \"1700000000000-0\"") from None


def show_offset(off: Any) -> Any:
    """The display form of an offset (as recorded)."""
    return off


class _Where:
    """Names an op in error messages; formatted only when an error is raised."""

    __slots__ = ("src", "index")

    def __init__(self, src: str, index: int):
        self.src, self.index = src, index

    def __str__(self) -> str:
        return f"{self.src}: op {self.index}"


class QueueHistory:
    """The queue ops of a history.

    sends: (op, key, value, offset tuple|None) per send, in op order.
    reads: (op, [(key, messages), ...]) per poll/dequeue/drain, in op order: per key in the
      read's order its messages, each indexable as [offset, value] (offset as recorded,
      made hashable; the recorded message lists themselves when they are plain JSON).
    finals: the reads of `final` ops, in op order; messages: how many messages `reads` hold.
    by_process: process -> its queue ops in program order (invocation order).
    names: canonical key -> display key.
    """

    def __init__(self, history: History):
        self.sends: list[tuple[Op, str, Any, tuple | None]] = []
        self.reads: list[tuple[Op, list]] = []
        self.finals: list[tuple[Op, list]] = []  # the reads of `final` ops
        self.messages = 0  # messages of every read, counted as they are placed
        self.by_process: dict[Any, list[Op]] = {}
        self.names: dict[str, Any] = {}
        self.acks = 0
        self.assigns = 0
        self.subscribed = False
        self.crashes = 0
        self.final_assigned: set[str] = set()  # keys re-read from the beginning at the end
        self.final_complete: set[str] = set()  # ... by a process whose re-read reached the end
        final_keys_of: dict = {}
        self.op_sends: dict[int, list] = {}   # op.index -> its sends
        self.read_at: dict[str, dict] = {}    # key -> offset -> {value: first op index}
        self.read_ok: dict[str, dict] = {}    # key -> value -> first ok read
        self.source = src = history.source
        by_process = self.by_process
        names, op_sends, sends_append = self.names, self.op_sends, self.sends.append
        reads_append, read_at, read_ok = self.reads.append, self.read_at, self.read_ok
        ops = history.ops
        nat, fast = native.READ, (native.OPS if type(ops) is list else None)
        # what queue_ops reads of each op it places, kept for log.py's walks (native.PROCS)
        self.op_recs = recs = native.RECS() if fast is not None and native.RECS is not None else None
        more = () if recs is None else (recs,)
        n, j = len(ops), 0
        while j < n:
            if fast is not None:
                # the usual ops from j on, in Rust (native/src/queue.rs `queue_ops`): this
                # loop's send branch and Rust read pass, filling the same containers; it
                # stops at the first other op, which the loop below handles
                j, m = fast(ops, j, by_process, names, self.sends, op_sends, self.reads,
                            None, read_at, read_ok, *more)  # (None: no op index -> read map)
                self.messages += m
                if j >= n:
                    break
            op = ops[j]
            j += 1
            f = op.f
            if f not in QUEUE_FS:
                continue
            procs = by_process.get(op.process)
            if procs is None:
                procs = by_process[op.process] = []
            procs.append(op)
            if f == "send":
                key, extra = op.key, op.extra
                off = extra.get("offset") if extra else None
                t = type(off)
                if key is not None and (t is int or t is str or off is None):
                    # the usual send (one key, a plain offset): _send's first branch inline
                    k = key if type(key) is str else str(key)
                    if k not in names or type(names[k]) is str:
                        names[k] = key
                    s = (op, k, op.value, off)
                    sends_append(s)
                    op_sends[op.index] = [s]
                else:
                    self._send(op, _Where(src, op.index))
                continue
            if f in READS:
                before = len(self.reads)
                v = op.value
                if nat is not None and type(v) is dict:
                    # _read's Rust loop, inline (half a million reads); it declines,
                    # touching nothing, on unusual shapes: _read then runs and raises
                    pairs = []
                    if nat(v, names, read_at, read_ok, op.type == "ok", op.index, op, pairs):
                        reads_append((op, pairs))
                        self.messages += sum(map(len, map(_second, pairs)))
                    else:
                        self._read(op, _Where(src, op.index))
                else:
                    self._read(op, _Where(src, op.index))
                if op.final and len(self.reads) > before:
                    # (queue_ops leaves every final read to this loop)
                    self.finals.append(self.reads[-1])
                if (f == "poll" and op.final and op.type == "ok" and not op.value
                        and op.process in final_keys_of):
                    # an empty final poll after the rewind: this re-read reached the end
                    self.final_complete.update(final_keys_of[op.process])
            elif f in ASSIGNS:
                self.assigns += 1
                if f == "subscribe":
                    self.subscribed = True
                if op.final and op.type == "ok" and (op.extra or {}).get("seek") == "beginning":
                    keys = self.assigned_keys(op)
                    self.final_assigned.update(keys)
                    final_keys_of[op.process] = keys
            elif f == "ack":
                self.acks += 1
            else:
                self.crashes += 1

    def canon(self, key: Any) -> str:
        k = key if type(key) is str else str(key)
        if k not in self.names or type(self.names[k]) is str:
            self.names[k] = key
        return k

    def assigned_keys(self, op: Op) -> list[str]:
        v = op.value
        if v is None:
            return []
        if not isinstance(v, (list, tuple)):
            v = [v]
        return [self.canon(k) for k in v]

    def _send(self, op: Op, where: str) -> None:
        extra = op.extra or {}
        out = []
        if op.key is not None:
            off = raw_offset(extra.get("offset"), where)
            out.append((op, self.canon(op.key), op.value, off))
        else:
            v = op.value
            if not isinstance(v, list):
                raise InputError(f"{where}: a send without a key needs value [[key, value], ...]")
            offs = extra.get("offsets") or []
            for i, pair in enumerate(v):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise InputError(f"{where}: batch send element {pair!r} is not [key, value]")
                off = offs[i] if i < len(offs) else None
                out.append((op, self.canon(pair[0]), pair[1], raw_offset(off, where)))
        self.sends.extend(out)
        self.op_sends[op.index] = out

    def _read(self, op: Op, where: str) -> None:
        v = op.value
        if v is None:
            return
        if not isinstance(v, dict):
            raise InputError(f"{where}: a {op.f} value must be {{key: [[offset, value], ...]}}")
        pairs = []
        append = pairs.append
        names = self.names
        # built in the same pass (one visit per message): every read's placements
        # (key -> offset -> {value: first op index}) and the first ok reader of each value
        read_at, read_ok = self.read_at, self.read_ok
        ok = op.type == "ok"
        idx = op.index
        # (the same loop in Rust runs first, from __init__, when native.READ is built)
        for k, items in v.items():
            ck = k if (type(k) is str and k in names) else self.canon(k)
            if type(items) is not list:
                raise InputError(f"{where}: the messages of key {k!r} must be a list")
            at = read_at.get(ck)
            if at is None:
                at = read_at[ck] = {}
            if ok:
                seen = read_ok.get(ck)
                if seen is None:
                    seen = read_ok[ck] = {}
            at_get = at.get
            msgs = []
            add = msgs.append
            append((ck, msgs))
            for it in items:
                try:
                    off, val = it[0], it[1]
                except (TypeError, IndexError, KeyError):
                    raise InputError(f"{where}: message {it!r} of key {k!r} is not [offset, value]") from None
                t = type(off)
                if t is not str and t is not int and off is not None:
                    off = raw_offset(off, where)
                add((off, val))
                vals = at_get(off)
                if vals is None:
                    if off is not None:
                        at[off] = {val: idx}
                elif val not in vals:
                    vals[val] = idx
                if ok and val not in seen:
                    seen[val] = op
        self.reads.append((op, pairs))
        self.messages += sum(map(len, map(_second, pairs)))
