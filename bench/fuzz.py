"""Fuzz `splitbrain check` and the run settings at a larger size; prints counts.

    python3 bench/fuzz.py [--cases 1000] [--configs 500] [--seed 15] [--size 200]

Every history case must exit 0/1/2/254 (never 255), in bounded time, with no "checker
error"; every settings case must build a Test or be refused with a one-sentence
InputError. Prints the count per exit code, the slowest case, and every violation (the
case name replays it: tests/fuzz/corpus.py is seeded). Asserts nothing (bench/ rule).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--configs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--bound", type=float, default=20.0, help="seconds per case")
    a = ap.parse_args()

    import logging
    from pathlib import Path

    logging.disable(logging.WARNING)
    from tests.fuzz.corpus import cases
    from tests.fuzz.test_fuzz_check import checker_errors, run_check

    codes: collections.Counter = collections.Counter()
    bad: list[str] = []
    slowest = (0.0, "")
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sbfuzz-") as tmp:
        for n, (name, fname, data, argv) in enumerate(cases(a.cases, a.seed, a.size)):
            t0 = time.monotonic()
            code, text, res = run_check(Path(tmp) / str(n), name, fname, data, argv)
            took = time.monotonic() - t0
            codes[code] += 1
            slowest = max(slowest, (took, name))
            errs = checker_errors(res)
            if code not in (0, 1, 2, 254) or "Traceback" in text or errs or took > a.bound:
                bad.append(f"{name} {argv}: exit {code}, {took:.1f}s, {errs or text[-300:]!r}")
            if (n + 1) % 100 == 0:
                print(f"  … {n + 1} histories, {len(bad)} violations so far", flush=True)
    print(f"check: {sum(codes.values())} histories in {time.monotonic() - t_all:.1f}s; "
          f"exit codes {dict(sorted(codes.items()))}; slowest {slowest[0]:.2f}s ({slowest[1]})")

    from tests.fuzz.test_fuzz_config import config_cases, try_build

    outcomes: collections.Counter = collections.Counter()
    t_all = time.monotonic()
    for n, settings in enumerate(config_cases(a.configs, a.seed)):
        kind, msg = try_build(settings)
        outcomes[kind] += 1
        if kind == "crash":
            bad.append(f"settings {settings!r}: {msg}")
    print(f"settings: {sum(outcomes.values())} cases in {time.monotonic() - t_all:.1f}s; "
          f"{dict(outcomes)}")
    print(f"violations: {len(bad)}")
    for b in bad[:50]:
        print("  " + b[:600])


if __name__ == "__main__":
    main()
