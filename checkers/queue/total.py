"""Unordered-queue accounting over `dequeue`/`drain` ops (Jepsen's total-queue, and the
NATS per-writer split).

Obligations: with attempts = values of every invoked send, enqueued = values of ok
sends, and the multiset of values returned by ok dequeues/drains:

* lost = enqueued − dequeued — an anomaly only when the history has a final drain
  (`drain` op or a `final` dequeue), else the result is unknown for this part;
* unexpected = dequeued values never attempted (anomaly; reported by log.py, which
  sees every read);
* duplicated = values dequeued more than once (notice: at-least-once allows it);
* recovered = info sends whose value came out (a stat);
* per writer process, lost values ordered by that writer's send order are split into
  prefix (before its first dequeued value), middle (between, the worst case: values
  on both sides came out) and suffix (after its last: possibly a slow reader);
* lost-on-node: the lost values grouped by the node that acknowledged their enqueue
  (the send's `node`), one anomaly per node naming its first 8 sends — which node's
  acknowledgements were not worth anything (a failed-over primary, a diverged replica).
  Sends without a `node` are counted in `lost_unattributed`, never guessed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from splitbrain.checkers.queue.log import LogFindings
from splitbrain.checkers.queue.model import QueueHistory
from splitbrain.checkers.result import Anomaly


def check_total(qh: QueueHistory, out: LogFindings) -> dict | None:
    deq = [(op, pairs) for op, pairs in qh.reads if op.f in ("dequeue", "drain")]
    if not deq:
        return None
    name = qh.names
    drained = any(op.f == "drain" or op.final for op, _ in deq)
    got: Counter = Counter()
    first_reader: dict[tuple[str, Any], Any] = {}
    for op, pairs in deq:
        if op.type != "ok":
            continue
        for k, msgs in pairs:
            for it in msgs:
                v = it[1]
                got[(k, v)] += 1
                first_reader.setdefault((k, v), op)
    attempts = {}
    tries: Counter = Counter()  # sends of each (key, value): values may repeat (multisets)
    for op, k, v, _ in qh.sends:
        attempts.setdefault((k, v), op)
        tries[(k, v)] += 1
    enq = [(op, k, v) for op, k, v, _ in qh.sends if op.type == "ok"]
    recovered = sum(1 for (k, v), op in attempts.items() if op.type == "info" and (k, v) in got)
    for (k, v), n in got.items():
        if (k, v) not in attempts:
            continue  # reported once, as `unexpected`, by the log checks over every read
        elif n > tries[(k, v)]:
            r = first_reader[(k, v)]
            sent = tries[(k, v)]
            out.add(Anomaly("duplicated",
                            f"Value {v!r} of key {name[k]} was dequeued {n} times but sent "
                            f"{sent} time(s) (first dequeue by op {r.index}); at-least-once "
                            f"delivery allows it.",
                            [attempts[(k, v)].index, r.index], key=name[k],
                            details={"value": v, "count": n, "sent": sent}), allowed=True)
    delivered = _delivered(enq, got)
    lost = [e for e, came_out in zip(enq, delivered) if not came_out]
    by_node: dict[Any, list] = {}
    if lost and drained:
        for op, k, v in lost:
            by_node.setdefault(op.node, []).append((op, k, v))
        for node, items in sorted(((n, i) for n, i in by_node.items() if n is not None),
                                  key=lambda x: str(x[0])):
            first = items[0]
            out.add(Anomaly(
                "lost-on-node",
                f"Node {node} acknowledged {len(items)} enqueue(s) that were never dequeued, "
                f"not even by the final drain (first: value {first[2]!r} of key "
                f"{name[first[1]]} by {first[0].describe()}).",
                [op.index for op, _, _ in items[:8]], key=name[first[1]],
                details={"node": node, "count": len(items),
                         "values": [v for _, _, v in items[:32]]}))
        by_writer: dict[Any, list] = {}
        for e, came_out in zip(enq, delivered):
            by_writer.setdefault(e[0].process, []).append((e, came_out))
        for proc, sends in by_writer.items():
            pos = [i for i, (_, came_out) in enumerate(sends) if came_out]
            lo, hi = (pos[0], pos[-1]) if pos else (len(sends), -1)
            for i, ((op, k, v), came_out) in enumerate(sends):
                if came_out:
                    continue
                part = "prefix" if i < lo else ("middle" if i < hi else "suffix")
                out.add(Anomaly(
                    "lost",
                    f"Value {v!r} of key {name[k]} was acknowledged by {op.describe()} but never "
                    f"dequeued, not even by the final drain (lost-{part} of writer {proc}).",
                    [op.index], key=name[k], process=proc,
                    details={"value": v, "writer_part": part, "node": op.node}))
    return {"dequeue_ops": len(deq), "dequeued": sum(got.values()), "enqueued": len(enq),
            "attempted": len(attempts), "recovered": recovered, "drained": drained,
            "lost_undrained": 0 if drained else len(lost),
            "lost_by_node": {str(n): len(i) for n, i in by_node.items() if n is not None},
            "lost_unattributed": len(by_node.get(None, ()))}


def _delivered(enq: list[tuple], got: Counter) -> list[bool]:
    """Per acknowledged send, in order: did its message come out? A value sent n times
    and dequeued m < n times lost n − m copies (Jepsen's multiset `enqueues − dequeues`);
    which copies is not recorded, so the last n − m sends of it are named."""
    left = Counter()
    for _, k, v in enq:
        left[(k, v)] += 1
    flags = [False] * len(enq)
    for i in range(len(enq) - 1, -1, -1):
        _, k, v = enq[i]
        kv = (k, v)
        # the send is the left[kv]-th of its value; copies past the dequeued count are lost
        flags[i] = left[kv] <= got.get(kv, 0)
        left[kv] -= 1
    return flags
