"""Checker benchmark: seeded histories through `run_checks`, one subprocess per workload.

    python bench/checkers.py --ops 1000000 --workload register
    python bench/checkers.py --smoke            # 10k ops, every workload

For each workload: generate a seeded history (JSONL in a temp dir), then in a fresh
subprocess (so peak RSS is per workload) load it, run the workload's default checkers
and report load time, time per checker family (`run_checks` → `timings_s`), CPU seconds
(load + check, and check alone), ops/s (wall and per check CPU-second), peak RSS (`ru_maxrss`, and of any children) and the 1-minute load average (the
machine is shared, so wall figures need it). Prints figures; asserts nothing about time
(architecture §2).

The child measures what `splitbrain check` does: it is a one-shot process
(`history.one_shot_process`, so the loaded history is frozen out of the GC) and
`run_checks` forks its checker workers for big histories (checkers/parallel.py;
`SPLITBRAIN_CHECK_WORKERS=1` runs them serially). "check cpu s" counts the workers' CPU
time too (`RUSAGE_CHILDREN`), so ops/cpu-s stays the cost of checking; "ops/s" is wall
throughput; "RSS MB" is the parent's peak, "kid MB" the largest worker's (copy-on-write
pages shared with the parent count in both). `--library` measures a library call instead
(no GC freeze, as in pytest or `splitbrain.run()`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # this file must not shadow the checkers package (PYTHONPATH=repo)

from splitbrain.harness.models import MODELS  # noqa: E402

# The history shapes `generate` can make (of the models' shapes, harness/models.py).
WORKLOADS = tuple(m.history for m in MODELS.values()
                  if m.name in ("register", "list", "set", "counter"))
PROCESSES = 16
NODES = ("n1", "n2", "n3")
KEY_LIFETIME = 32  # list/set keys retire after this many writes, keeping reads short


def generate(workload: str, n_ops: int, path: str, seed: int = 1) -> int:
    """Write a seeded history of about n_ops ops (plus final reads); returns events written.

    A primary-copy store whose reads see the latest write or, for a session's first touch
    of a key, sometimes the one before it (a lagging replica), so checkers have realistic
    work but the history stays valid.
    """
    import orjson

    rnd = random.Random(seed)
    dumps = orjson.dumps
    out = []
    idx = 0
    t = 0
    state: dict = {}       # key -> register value/version, list, set or counter sum
    prev: dict = {}        # key -> previous state (what a lagging replica returns)
    writes_on: dict = {}   # key -> writes so far (list/set key rotation)
    live = 0               # current list/set key generation
    touched: set = set()   # (process, key): a session that touched a key never reads older
    n_keys = {"register": 1000, "counter": 100}.get(workload, 200)
    with open(path, "wb") as fh:
        def emit(ev):
            nonlocal idx
            ev["index"] = idx
            idx += 1
            out.append(dumps(ev))
            if len(out) >= 8192:
                fh.write(b"\n".join(out) + b"\n")
                out.clear()

        for i in range(n_ops):
            p = i % PROCESSES
            node = NODES[p % len(NODES)]
            if workload in ("list-append", "set"):
                key = f"k{live + rnd.randrange(n_keys)}"
            else:
                key = f"k{rnd.randrange(n_keys)}"
            t += rnd.randint(1_000, 50_000)
            base = {"process": p, "key": key, "node": node}
            fresh = (p, key) not in touched
            touched.add((p, key))
            if rnd.random() < 0.5:  # a write
                if workload == "register":
                    v = f"{p}-{i}"
                    ver = state.get(key, (None, 0))[1] + 1
                    prev[key] = state.get(key, (None, 0))
                    state[key] = (v, ver)
                    emit({**base, "type": "invoke", "f": "write", "value": v, "time": t})
                    emit({**base, "type": "ok", "f": "write", "value": v, "version": ver,
                          "time": t + 500})
                elif workload == "counter":
                    d = rnd.choice((1, 1, 2, -1))
                    prev[key] = state.get(key, 0)
                    state[key] = state.get(key, 0) + d
                    emit({**base, "type": "invoke", "f": "add", "value": d, "time": t})
                    emit({**base, "type": "ok", "f": "add", "value": d, "time": t + 500})
                else:
                    f = "append" if workload == "list-append" else "add"
                    cur = state.setdefault(key, [])
                    prev[key] = list(cur)
                    cur.append(i)
                    emit({**base, "type": "invoke", "f": f, "value": i, "time": t})
                    emit({**base, "type": "ok", "f": f, "value": i, "time": t + 500})
                    writes_on[key] = writes_on.get(key, 0) + 1
                    if writes_on[key] >= KEY_LIFETIME and rnd.random() < 0.05:
                        live += 1  # rotate the key window
            else:  # a read
                src = prev if (fresh and rnd.random() < 0.3 and key in prev) else state
                emit({**base, "type": "invoke", "f": "read", "value": None, "time": t})
                emit({**base, **_observed(workload, src.get(key)), "type": "ok", "f": "read",
                      "time": t + 500})
        t += 1_000_000_000
        emit({"process": "nemesis", "type": "info", "f": "heal", "value": None, "time": t})
        for n, node in enumerate(NODES):
            for key in sorted(state):
                t += 1_000
                base = {"process": PROCESSES + n, "key": key, "node": node, "final": True}
                emit({**base, "type": "invoke", "f": "read", "value": None, "time": t})
                emit({**base, **_observed(workload, state[key]), "type": "ok", "f": "read",
                      "time": t + 500})
        if out:
            fh.write(b"\n".join(out) + b"\n")
    return idx


def _observed(workload: str, s) -> dict:
    if workload == "register":
        v, ver = s if s is not None else (None, 0)
        return {"value": v, "version": ver}
    if workload == "counter":
        return {"value": s or 0}
    return {"value": list(s) if s else []}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(path: str, workload: str, library: bool = False) -> dict:
    """Load + run_checks in this process, as `splitbrain check` does (unless `library`);
    the figures for one workload."""
    from splitbrain.checkers import parallel, run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import one_shot_process, read_history

    if not library:
        one_shot_process()
    load_avg = os.getloadavg()[0]  # the machine is shared: figures mean little without it
    t0, c0 = time.perf_counter(), time.process_time()
    hist = read_history(path)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    t1, c1, k1 = time.perf_counter(), time.process_time(), _children_cpu()
    res = run_checks(hist, CheckOptions(workload=workload))
    check_s = time.perf_counter() - t1
    # the forked checker workers' CPU counts: ops/cpu-s is what checking costs
    check_cpu = time.process_time() - c1 + _children_cpu() - k1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workload": workload, "ops": len(hist.ops), "load_s": round(load_s, 3),
            "check_s": round(check_s, 3), "total_s": round(load_s + check_s, 3),
            "load_cpu_s": round(load_cpu, 3), "check_cpu_s": round(check_cpu, 3),
            "ops_per_s": round(len(hist.ops) / max(check_s, 1e-9)),
            # check-only throughput per CPU-second: what the checkers cost, whatever else
            # runs on the (shared) machine
            "ops_per_cpu_s": round(len(hist.ops) / max(check_cpu, 1e-9)),
            "peak_rss_mb": round(rss_mb, 1), "children_peak_rss_mb": round(child_mb, 1),
            "workers": parallel.LAST_RUN.get("workers", 1) if "splitbrain.checkers.analysis"
            in res["timings_s"] else 1,
            "loadavg_1m": round(max(load_avg, os.getloadavg()[0]), 2),
            "timings_s": res["timings_s"], "valid": res["valid"],
            "verdicts": {k: v["valid"] for k, v in res["checkers"].items()}}


def run_one(workload: str, n_ops: int, tmp: str, seed: int, library: bool = False) -> dict:
    path = os.path.join(tmp, f"sb-bench-{workload}.jsonl")
    t0 = time.perf_counter()
    generate(workload, n_ops, path, seed)
    gen_s = time.perf_counter() - t0
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", path, workload,
                           *(["--library"] if library else [])],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for {workload}:\n{proc.stderr}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["generate_s"] = round(gen_s, 3)
    row["file_mb"] = round(os.path.getsize(path) / 2**20, 1)
    os.unlink(path)
    return row


def print_table(rows: list[dict]) -> None:
    fams = sorted({f for r in rows for f in r["timings_s"]})
    short = [f.split(".")[-1] for f in fams]
    head = ["workload", "ops", "load s", "check s", "total s", "cpu s", "check cpu s", "ops/s",
            "ops/cpu-s", "RSS MB", "kid MB", "workers",
            "loadavg", "valid"] + short
    table = [[r["workload"], str(r["ops"]), f"{r['load_s']:.2f}", f"{r['check_s']:.2f}",
              f"{r['total_s']:.2f}", f"{r['load_cpu_s'] + r['check_cpu_s']:.2f}",
              f"{r['check_cpu_s']:.2f}", str(r["ops_per_s"]), str(r["ops_per_cpu_s"]), f"{r['peak_rss_mb']:.0f}",
              f"{r['children_peak_rss_mb']:.0f}", str(r["workers"]), f"{r['loadavg_1m']:.1f}",
              str(r["valid"])]
             + [f"{r['timings_s'][f]:.2f}" if f in r["timings_s"] else "-" for f in fams]
             for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--workload", choices=WORKLOADS + ("all",), default="all")
    ap.add_argument("--smoke", action="store_true", help="10k ops, every workload")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print rows as JSON too")
    ap.add_argument("--library", action="store_true",
                    help="measure a library call (no GC freeze) instead of the CLI")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "WORKLOAD"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(measure(*a.child, library=a.library)))
        return 0
    n = 10_000 if a.smoke else a.ops
    chosen = WORKLOADS if (a.smoke or a.workload == "all") else (a.workload,)
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        rows = [run_one(w, n, tmp, a.seed, a.library) for w in chosen]
    print_table(rows)
    if a.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
