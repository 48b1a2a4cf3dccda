"""bench/checkers.py --smoke runs end to end and every generated history checks valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_checker_bench_smoke():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "checkers.py"), "--smoke",
                           "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["workload", "ops", "load"]
    rows = json.loads(lines[-1])
    assert [r["workload"] for r in rows] == ["register", "list-append", "set", "counter"]
    for r in rows:
        # the generator emits valid histories: a finding here is a checker false positive
        assert r["valid"] is True, (r["workload"], r["verdicts"])
        assert r["ops"] >= 10_000 and r["peak_rss_mb"] > 0 and r["timings_s"]


def test_adversarial_bench_smoke():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "adversarial.py"),
                           "--scale", "0.01"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["shape", "ops"] and len(lines) == 8, proc.stdout
