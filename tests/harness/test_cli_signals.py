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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_while_checking_exits_130(big_history, sig):
    proc = subprocess.Popen([sys.executable, "-m", "splitbrain", "check", str(big_history)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    time.sleep(2.0)  # imports done, reading or checking
    assert proc.poll() is None, "check finished before the signal; make the history bigger"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "interrupted" in err and "Aborted" not in err and "Traceback" not in err
