"""bench/queue_checker.py runs at smoke size (figures only, nothing asserted about speed)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_queue_smoke():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "queue_checker.py"), "--smoke"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    assert "valid=True" in out.stdout and "ops/s checked" in out.stdout
