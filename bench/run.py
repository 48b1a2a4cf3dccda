"""Runner throughput and start-up time, next to redis-benchmark on the same machine.

    sudo python bench/run.py                 # 10 s runs (the figures in the notes)
    sudo python bench/run.py --smoke         # 2 s, for CI

Prints: time from `run` to the first op, ops/s recorded by the runner (3-node
replication, concurrency 10, no rate limit, no nemesis), and redis-benchmark -c 10
SET/GET requests/s against a node of a cluster started the same way in the same process.
Figures only; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runner_figures(seconds: float, store: str, workload: str) -> dict:
    from splitbrain.harness.config import build_test
    from splitbrain.harness.runner import run_test

    t0 = time.monotonic()
    out = run_test(build_test({"nemesis": "none", "rate": 0, "concurrency": 10,
                               "time_limit": seconds, "read_from": "primary", "store": store,
                               "quiesce": 0.2, "workload": workload}))
    return {"workload": workload, "verdict": out.valid, "wall_s": round(time.monotonic() - t0, 2),
            **out.figures}


def redis_benchmark(requests: int) -> dict:
    """redis-benchmark -c 10 from the controller against n1 of a fresh 3-node cluster."""
    from splitbrain.harness.cluster.netns import NetnsCluster
    from splitbrain.harness.registry import new_run_prefix
    from splitbrain.harness.dbs.redis import RedisDB

    prefix = new_run_prefix()
    with tempfile.TemporaryDirectory() as d:
        cluster = NetnsCluster(prefix=prefix, nodes=3, subnet=None, workdir_root=d)
        nodes = cluster.up()
        db = RedisDB(nodes, topology="replication", read_from="primary", store_dir=d,
                     prefix=prefix)
        try:
            for n in nodes:
                db.setup(n)
                db.start(n)
            db.wait_ready(30)
            r = subprocess.run(["redis-benchmark", "-h", nodes[0].address, "-p", "6379",
                                "-c", "10", "-n", str(requests), "-t", "set,get", "-q"],
                               capture_output=True, text=True, timeout=300)
            figs = {}
            for line in r.stdout.replace("\r", "\n").splitlines():
                m = re.match(r"^(SET|GET): ([\d.]+) requests per second", line.strip())
                if m:
                    figs[m.group(1).lower() + "_rps"] = float(m.group(2))
            return figs
        finally:
            for n in nodes:
                db.teardown(n)
            cluster.down()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--smoke", action="store_true", help="2 s run, 20k requests")
    ap.add_argument("--workloads", default="register,list-append,set,counter")
    a = ap.parse_args()
    if a.smoke:
        a.seconds, a.requests, a.workloads = 2.0, 20_000, "register"
    with tempfile.TemporaryDirectory() as store:
        rows = [runner_figures(a.seconds, store, w) for w in a.workloads.split(",")]
    bench = redis_benchmark(a.requests)
    print(f"{'workload':<12} {'ops/s recorded':>15} {'ops':>9} {'first op (s)':>13} {'verdict':>8}")
    for r in rows:
        print(f"{r['workload']:<12} {r.get('ops_per_s', 0):>15,.0f} {r.get('ops_recorded', 0):>9} "
              f"{r.get('time_to_first_op_s', 0):>13.3f} {str(r['verdict']):>8}")
    print(f"redis-benchmark -c 10 against n1: SET {bench.get('set_rps', 0):,.0f} req/s, "
          f"GET {bench.get('get_rps', 0):,.0f} req/s")


if __name__ == "__main__":
    main()
