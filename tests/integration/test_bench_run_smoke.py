"""bench/run.py must keep working (figures are printed, not asserted)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.root
@pytest.mark.redis
def test_bench_run_smoke():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ops/s recorded" in r.stdout and "redis-benchmark" in r.stdout
