"""Transactional workloads `txn-list-append` and `txn-rw-register` (transactions.md §7;
Jepsen's cycle/append and cycle/wr shapes, Elle's `wr-txns`).

Each op is `{"f": "txn", "value": [[f, key, value], ...]}` with 1-5 micro-ops over the
active keys (chosen with an exponential bias, so a few keys are hot), reads and writes
50/50. Obligations: every appended / written value is unique per key (one counter for the
run); a key is retired after its write budget (1 + a skewed draw up to
`max_writes_per_key`) and replaced by a fresh one; `final_keys()` lists every key used, so
the final phase reads each (P-T10). Thread-safe (one lock).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from splitbrain.harness.models import MODELS, OpSpec


class TxnWorkload:
    name = ""
    write_f = ""

    def __init__(self, *, keys_active: int = 10, max_writes_per_key: int | None = None,
                 read_ratio: float | None = None, min_mops: int = 1, max_mops: int = 5):
        if keys_active < 1:
            raise ValueError("keys_active must be >= 1")
        if not 1 <= min_mops <= max_mops:
            raise ValueError("need 1 <= min_mops <= max_mops")
        self.read_ratio = 0.5 if read_ratio is None else read_ratio
        if not 0 <= self.read_ratio <= 1:
            raise ValueError("read_ratio must lie in [0, 1]")
        self.max_writes = max_writes_per_key or 64
        self.min_mops, self.max_mops = min_mops, max_mops
        self.lock = threading.Lock()
        self._next_key = 0
        self._next_value = 0
        self._budget: dict[int, int] = {}
        self._slots = [self._fresh(random.Random(i)) for i in range(keys_active)]

    model = ""                                  # harness/models.py
    linearizable = False
    checkers: tuple[str, ...] = ("transactions",)  # checker names run by default
    ops = frozenset({"txn"})

    @property
    def spec(self) -> OpSpec:
        """What the datastore client must speak for this workload."""
        return OpSpec(self.model, linearizable=self.linearizable, namespace=self.name)

    @property
    def history(self) -> str:
        return MODELS[self.model].history

    def _fresh(self, rng: random.Random) -> int:
        k = self._next_key
        self._next_key += 1
        # skewed budgets: most keys short-lived, a few long (Elle's Zipf-ish choice)
        self._budget[k] = 1 + min(int(rng.paretovariate(1.0)), self.max_writes - 1)
        return k

    def _pick(self, rng: random.Random) -> int:
        return self._slots[min(int(rng.expovariate(0.5)), len(self._slots) - 1)]

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.lock:
            mops: list[list] = []
            for _ in range(rng.randint(self.min_mops, self.max_mops)):
                k = self._pick(rng)
                if rng.random() < self.read_ratio:
                    mops.append(["r", k, None])
                    continue
                self._next_value += 1
                mops.append([self.write_f, k, self._next_value])
                self._budget[k] -= 1
                if self._budget[k] <= 0:
                    self._slots[self._slots.index(k)] = self._fresh(rng)
            return {"f": "txn", "value": mops}

    def final_keys(self) -> list[Any]:
        with self.lock:
            return list(range(self._next_key))


class TxnListAppendWorkload(TxnWorkload):
    name = "txn-list-append"
    model = "txn-list"
    write_f = "append"


class TxnRwRegisterWorkload(TxnWorkload):
    name = "txn-rw-register"
    model = "txn-register"
    write_f = "w"
