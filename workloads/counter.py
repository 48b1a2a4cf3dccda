"""The `counter` workload: small positive increments and reads (Jepsen `counter`,
checker-spec §5.4). Deltas need not be unique; they are kept positive because the
bounds check assumes δ ≥ 0 unless told otherwise."""

from __future__ import annotations

import random
from typing import Any

from checkers import DEFAULTS
from workloads.keys import KeyPool


class CounterWorkload:
    name = "counter"
    checkers = tuple(DEFAULTS["counter"])

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int = 100,
                 read_ratio: float = 0.3, max_delta: int = 5):
        if max_delta < 1:
            raise ValueError("max_delta must be >= 1")
        self.pool = KeyPool(keys_active, max_writes_per_key)
        self.read_ratio = read_ratio
        self.max_delta = max_delta

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            self.pool.wrote(key)
            return {"f": "add", "key": key, "value": rng.randint(1, self.max_delta)}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
