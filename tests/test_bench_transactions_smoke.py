"""bench/transactions.py --smoke runs end to end and its strict history checks valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_transactions_bench_smoke():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "transactions.py"),
                           "--smoke", "--json"], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # the generator is a strict store: any finding is a checker false positive
    assert res["valid"] is True, res
    assert res["txns"] == 10_000 and res["stats"]["ok"] >= 10_000
    assert sum(res["stats"]["edges"].values()) > 10_000 and res["peak_rss_mb"] > 0
