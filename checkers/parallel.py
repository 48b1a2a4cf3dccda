"""Checker families in forked worker processes, for big histories (Jepsen's `compose`
checker runs its checkers in parallel too).

`run_checks` builds the shared `Analysis` tables in the parent (the version indexes, the
per-key groups, the final reads), then forks workers that inherit them copy-on-write.
Each worker (the parent is one of them) claims families one at a time from a token pipe
(the costliest first) and runs them exactly as the serial loop does; a forked worker
pickles each family's results back. The parent merges them in the serial order, so the
results are the serial ones.

Safety: a worker resets SIGINT/SIGTERM to their defaults and always leaves with
`os._exit` (it never unwinds into the caller's finally blocks or atexit handlers); a
family whose result does not come back (the worker died or was killed) is `unknown`
with the reason, never valid; one whose results do not pickle (even with their lazy
explanations built) is run again in the parent. A family that raises in a worker is
unknown with the error, as in the serial loop.

When: `CheckOptions.check_workers` (1: serial; N: up to N workers, whatever the history's
size); otherwise (and not for the SERIAL_SHAPES, whose families cost less than a fork
once the shared tables are built) automatically for histories of at least MIN_OPS ops on a machine with
>= 2 usable CPUs, at most `SPLITBRAIN_CHECK_WORKERS` workers (1 disables). Serial where
`os.fork` is missing or another Python thread is running (forking a threaded process
can leave a lock held in the child).
"""

from __future__ import annotations

import os
import pickle
import resource
import selectors
import signal
import struct
import sys
import threading
import time
from typing import Any, Callable

ENV = "SPLITBRAIN_CHECK_WORKERS"
MIN_OPS = 100_000
# Shapes whose families, once the shared tables are built (in the parent), cost less than
# forking does: the Rust-built set and list indexes leave little to split. Measured at
# 1M ops (bench/checkers.py, 2026-12-04, load 1): set serial 2.2 s wall = CPU against
# forked 2.3 s wall / 3.1 CPU s; list-append 1.4 / 1.4 against 1.7-2.2 / 1.8-2.2.
# They run serially unless `check_workers` asks for workers.
SERIAL_SHAPES = frozenset(("set", "list-append"))

# Rough relative cost of a family on a big history (the costliest are claimed first).
_COST = {"linearizable": 9, "transactions": 9, "lost_updates": 4, "integrity": 3,
         "session": 3, "convergence": 2, "staleness": 2}

# What the last parallel run did (bench/checkers.py reports it): workers, their peak RSS.
LAST_RUN: dict[str, Any] = {}

_HDR = struct.Struct("<Q")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_for(n_ops: int, option: int | None, n_jobs: int, shape: str | None = None) -> int:
    """How many worker processes to fork for n_jobs families (1: run them serially);
    shape: the history's data shape (SERIAL_SHAPES run serially unless `option` says)."""
    if (n_jobs < 2 or not hasattr(os, "fork") or not hasattr(signal, "pthread_sigmask")
            or threading.active_count() > 1):
        return 1
    if option is not None:
        return max(1, min(int(option), n_jobs))
    if shape in SERIAL_SHAPES:
        return 1
    env = os.environ.get(ENV, "").strip()
    cap = None
    if env:
        try:
            cap = int(env)
        except ValueError:
            return 1  # a value we cannot read: the safe choice
    if n_ops < MIN_OPS:
        return 1
    n = _cpus() if cap is None else min(cap, _cpus())
    return max(1, min(n, n_jobs))


def cost(mod_name: str) -> int:
    return _COST.get(mod_name.rsplit(".", 1)[-1], 1)


def run_forked(jobs: list[str], workers: int, run_one: Callable[[str], dict],
               died: Callable[[str, str], dict], parent_works: bool = True,
               ship: Callable[[dict], None] | None = None
               ) -> tuple[dict[str, dict], dict[str, float]]:
    """Run each job (a family module name) through run_one in `workers` processes: this
    one and workers - 1 forked ones (parent_works False: `workers` forked ones).

    Returns (job -> its family results, job -> seconds). A job whose results did not come
    back gets died(job, reason) instead. ship(results): makes a worker's results picklable
    when they are not (tried only then); a result that still is not is run again here."""
    order = sorted(range(len(jobs)), key=lambda i: -cost(jobs[i]))
    tok_r, tok_w = os.pipe()
    os.write(tok_w, bytes(order))  # < 256 jobs: one byte each; reads of 1 byte are atomic
    os.close(tok_w)
    sys.stdout.flush()  # a child must not inherit (and write again) buffered output
    sys.stderr.flush()
    children: dict[int, int] = {}  # pid -> read end of its result pipe
    mine: dict[int, dict] = {}
    my_secs: dict[int, float] = {}
    try:
        for _ in range(workers - 1 if parent_works else workers):
            r, w = os.pipe()
            _big_pipe(w)
            # no Python signal handler may run in the child before it resets them (a
            # KeyboardInterrupt there would unwind into the caller's cleanup code)
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                pid = os.fork()
                if pid == 0:  # the worker: never returns
                    _child(tok_r, w, r, jobs, run_one, ship, old_mask)
                # recorded while the signals are still blocked: one that arrived during
                # the fork is raised when they are unblocked below, and the `finally`
                # further down must then know this worker to end it
                children[pid] = r
                os.close(w)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        # The parent is a worker too (one fewer copy-on-write copy of what it touches);
        # its families' results stay objects of this process.
        while parent_works:
            b = os.read(tok_r, 1)
            if not b:
                break
            t0 = time.perf_counter()
            mine[b[0]] = run_one(jobs[b[0]])
            my_secs[b[0]] = time.perf_counter() - t0
        os.close(tok_r)
        tok_r = -1
        got, secs, rss, unsent = _collect(children)
        got.update(mine)
        secs.update(my_secs)
        status = {}
        for pid in list(children):
            _, status[pid] = os.waitpid(pid, 0)
            os.close(children.pop(pid))
    finally:
        if tok_r >= 0:
            os.close(tok_r)
        for pid, r in children.items():  # interrupted: end the workers we started
            os.close(r)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
    for i in sorted(unsent - got.keys()):  # deterministic, so the same results as there
        t0 = time.perf_counter()
        got[i] = run_one(jobs[i])
        secs[i] = time.perf_counter() - t0
    bad = [_describe(st) for st in status.values() if os.waitstatus_to_exitcode(st) != 0]
    results: dict[str, dict] = {}
    for i, job in enumerate(jobs):
        if i in got:
            results[job] = got[i]
        else:
            why = "; ".join(bad) if bad else "it sent no result"
            results[job] = died(job, f"checker worker process failed ({why}) before this "
                                     "checker's result came back")
    LAST_RUN.clear()
    LAST_RUN.update(workers=workers, children_peak_rss_kb=rss,
                    in_parent=[jobs[i] for i in sorted(mine)])
    return results, {jobs[i]: s for i, s in secs.items()}


def _big_pipe(fd: int) -> None:
    """A worker blocks less on a big result while the parent runs its own families."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def _describe(st: int) -> str:
    code = os.waitstatus_to_exitcode(st)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _collect(children: dict[int, int]
             ) -> tuple[dict[int, dict], dict[int, float], list[int], set[int]]:
    """Read every worker's frames until each closes its pipe."""
    sel = selectors.DefaultSelector()
    bufs: dict[int, bytearray] = {}
    for r in children.values():
        sel.register(r, selectors.EVENT_READ)
        bufs[r] = bytearray()
    open_ = len(children)
    while open_:
        for key, _ in sel.select():
            chunk = os.read(key.fd, 1 << 20)
            if chunk:
                bufs[key.fd] += chunk
            else:
                sel.unregister(key.fd)
                open_ -= 1
    sel.close()
    got: dict[int, dict] = {}
    secs: dict[int, float] = {}
    rss: list[int] = []
    unsent: set[int] = set()
    for buf in bufs.values():
        pos = 0
        while pos + _HDR.size <= len(buf):
            (n,) = _HDR.unpack_from(buf, pos)
            if pos + _HDR.size + n > len(buf):
                break  # a torn frame: the worker died mid-write
            frame = pickle.loads(bytes(buf[pos + _HDR.size:pos + _HDR.size + n]))
            pos += _HDR.size + n
            if frame[0] == "done":
                got[frame[1]], secs[frame[1]] = frame[2], frame[3]
            elif frame[0] == "unsent":
                unsent.add(frame[1])
            elif frame[0] == "rss":
                rss.append(frame[1])
    return got, secs, rss, unsent


def _child(tok_r: int, w: int, r: int, jobs: list[str], run_one: Callable[[str], dict],
           ship: Callable[[dict], None] | None, mask) -> None:
    code = 1
    try:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGINT ends us here
        os.close(r)
        while True:
            b = os.read(tok_r, 1)
            if not b:
                break
            i = b[0]
            t0 = time.perf_counter()
            family = run_one(jobs[i])
            secs = time.perf_counter() - t0
            try:
                data = pickle.dumps(("done", i, family, secs), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                try:
                    if ship is None:
                        raise
                    ship(family)  # e.g. build the lazily given explanations now
                    data = pickle.dumps(("done", i, family, secs),
                                        protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:
                    data = pickle.dumps(("unsent", i))  # the parent runs it again itself
            _write_all(w, _HDR.pack(len(data)) + data)
        data = pickle.dumps(("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        _write_all(w, _HDR.pack(len(data)) + data)
        code = 0
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
