"""Issue 15 item 4 end to end: `ip netns del` of one node mid-run; the run still ends
with every Redis process it started stopped and nothing left behind."""

from __future__ import annotations

import os
import signal
import time

import pytest

from splitbrain.harness import registry

from tests.integration.leftovers import alive
from tests.integration.test_interrupts import Seen, _history_text, _no_leftovers, _record, _spawn

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]


def test_redis_stopped_although_its_namespace_was_deleted(tmp_path):
    import subprocess

    proc = _spawn(tmp_path, "--time-limit", "5", "--nemesis", "none", "--rate", "200",
                  "--read-from", "primary")
    seen = Seen()
    deleted = None
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        r = seen.poll(tmp_path)
        if deleted is None and r and len(r.get("pids", [])) >= 3 and \
                _history_text(tmp_path).count("\n") > 20:
            deleted = r["namespaces"][-1]
            subprocess.run(["ip", "netns", "del", deleted], check=True)
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=120)
    text = out.decode(errors="replace")
    assert deleted, text[-3000:]
    assert proc.returncode in (0, 1, 2), text[-3000:]
    assert "Traceback" not in text
    pids = sorted(seen.pids)
    assert len(pids) >= 3
    survivors = alive(pids)
    for e in seen.pids.values():  # never leak a daemon from a failing test
        if registry.same_process(e):
            os.kill(e["pid"], signal.SIGKILL)
    assert not survivors, f"redis outlived the run: {survivors}"
    assert not _no_leftovers(seen.rec, seen)
    assert _record(tmp_path) is None
