"""The `list-append` workload: appends of unique elements and whole-list reads.

The best source of version order (checker-spec §2.3-A); keys retire after 50 appends
by default so reads stay short.
"""

from __future__ import annotations

import random
from typing import Any

from checkers import DEFAULTS
from workloads.keys import KeyPool


class ListAppendWorkload:
    name = "list-append"
    checkers = tuple(DEFAULTS["list-append"])

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int = 50,
                 read_ratio: float = 0.5):
        self.pool = KeyPool(keys_active, max_writes_per_key)
        self.read_ratio = read_ratio

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            value = self.pool.next_value()
            self.pool.wrote(key)
            return {"f": "append", "key": key, "value": value}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
