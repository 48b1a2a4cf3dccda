"""The shape every workload shares: pick an active key, then read it or write it.

A workload is a `KeyedWorkload` with a name, its data model (harness/models.py), the ops
it emits, its default checkers, a default write mix, and `write(key, rng)` saying what a
write is (an append, an add, a register write or cas…). Keys come from a `KeyPool`
(bounded writes per key); `next_op` is thread-safe (one lock for the pool).
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.harness.models import MODELS, OpSpec
from splitbrain.workloads.keys import KeyPool

SESSION = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads",
           "session")


class KeyedWorkload:
    name = ""
    model = "register"            # harness/models.py
    linearizable = False          # the client must make every op linearizable
    checkers: tuple[str, ...] = ()  # checker names run by default (checker-spec §8)
    write_f = "write"
    default_max_writes = 100
    default_read_ratio = 0.5

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int | None = None,
                 read_ratio: float | None = None):
        self.pool = KeyPool(keys_active, max_writes_per_key or self.default_max_writes)
        self.read_ratio = self.default_read_ratio if read_ratio is None else read_ratio
        if not 0 <= self.read_ratio <= 1:
            raise ValueError("read_ratio must lie in [0, 1]")

    @property
    def spec(self) -> OpSpec:
        """What the datastore client must speak for this workload."""
        return OpSpec(self.model, linearizable=self.linearizable, namespace=self.name)

    @property
    def ops(self) -> frozenset[str]:
        """The `f`s this workload emits (a subset of its model's)."""
        return frozenset({"read", self.write_f})

    @property
    def history(self) -> str | None:
        """The history shape its checkers judge (results.json "workload"); None for a
        model the checkers do not know by name (they infer it from the ops)."""
        m = MODELS.get(self.model)
        return m.history if m is not None else None

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            op = self.write(key, rng)
            self.pool.wrote(key)
            return op

    def write(self, key: Any, rng: random.Random) -> dict[str, Any]:
        """A write op for `key` (called under the pool lock). Default: a unique value."""
        return {"f": self.write_f, "key": key, "value": self.pool.next_value()}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
