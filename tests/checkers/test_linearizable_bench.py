"""bench/linearizability.py --smoke runs end to end; its generated clean histories check valid."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from bench import linearizability as B  # noqa: E402
from splitbrain.checkers.linearizable import LinearizableOptions, check_linearizable  # noqa: E402


def test_bench_smoke_runs():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "linearizability.py"),
                           "--smoke", "--repeat", "1"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["class"] for r in rows] == ["etcd", "wide", "wide-hard", "knossos", "million",
                                          "million-stale"]
    by = {r["class"]: r for r in rows}
    assert by["million"]["valid"] == 1 and by["million-stale"]["invalid"] == 1


def test_bench_generators_are_linearizable_before_corruption():
    rng = random.Random(5)
    for _ in range(20):
        recs = B.sim_register(rng, 60, 6, [0, 1, 2], 0.15)
        assert check_linearizable(B.to_history(recs), LinearizableOptions()).valid is True
