"""Why `--nemesis clock` is refused for etcd: the LD_PRELOAD shim cannot move its clock.

Debian's etcd is dynamically linked against libc (so LD_PRELOAD is honoured), but Go's
runtime reads CLOCK_REALTIME through the vDSO itself. Shown with real processes: under the
same shim env and a +1 day offset, `date` is shifted and etcd's own log timestamps are not.
If a future etcd build ever honours the shim, this test fails and the refusal
(harness/dbs/etcd/config.py CLOCK_UNSUPPORTED) should go.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime

import pytest

from splitbrain.nemesis.clock import CONTROL_ENV, ClockSetting, build_shim
from tests.dbs.local_cluster import local_nodes
from tests.etcd.local_etcd import require_etcd

pytestmark = [pytest.mark.etcd, pytest.mark.timeout(60),
              pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")]

DAY = 86400


def test_etcd_is_dynamically_linked_but_the_shim_does_not_move_its_clock(tmp_path):
    require_etcd()
    ldd = subprocess.run(["ldd", shutil.which("etcd")], capture_output=True, text=True)
    assert "libc.so" in ldd.stdout  # LD_PRELOAD applies to it at all
    ctl = tmp_path / "clock"
    ctl.write_text(ClockSetting(offset_ns=DAY * 10**9).render())
    env = dict(os.environ, LD_PRELOAD=build_shim(str(tmp_path / "shim")),
               **{CONTROL_ENV: str(ctl)})
    shifted = int(subprocess.run(["date", "+%s"], env=env, capture_output=True,
                                 text=True).stdout)
    assert shifted - time.time() > DAY - 60  # the shim works on a libc program

    nodes, port = local_nodes(tmp_path, 1, "sbtclock")
    addr = nodes[0].address
    argv = ["etcd", "--name", "n1", "--data-dir", str(tmp_path / "data"),
            "--listen-client-urls", f"http://{addr}:{port}",
            "--advertise-client-urls", f"http://{addr}:{port}",
            "--listen-peer-urls", f"http://{addr}:{port + 1}",
            "--initial-advertise-peer-urls", f"http://{addr}:{port + 1}",
            "--initial-cluster", f"n1=http://{addr}:{port + 1}", "--logger", "zap",
            "--log-outputs", "stderr"]
    with open(tmp_path / "etcd.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        stamps = []
        while time.monotonic() < deadline and not stamps:
            time.sleep(0.2)
            for line in (tmp_path / "etcd.log").read_text().splitlines():
                if line.startswith("{"):
                    stamps.append(datetime.fromisoformat(
                        json.loads(line)["ts"].replace("Z", "+00:00")).timestamp())
    finally:
        proc.kill()
        proc.wait(10)
    assert stamps, (tmp_path / "etcd.log").read_text()[-500:]
    # etcd's wall clock is the real one, not the shifted one
    assert all(abs(t - time.time()) < 120 for t in stamps), stamps[:3]
