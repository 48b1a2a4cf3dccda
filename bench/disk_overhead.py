"""What sbfs (the disk nemesis's FUSE filesystem) costs Redis's AOF.

    python bench/disk_overhead.py                 # 20k SETs x {everysec, always} x {plain, sbfs}
    python bench/disk_overhead.py --requests 2000 # smoke size

Runs redis-server on 127.0.0.1 (a free port, its own temp dirs) with `appendonly yes`,
once with the data directory on the plain filesystem and once on an sbfs mount over it,
and drives it with redis-benchmark (SET, 10 clients, no pipelining). Prints requests/s
and p50/p99 latency per combination; asserts nothing (machine is shared: load shown).
Needs root (FUSE mount), gcc, libfuse3-dev, redis-server and redis-benchmark.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from splitbrain.nemesis.disk import mounted, sbfs_binary, unmount  # noqa: E402


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_one(data_dir: str, fsync: str, requests: int) -> dict:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", data_dir, "--appendonly", "yes", "--appendfsync", fsync,
                             "--save", "", "--logfile", os.path.join(data_dir, "..", f"r{port}.log")])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-n",
                              str(requests), "-c", "10", "-q", "--csv"],
                             capture_output=True, text=True, timeout=600).stdout
        # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95","p99","max"
        row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
        return {"rps": float(row[1]), "p50_ms": float(row[4]), "p99_ms": float(row[6])}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    args = ap.parse_args()
    exe = sbfs_binary()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.requests} SETs, 10 clients")
    for fsync in ("everysec", "always"):
        for fs in ("plain", "sbfs"):
            with tempfile.TemporaryDirectory(prefix="sbbench-") as tmp:
                data, backing = os.path.join(tmp, "data"), os.path.join(tmp, "backing")
                os.makedirs(data)
                os.makedirs(backing)
                daemon = None
                if fs == "sbfs":
                    daemon = subprocess.Popen([exe, backing, data, "-f", "-s", "-o",
                                               "fsname=sbbench-disk,subtype=sbfs"])
                    while not mounted(data):
                        time.sleep(0.02)
                try:
                    r = run_one(data, fsync, args.requests)
                finally:
                    if daemon is not None:
                        unmount(data)
                        daemon.terminate()
                        daemon.wait(timeout=30)
                print(f"appendfsync {fsync:8s} {fs:5s}: {r['rps']:9.0f} req/s  "
                      f"p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
