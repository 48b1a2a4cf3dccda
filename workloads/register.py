"""The `register` workload: reads, unique-valued writes and (optionally) cas per key.

Each write carries a fresh value; a cas `[expected, new]` expects the last value this
generator handed out for the key (so it succeeds when no concurrent write intervened)
and writes a fresh one. Both count towards the key's write bound.
"""

from __future__ import annotations

import random
from typing import Any

from splitbrain.workloads.mix import SESSION, KeyedWorkload


class RegisterWorkload(KeyedWorkload):
    name = "register"
    model = "register"
    checkers = ("integrity", *SESSION, "staleness", "lost-updates", "convergence")
    default_max_writes = 100
    default_read_ratio = 0.5
    # cas may also expect ⊥ (None) for a key nobody wrote yet
    cas_from_bottom = False

    def __init__(self, *, cas: bool = False, cas_ratio: float = 0.2, **kw: Any):
        if not 0 <= cas_ratio <= 1:
            raise ValueError("cas_ratio must lie in [0, 1]")
        super().__init__(**kw)
        self.cas = cas
        self.cas_ratio = cas_ratio
        self._last: dict[Any, Any] = {}

    @property
    def ops(self) -> frozenset[str]:
        return frozenset({"read", "write", "cas"} if self.cas else {"read", "write"})

    def write(self, key: Any, rng: random.Random) -> dict[str, Any]:
        new = self.pool.next_value()
        prev = self._last.get(key)
        self._last[key] = new
        if (self.cas and (prev is not None or self.cas_from_bottom)
                and rng.random() < self.cas_ratio):
            return {"f": "cas", "key": key, "value": [prev, new]}
        return {"f": "write", "key": key, "value": new}
