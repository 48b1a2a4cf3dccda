"""Queue checker benchmark: a seeded log-broker history through checkers/queue.

    python bench/queue_checker.py --ops 200000
    python bench/queue_checker.py --smoke          # 10k ops

Generates a correct broker's history (sends with offsets, assign-mode polls from
per-process cursors, keys retired after 200 sends, a final re-read phase), writes it as
JSONL (in a child process, so that the checking process holds only the loaded history, as
`splitbrain check` does), then times loading and the `queue` family (wall and CPU seconds, the check's figures
exclude loading; the cyclic gc's share of the check's CPU is printed too). It loads as
`splitbrain check` does (`history.one_shot_process`: the loaded history is frozen out of the
GC); `--library` loads as a library call does (pytest, `splitbrain.run()`): the loader
pauses the gc while it loads, so the first collection after it, which visits every loaded
object once, falls in the check's window. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bench/checkers.py would shadow the checkers package when run as a script
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def generate(n_ops: int, path: str, seed: int = 1, procs: int = 16, active: int = 8) -> int:
    from splitbrain.harness.history import write_jsonl

    rng = random.Random(seed)
    logs: dict[int, list] = {}
    slots = list(range(active))
    next_key = active
    cursors = [dict() for _ in range(procs)]
    events = []
    t = 0
    value = 0

    def emit(ev):
        nonlocal t
        t += 1000
        ev["index"] = len(events)
        ev["time"] = t
        events.append(ev)

    ops = 0
    while ops < n_ops:
        p = rng.randrange(procs)
        if rng.random() < 0.5:
            k = rng.choice(slots)
            value += 1
            log = logs.setdefault(k, [])
            off = f"{1700000000000 + len(log) // 3}-{len(log) % 3}"
            emit({"process": p, "type": "invoke", "f": "send", "key": k, "value": value})
            log.append((off, value))
            emit({"process": p, "type": "ok", "f": "send", "key": k, "value": value, "offset": off})
            if len(log) >= 200:
                slots[slots.index(k)] = next_key
                next_key += 1
        else:
            emit({"process": p, "type": "invoke", "f": "poll"})
            out = {}
            for k in slots:
                log = logs.get(k, ())
                c = cursors[p].get(k, 0)
                got = log[c:c + 4]
                if got:
                    cursors[p][k] = c + len(got)
                    out[str(k)] = [list(x) for x in got]
            emit({"process": p, "type": "ok", "f": "poll", "value": out})
        ops += 1
    allk = sorted(logs)
    emit({"process": 10_000, "type": "invoke", "f": "assign", "value": allk, "final": True, "seek": "beginning"})
    emit({"process": 10_000, "type": "ok", "f": "assign", "value": allk, "final": True, "seek": "beginning"})
    for k in allk:
        emit({"process": 10_000, "type": "invoke", "f": "poll", "final": True})
        emit({"process": 10_000, "type": "ok", "f": "poll", "final": True,
              "value": {str(k): [list(x) for x in logs[k]]}})
    write_jsonl(events, path)
    return len(events)


_gc = {"cpu": 0.0, "start": 0.0}


def _gc_timer(phase: str, info: dict) -> None:
    """CPU seconds the cyclic collector takes (a gc callback)."""
    if phase == "start":
        _gc["start"] = time.process_time()
    else:
        _gc["cpu"] += time.process_time() - _gc["start"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--library", action="store_true",
                    help="load as a library call (no GC freeze), not as `splitbrain check`")
    ap.add_argument("--generate-to", help=argparse.SUPPRESS)  # the child's job (below)
    args = ap.parse_args()
    n = 10_000 if args.smoke else args.ops
    if args.generate_to:
        print(generate(n, args.generate_to))
        return
    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import one_shot_process, read_history

    if not args.library:
        one_shot_process()

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "history.jsonl")
        t0 = time.perf_counter()
        # generated in a child process: the millions of objects the generator leaves
        # freed behind would scatter the loaded history over the heap, and the check
        # would be timed on a heap no `splitbrain check` run has
        events = int(subprocess.run([sys.executable, os.path.abspath(__file__), "--ops", str(n),
                                     "--generate-to", path], check=True, capture_output=True,
                                    text=True, env={**os.environ, "PYTHONPATH": ROOT}).stdout)
        t1 = time.perf_counter()
        c1 = time.process_time()
        gc.callbacks.append(_gc_timer)
        hist = read_history(path)
        t2 = time.perf_counter()
        load_cpu = time.process_time() - c1
        _gc["cpu"] = 0.0
        c2 = time.process_time()
        res = run_checks(hist, CheckOptions(workload="queue", max_lag_ns=10**9))
        t3 = time.perf_counter()
        cpu = time.process_time() - c2
        gc_cpu = _gc["cpu"]  # without the freeze, the first collection after loading falls here
        gc.callbacks.remove(_gc_timer)
    q = res["checkers"]["queue"]
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"queue bench: {n} ops ({events} events), generate {t1 - t0:.2f} s, "
          f"load {t2 - t1:.2f} s wall / {load_cpu:.2f} s CPU, "
          f"check {t3 - t2:.2f} s wall / {cpu:.2f} s CPU (cyclic gc {gc_cpu:.2f} s of it) "
          f"-> {n / (t3 - t2):,.0f} ops/s checked "
          f"({n / cpu:,.0f} ops/CPU-s) "
          f"(load + check {n / (t3 - t1):,.0f} ops/s); valid={res['valid']}, "
          f"messages read {q['stats']['messages_read']}, anomalies {q['anomaly_count']}, "
          f"lag p99 {res['checkers']['queue-lag']['stats'].get('p99_ms')} ms; "
          f"engine {q['stats'].get('engine')}, peak RSS {rss:,.0f} MB; "
          f"load average {os.getloadavg()[0]:.2f}; "
          f"{'library load (no GC freeze)' if args.library else 'loaded as splitbrain check'}")


if __name__ == "__main__":
    main()
