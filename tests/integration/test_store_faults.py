"""Issue 15 item 6: a full or read-only store. The run checks the store before it
provisions anything, and a write error mid-run stops the load cleanly, tears down, keeps
what was written and exits 254 with one sentence (no traceback, no leftovers).

Real stores: a 2 MB tmpfs (filled by the run itself) and a tmpfs remounted read-only
(before the run: Linux refuses to remount a filesystem read-only while files on it are
open for writing, so a read-only store mid-run is the full-store path, EROFS vs ENOSPC)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from splitbrain.harness.history import read_history
from tests.integration.test_interrupts import _no_leftovers, _record, Seen, _spawn

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "store"
    mnt.mkdir()

    def mount(size):
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "sbtest", str(mnt)],
                       check=True)
        return mnt

    yield mount
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _one_sentence(text):
    assert "Traceback" not in text and "Logging error" not in text, text[-3000:]
    errs = [l for l in text.splitlines() if l.startswith("error:")]
    assert len(errs) == 1, text[-3000:]
    return errs[0]


def test_read_only_store_is_refused_before_provisioning(tmp_path, tmpfs):
    mnt = tmpfs("2m")
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    proc = _spawn(tmp_path, "--time-limit", "2", "--nemesis", "none")
    out, _ = proc.communicate(timeout=120)
    text = out.decode(errors="replace")
    assert proc.returncode == 254, text
    assert "cannot be written" in _one_sentence(text)
    assert _record(tmp_path) is None  # no cluster was ever recorded (or made)


def _run_until_exit(tmp_path, proc, seen, action=None, when=None):
    deadline = time.monotonic() + 150
    done = False
    while proc.poll() is None and time.monotonic() < deadline:
        seen.poll(tmp_path)
        if action and not done and when(tmp_path):
            action()
            done = True
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=150)
    return out.decode(errors="replace")


def test_full_store_stops_the_run_cleanly(tmp_path, tmpfs):
    tmpfs("2m")
    proc = _spawn(tmp_path, "--time-limit", "40", "--nemesis", "none", "--rate", "0",
                  "--workload", "list-append")
    seen = Seen()
    t0 = time.monotonic()
    text = _run_until_exit(tmp_path, proc, seen)
    assert proc.returncode == 254, text[-3000:]
    assert "cannot be written" in _one_sentence(text) and "No space left" in text
    assert time.monotonic() - t0 < 40, "stopped at the write error, not at the time limit"
    hist = glob.glob(str(tmp_path / "store" / "*" / "2*" / "history.jsonl"))[0]
    h = read_history(hist)  # what was written is kept and readable (torn last line at most)
    assert len(h.ops) > 100
    assert seen.rec and not _no_leftovers(seen.rec, seen)
    assert _record(tmp_path) is None
