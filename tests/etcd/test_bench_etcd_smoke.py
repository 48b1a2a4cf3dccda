"""bench/etcd_clients.py --smoke runs end to end against a real loopback etcd cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.etcd.local_etcd import require_etcd

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(180)]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_etcd_bench_smoke():
    require_etcd()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "etcd_clients.py"),
                           "--smoke"], capture_output=True, text=True, timeout=170, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = dict(line.split(None, 1) for line in proc.stdout.splitlines()
                   if line and not line.startswith("load average"))
    assert float(figures["ready_s"]) > 0
    for k in ("gateway_put_per_s", "register_10_clients_linearizable_ops_per_s",
              "register_10_clients_serializable_ops_per_s"):
        assert float(figures[k]) > 0, (k, figures)
