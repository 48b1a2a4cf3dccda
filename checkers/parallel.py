"""Run one checker family in a forked child while the parent runs the others.

Obligations:

* results are exactly those of running the family in-process: the child inherits the
  history and every cache built before the fork (version indexes, final reads) and sends
  back the family's `dict[name, CheckResult]` pickled through a pipe;
* never a silent loss: if the child dies, cannot pickle its result or sends garbage,
  `ChildRun.result()` returns None and the caller runs the family in-process instead;
* only used where it can pay off and cannot hurt: a big history, fork available, at
  least two usable CPUs, a single-threaded process (forking a process with other threads
  can deadlock the child on a lock some thread held) and enough memory headroom for the
  child's copy-on-write pages (`fork_allowed`). `SPLITBRAIN_CHECK_FORK=0` disables it.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from typing import Any, Callable

MIN_OPS = 200_000          # below this a fork costs more than it saves
RSS_LIMIT = 600 * 2**20    # parent RSS at fork time; parent + child stay well under 1.5 GB


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def fork_allowed(n_ops: int) -> bool:
    """May a family run in a forked child now? (See the module docstring.)"""
    if os.environ.get("SPLITBRAIN_CHECK_FORK", "1") == "0":
        return False
    if n_ops < MIN_OPS or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    rss = _rss_bytes()
    return rss is not None and rss <= RSS_LIMIT


class ChildRun:
    """`fn()` running in a forked child; `result()` waits and returns (value, seconds)."""

    def __init__(self, fn: Callable[[], Any]):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            code = 1
            try:
                os.close(r)
                t0 = time.perf_counter()
                value = fn()
                data = pickle.dumps((value, time.perf_counter() - t0),
                                    protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(w, "wb") as fh:
                    fh.write(data)
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no stdio flush of the parent's buffers
        os.close(w)
        self.pid = pid
        self._r = r

    def result(self) -> tuple[Any, float] | None:
        chunks = []
        try:
            with os.fdopen(self._r, "rb") as fh:
                while True:
                    b = fh.read(1 << 20)
                    if not b:
                        break
                    chunks.append(b)
        finally:
            _, status = os.waitpid(self.pid, 0)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0) or not chunks:
            return None
        try:
            return pickle.loads(b"".join(chunks))
        except Exception:  # a truncated or foreign payload: run it in-process instead
            return None
