"""Pacing and process identity for the worker threads.

The workload decides *what* to ask (workloads/); this module decides *when* and *as whom*:
a global rate shared by every worker (Jepsen's `stagger`: uniformly random gaps in
[0, 2/rate], so the mean total rate is `rate`), a time limit, a hard op budget, and a new
process id after an indeterminate (`info`) result (checker-spec §1.3).
"""

from __future__ import annotations

import random
import threading
import time


class Pacer:
    """Hands out start slots so all workers together run at most `rate` ops/s on average.

    rate 0 means unlimited. `wait()` returns False once `stop` is set or the deadline or
    the op budget is reached, so every worker loop is bounded in time and count.
    """

    def __init__(self, rate: float, *, deadline: float, max_ops: int, stop: threading.Event,
                 rng: random.Random):
        self.rate = rate
        self.deadline = deadline  # time.monotonic() value
        self.max_ops = max_ops
        self.stop = stop
        self._rng = rng
        self._lock = threading.Lock()
        self._next = time.monotonic()
        self.issued = 0

    def wait(self) -> bool:
        with self._lock:
            if self.issued >= self.max_ops:
                self.stop.set()
                return False
            self.issued += 1
            now = time.monotonic()
            slot = max(self._next, now)
            if self.rate > 0:
                self._next = slot + self._rng.uniform(0.0, 2.0 / self.rate)
        if slot >= self.deadline:
            return False
        delay = slot - time.monotonic()
        if delay > 0 and self.stop.wait(delay):
            return False
        return not self.stop.is_set() and time.monotonic() < self.deadline


class ProcessIds:
    """Logical process ids: worker i starts as process i and becomes i + k·concurrency
    after each `info` result, so a crashed process never issues another op (Jepsen)."""

    def __init__(self, concurrency: int):
        self.concurrency = concurrency

    def first(self, worker: int) -> int:
        return worker

    def next_after_info(self, process: int) -> int:
        return process + self.concurrency


class Clock:
    """ONE monotonic clock for every `time` in the history (checker-spec P4)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic_ns()

    def now(self) -> int:
        return time.monotonic_ns() - self._t0
