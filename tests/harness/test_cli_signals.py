"""Issue 15 item 10: SIGTERM and SIGINT outside the run phases (here: `check` busy on a
large history) exit 130 with a message, never 143 or a bare "Aborted."."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def big_history(tmp_path_factory):
    p = tmp_path_factory.mktemp("sig") / "h.jsonl"
    with open(p, "wb") as f:
        i = 0
        for n in range(150_000):
            proc, key = n % 10, n % 100
            f.write(orjson.dumps({"index": i, "process": proc, "type": "invoke", "f": "write",
                                  "key": key, "value": n, "time": i}) + b"\n")
            f.write(orjson.dumps({"index": i + 1, "process": proc, "type": "ok", "f": "write",
                                  "key": key, "value": n, "time": i + 1}) + b"\n")
            f.write(orjson.dumps({"index": i + 2, "process": proc, "type": "invoke", "f": "read",
                                  "key": key, "time": i + 2}) + b"\n")
            f.write(orjson.dumps({"index": i + 3, "process": proc, "type": "ok", "f": "read",
                                  "key": key, "value": n, "time": i + 3}) + b"\n")
            i += 4
    return p


def _reading(pid: int, path: str) -> bool:
    """The process has the history open (it is loading it)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except OSError:
            pass
    return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


@pytest.mark.parametrize("phase", ["reading", "checking"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_while_checking_exits_130(big_history, sig, phase):
    """The signal lands while the history is being read (its file open) or once it has
    been read and the checkers run (forked family workers, checkers/parallel.py, at this
    size): found from /proc, not from a fixed sleep, since a check now takes ~2 s."""
    path = str(big_history)
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain", "check", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    deadline, was_reading, kids = time.monotonic() + 60, False, []
    while time.monotonic() < deadline and proc.poll() is None:
        reading = _reading(proc.pid, path)
        was_reading = was_reading or reading
        if phase == "reading" and reading:
            break
        if phase == "checking" and was_reading and not reading:
            # into the checkers: the workers fork once the shared tables are built
            until = time.monotonic() + 3
            while not kids and time.monotonic() < until and proc.poll() is None:
                kids = _children(proc.pid)
                time.sleep(0.002)
            break
        time.sleep(0.002)
    assert proc.poll() is None, f"check finished before the signal ({phase})"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, out[-1000:], err[-2000:])
    assert "interrupted" in err and "Aborted" not in err and "Traceback" not in err
    time.sleep(0.2)
    for kid in kids:  # its forked workers went with it
        with pytest.raises(ProcessLookupError):
            os.kill(kid, 0)
