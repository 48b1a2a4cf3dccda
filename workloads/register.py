"""The `register` workload: reads, unique-valued writes and (optionally) cas per key.

Each write carries a fresh value; a cas `[expected, new]` expects the last value this
generator handed out for the key (so it succeeds when no concurrent write intervened)
and writes a fresh one. Both count towards the key's write bound.
"""

from __future__ import annotations

import random
from typing import Any

from checkers import DEFAULTS
from workloads.keys import KeyPool


class RegisterWorkload:
    name = "register"
    checkers = tuple(DEFAULTS["register"])

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int = 100,
                 read_ratio: float = 0.5, cas: bool = False, cas_ratio: float = 0.2):
        self.pool = KeyPool(keys_active, max_writes_per_key)
        self.read_ratio = read_ratio
        self.cas = cas
        self.cas_ratio = cas_ratio
        self._last: dict[int, int] = {}

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            r = rng.random()
            if r < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            new = self.pool.next_value()
            prev = self._last.get(key)
            self._last[key] = new
            self.pool.wrote(key)
            if self.cas and prev is not None and rng.random() < self.cas_ratio:
                return {"f": "cas", "key": key, "value": [prev, new]}
            return {"f": "write", "key": key, "value": new}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
