"""A pool of active keys, each retired after a bounded number of writes.

Jepsen's independent keys (`jepsen.independent`, Elle's `max-writes-per-key`): histories
stay short per key, so per-key checks stay cheap (checker-spec §2.3-A step 5), and a
fresh key replaces each retired one. Values come from one counter, so every written
value is unique per key, per set, and across the whole run (checker-spec §2.1).

    pool = KeyPool(active=10, max_writes=100)
    with pool.lock:
        key = pool.pick(rng)          # an active key
        value = pool.next_value()     # unique
        pool.wrote(key)               # may retire `key` and slot in a fresh one

Thread-safe only under `pool.lock`, which the workloads hold for one whole `next_op`.
"""

from __future__ import annotations

import random
import threading


class KeyPool:
    """Active keys are ints 0, 1, 2, … in creation order; `all_keys()` lists every one."""

    def __init__(self, active: int = 10, max_writes: int = 100):
        if active < 1:
            raise ValueError("keys_active must be >= 1")
        if max_writes < 1:
            raise ValueError("max_writes_per_key must be >= 1")
        self.max_writes = max_writes
        self.lock = threading.Lock()
        self._next_key = 0
        self._next_value = 0
        self._slots = [self._fresh() for _ in range(active)]
        self._writes: dict[int, int] = {}

    def _fresh(self) -> int:
        k = self._next_key
        self._next_key += 1
        return k

    def pick(self, rng: random.Random) -> int:
        return self._slots[rng.randrange(len(self._slots))]

    def next_value(self) -> int:
        self._next_value += 1
        return self._next_value

    def writes(self, key: int) -> int:
        return self._writes.get(key, 0)

    def wrote(self, key: int) -> None:
        """Count one write of `key`; at the bound, retire it for a fresh key."""
        n = self._writes.get(key, 0) + 1
        self._writes[key] = n
        if n >= self.max_writes:
            self._slots[self._slots.index(key)] = self._fresh()

    def all_keys(self) -> list[int]:
        with self.lock:
            return list(range(self._next_key))
