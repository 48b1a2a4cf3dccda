"""Adversarial history shapes through every default checker (issue 15 item 2).

    python bench/adversarial.py            # full sizes
    python bench/adversarial.py --scale 0.1

Shapes: a huge read (100k elements), one read of 10,000 never-written elements, 200
reads of a 2,000-element list each holding a garbage element, 5,000 keys, one register
key with 100k versioned writes, one plain register key with 100k writes and reads, 10,000
garbage register reads. For each: ops, wall seconds per checker family (`timings_s`),
total, the verdict. Prints figures; asserts nothing (architecture §2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # bench/checkers.py must not shadow the checkers package


class _Events:
    def __init__(self):
        self.out: list[dict] = []

    def op(self, p, f, key, value, out=None, **extra):
        i = len(self.out)
        self.out.append({"index": i, "time": i, "process": p, "type": "invoke", "f": f,
                         "key": key, "value": None if f == "read" else value})
        self.out.append({"index": i + 1, "time": i + 1, "process": p, "type": "ok", "f": f,
                         "key": key, "value": out if f == "read" else value, **extra})


def huge_read(n):
    e = _Events()
    for i in range(n):
        e.op(i % 8, "append", "x", i)
    e.op(9, "read", "x", None, list(range(n)), final=True, node="n1")
    return "list-append", e.out


def garbage_elements(n):
    e = _Events()
    e.op(0, "append", "x", -1)
    e.op(1, "read", "x", None, [-1] + list(range(10 ** 7, 10 ** 7 + n)))
    return "list-append", e.out


def garbage_in_long_lists(reads, length):
    e = _Events()
    for i in range(length):
        e.op(i % 8, "append", "x", i)
    for r in range(reads):
        e.op(10 + r % 4, "read", "x", None, list(range(length)) + [-(r + 1)])
    return "list-append", e.out


def many_keys(keys):
    e = _Events()
    for k in range(keys):
        e.op(k % 8, "write", k, f"{k}-a", version=1)
        e.op(8 + k % 8, "read", k, None, f"{k}-a", version=1)
        e.op(k % 8, "write", k, f"{k}-b", version=2)
        e.op(16, "read", k, None, f"{k}-b", version=2, final=True, node="n1")
    return "register", e.out


def hot_key(writes, versioned=True):
    e = _Events()
    for i in range(writes):
        extra = {"version": i + 1} if versioned else {}
        e.op(i % 8, "write", "k", i, **extra)
        e.op(8 + i % 8, "read", "k", None, i, **extra)
    e.op(20, "read", "k", None, writes - 1, final=True, node="n1",
         **({"version": writes} if versioned else {}))
    return "register", e.out


def garbage_register_reads(n):
    e = _Events()
    e.op(0, "write", "k", 0, version=1)
    for i in range(n):
        e.op(1 + i % 8, "read", "k", None, 10 ** 9 + i, version=2 + i)
    return "register", e.out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    a = ap.parse_args(argv)
    s = a.scale

    def n(x):
        return max(1, int(x * s))

    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import history_from_events

    shapes = [
        ("huge read (100k elements)", huge_read(n(100_000))),
        ("10k garbage elements in one read", garbage_elements(n(10_000))),
        ("200 reads x 2k list + garbage", garbage_in_long_lists(n(200), n(2_000))),
        ("5,000 keys", many_keys(n(5_000))),
        ("one key, 100k versioned writes", hot_key(n(100_000))),
        ("one key, 100k plain writes", hot_key(n(100_000), versioned=False)),
        ("10k garbage register reads", garbage_register_reads(n(10_000))),
    ]
    print(f"{'shape':36} {'ops':>8} {'total s':>8} {'valid':>8}  per family (s)")
    for name, (workload, events) in shapes:
        h = history_from_events(events)
        t0 = time.perf_counter()
        res = run_checks(h, CheckOptions(workload=workload))
        dt = time.perf_counter() - t0
        fam = " ".join(f"{k.split('.')[-1]}={v:.2f}" for k, v in res["timings_s"].items())
        print(f"{name:36} {len(h.ops):8d} {dt:8.2f} {str(res['valid']):>8}  {fam}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
