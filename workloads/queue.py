"""The `queue` workloads: a log-ordered queue (Jepsen's Kafka workload) on many streams.

* `queue` — producers `send` unique values to a few active keys (streams / partitions);
  consumers `assign` themselves the active keys and `poll` them from their own cursors.
* `queue-group` — the same plus consumer-group reads: `dequeue` (at-least-once, entries
  pending until `ack`), with XAUTOCLAIM recovery of dead consumers' entries, and a final
  `drain`, so the unordered accounting (lost / duplicated / recovered) applies too.

Each process starts with an `assign` of the active keys and re-assigns every ~16 of its
ops or when a key retires (keys retire after `max_writes_per_key` sends, like every other
workload: logs stay short, per-key checks cheap). Values come from one counter, so they
are unique per key (checker-spec §2.1).

The final phase (`final_phase`, called by the runner instead of the per-key final reads):
on every node, a fresh process assigns every key ever used with `seek: "beginning"` and
polls until a poll returns nothing (or the deadline), all marked `final`; `queue-group`
then drains the group on the primary. So lost-write / unseen / lost are decided against
the log's final content (checkers/queue).
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from splitbrain.harness.models import OpSpec
from splitbrain.workloads.keys import KeyPool

log = logging.getLogger("splitbrain")
REASSIGN_EVERY = 16


class QueueWorkload:
    name = "queue"
    model = "queue"                      # harness/models.py
    history = "queue"                    # the shape checkers/queue judges
    ops = frozenset({"send", "assign", "poll", "drain"})
    group = False

    @property
    def spec(self) -> OpSpec:
        """The queue model, namespaced by the workload (queue-group reads through a group)."""
        return OpSpec(self.model, namespace=self.name)

    def __init__(self, *, keys_active: int = 4, max_writes_per_key: int | None = None,
                 send_ratio: float = 0.5):
        if not 0 < send_ratio < 1:
            raise ValueError("send_ratio must lie in (0, 1)")
        # a handful of streams keep polls busy; more only spreads the reads thin
        self.pool = KeyPool(min(keys_active, 4), max_writes_per_key or 200)
        self.send_ratio = send_ratio
        self._assigned: dict[Any, tuple[tuple, int]] = {}  # process -> (keys, ops since)

    # checkers/options.py JUDGED["queue"] (workloads do not import the checkers)
    checkers = ("queue", "queue-lag")

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            active = tuple(sorted(self.pool._slots))
            got = self._assigned.get(process)
            if got is None or got[0] != active or got[1] >= REASSIGN_EVERY:
                self._assigned[process] = (active, 0)
                return {"f": "assign", "value": list(active)}
            self._assigned[process] = (got[0], got[1] + 1)
            if rng.random() < self.send_ratio:
                key = self.pool.pick(rng)
                op = {"f": "send", "key": key, "value": self.pool.next_value()}
                self.pool.wrote(key)
                return op
            return {"f": self.read_f(rng)}

    def read_f(self, rng: random.Random) -> str:
        return "poll"

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()

    def final_phase(self, test, nodes, db, workload, rec, *, first_process: int,
                    deadline: float) -> None:
        """Re-read every stream from the beginning on every node; drain the group."""
        keys = self.final_keys()
        if not keys:
            return
        for j, node in enumerate(nodes):
            p = first_process + j
            try:
                c = db.final_client(node, self.spec, p)
            except Exception as e:
                log.warning("final polls: no client on %s: %s", node.name, e)
                continue
            try:
                op = {"f": "assign", "value": keys, "seek": "beginning"}
                rec.invoke(p, op, final=True, seek="beginning", node=node.name)
                rec.complete(p, op, c.invoke(op), final=True, seek="beginning")
                while time.monotonic() < deadline:
                    op = {"f": "poll", "final": True}
                    rec.invoke(p, op, final=True, node=node.name)
                    comp = _safe(c, op)
                    rec.complete(p, op, comp, final=True)
                    if comp.get("type") == "ok" and not comp.get("value"):
                        break
                    if comp.get("type") != "ok":
                        time.sleep(0.5)
            finally:
                c.close()
        if self.group:
            p = first_process + len(nodes)
            c = db.client(nodes[0], self.spec, p)
            try:
                op = {"f": "assign", "value": keys}
                rec.invoke(p, op, final=True)
                rec.complete(p, op, c.invoke(op), final=True)
                op = {"f": "drain", "final": True}
                rec.invoke(p, op, final=True)
                rec.complete(p, op, _safe(c, op), final=True)
            finally:
                c.close()


class QueueGroupWorkload(QueueWorkload):
    name = "queue-group"
    ops = frozenset({"send", "assign", "poll", "dequeue", "ack", "drain"})
    group = True

    def read_f(self, rng: random.Random) -> str:
        r = rng.random()
        return "poll" if r < 0.3 else ("dequeue" if r < 0.75 else "ack")


def _safe(client, op: dict) -> dict:
    try:
        return client.invoke(op)
    except Exception as e:  # a client must map errors; if it did not, the op is indeterminate
        return {"type": "info", "error": f"client error: {type(e).__name__}: {e}"}
