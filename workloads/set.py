"""The `set` workload: adds of unique elements with periodic whole-set reads
(Jepsen's `set-full`: an acknowledged add must stay visible, checker-spec §5.1)."""

from __future__ import annotations

import random
from typing import Any

from checkers import DEFAULTS
from workloads.keys import KeyPool


class SetWorkload:
    name = "set"
    checkers = tuple(DEFAULTS["set"])

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int = 100,
                 read_ratio: float = 0.25):
        self.pool = KeyPool(keys_active, max_writes_per_key)
        self.read_ratio = read_ratio

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            value = self.pool.next_value()
            self.pool.wrote(key)
            return {"f": "add", "key": key, "value": value}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
