"""The `counter` workload: small positive increments and reads (Jepsen `counter`,
checker-spec §5.4). Deltas need not be unique; they are kept positive because the
bounds check assumes δ ≥ 0 unless told otherwise."""

from __future__ import annotations

import random
from typing import Any

from splitbrain.workloads.mix import KeyedWorkload


class CounterWorkload(KeyedWorkload):
    name = "counter"
    model = "counter"
    checkers = ("lost-updates", "convergence")
    write_f = "add"
    default_max_writes = 100
    default_read_ratio = 0.3

    def __init__(self, *, max_delta: int = 5, **kw: Any):
        if max_delta < 1:
            raise ValueError("max_delta must be >= 1")
        super().__init__(**kw)
        self.max_delta = max_delta

    def write(self, key: Any, rng: random.Random) -> dict[str, Any]:
        return {"f": "add", "key": key, "value": rng.randint(1, self.max_delta)}
