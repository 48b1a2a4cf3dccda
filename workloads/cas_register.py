"""The `cas-register` workload: compare-and-set registers on a few hot keys.

Jepsen's CAS register (riptano/jepsen `lwt`): blind writes, cas `[expected, new]` and reads
on few keys, so operations contend and compare-and-set outcomes matter. Written values are
unique per key (checker-spec §2.1); cas expects the last value this generator handed out
for the key (⊥ = None before the first write), so it succeeds when nobody intervened. On
Cassandra every op is a lightweight transaction (Paxos) and reads are SERIAL
(harness/dbs/cassandra_client.py); the history is a register history, checked with the
register checkers.
"""

from __future__ import annotations

import random
from typing import Any

from checkers import DEFAULTS
from workloads.keys import KeyPool


class CasRegisterWorkload:
    name = "cas-register"
    checkers = tuple(DEFAULTS["cas-register"])

    def __init__(self, *, keys_active: int = 3, max_writes_per_key: int = 60,
                 read_ratio: float = 0.4, cas_ratio: float = 0.6):
        if not 0 <= read_ratio <= 1 or not 0 <= cas_ratio <= 1:
            raise ValueError("read_ratio and cas_ratio must lie in [0, 1]")
        # Few keys keep CAS contended: at most 3 active, whatever the run's default.
        self.pool = KeyPool(min(keys_active, 3), max_writes_per_key)
        self.read_ratio = read_ratio
        self.cas_ratio = cas_ratio
        self._last: dict[int, int | None] = {}

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.read_ratio:
                return {"f": "read", "key": key, "value": None}
            new = self.pool.next_value()
            prev = self._last.get(key)
            self._last[key] = new
            self.pool.wrote(key)
            if rng.random() < self.cas_ratio:
                return {"f": "cas", "key": key, "value": [prev, new]}
            return {"f": "write", "key": key, "value": new}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()
