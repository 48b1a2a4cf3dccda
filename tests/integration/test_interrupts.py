"""Issue 15 items 1 and 10: the interrupt matrix. SIGINT and SIGTERM at every phase of a
real Redis run in namespaces (cluster start, load, nemesis active, final reads, teardown,
checking) give exit 130, a readable history, a truthful cleanup message and zero
leftovers. Teardown is hit at several instants (while Redis stops, while veths go, while
namespaces go), each time with a second signal right after the first.

Each run uses a private registry dir (SPLITBRAIN_RUN_DIR), so the test knows its run's
prefix and never looks at anyone else's resources.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from splitbrain.harness.history import read_history
from tests.integration.leftovers import alive

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spawn(tmp_path, *extra):
    env = dict(os.environ, PYTHONPATH=ROOT, SPLITBRAIN_RUN_DIR=str(tmp_path / "runs"))
    argv = [sys.executable, "-m", "splitbrain", "run", "--store", str(tmp_path / "store"),
            "--nodes", "3", "--concurrency", "3", "--quiesce", "0", *extra]
    return subprocess.Popen(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _record(tmp_path):
    for p in glob.glob(str(tmp_path / "runs" / "sb*.json")):
        try:
            with open(p) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None
    return None


def _history(tmp_path):
    got = glob.glob(str(tmp_path / "store" / "*" / "2*" / "history.jsonl"))
    return got[0] if got else None


def _history_text(tmp_path):
    p = _history(tmp_path)
    if not p:
        return ""
    with open(p) as f:
        return f.read()


def _netns_exists(ns):
    return os.path.exists(f"/run/netns/{ns}")


def _link_exists(name):
    return os.path.exists(f"/sys/class/net/{name}")


class Seen:
    """Remembers the run's prefix and resources while it runs (the record goes at the end)."""

    def __init__(self):
        self.rec = None
        self.existed: set[str] = set()  # links/namespaces seen present (registered first)
        self.pids: dict[int, dict] = {}  # every pid ever recorded (teardown forgets them)

    def poll(self, tmp_path):
        r = _record(tmp_path)
        if r:
            self.rec = r
            for p in r.get("pids", []):
                self.pids[p["pid"]] = p
            for l in r.get("links", []):
                if _link_exists(l):
                    self.existed.add(l)
            for n in r.get("namespaces", []):
                if _netns_exists(n):
                    self.existed.add(n)
        return self.rec

    def gone(self, check) -> bool:
        return any(not check(x) for x in self.existed if x in self._names(check))

    def _names(self, check):
        r = self.rec or {}
        return set(r.get("links", [])) if check is _link_exists else set(r.get("namespaces", []))


def _when(phase, seen):
    """A predicate over tmp_path saying the run is in `phase` now."""

    def cluster_start(tmp):
        r = seen.poll(tmp)
        return bool(r and r.get("namespaces"))

    def load(tmp):
        seen.poll(tmp)
        return _history_text(tmp).count("\n") >= 30

    def nemesis(tmp):
        seen.poll(tmp)
        t = _history_text(tmp)
        return '"start-partition"' in t and '"type":"info"' in t.split('"start-partition"', 1)[1]

    def final_reads(tmp):
        seen.poll(tmp)
        return '"final":true' in _history_text(tmp)

    def teardown_redis(tmp):
        r = seen.poll(tmp)
        pids = [p["pid"] for p in (r or {}).get("pids", [])]
        return bool(pids) and len(alive(pids)) < len(pids) and \
            '"final":true' in _history_text(tmp)

    def teardown_links(tmp):
        seen.poll(tmp)
        return seen.gone(_link_exists)

    def teardown_netns(tmp):
        seen.poll(tmp)
        return seen.gone(_netns_exists)

    def checking(tmp):
        # the cluster is gone (record removed once cleanup succeeded) and no verdict yet
        r = seen.poll(tmp)
        return bool(r) and _record(tmp) is None and not glob.glob(
            str(tmp / "store" / "*" / "2*" / "results.json"))

    return locals()[phase]


PHASES = {
    # phase: extra flags (short, but long enough for the instant to be caught)
    "cluster_start": ["--time-limit", "3", "--nemesis", "none"],
    "load": ["--time-limit", "6", "--nemesis", "none", "--rate", "200"],
    "nemesis": ["--time-limit", "6", "--nemesis", "partition", "--nemesis-interval", "1",
                "--rate", "200"],
    "final_reads": ["--time-limit", "2", "--nemesis", "none", "--rate", "300"],
    "teardown_redis": ["--time-limit", "2", "--nemesis", "none", "--rate", "200"],
    "teardown_links": ["--time-limit", "2", "--nemesis", "none", "--rate", "200"],
    "teardown_netns": ["--time-limit", "2", "--nemesis", "none", "--rate", "200"],
    "checking": ["--time-limit", "4", "--nemesis", "none", "--rate", "0",
                 "--workload", "list-append"],
}


def _no_leftovers(rec, seen=None):
    prefix = rec["prefix"]
    left = [n for n in rec.get("namespaces", []) if _netns_exists(n)]
    left += [l for l in rec.get("links", []) + rec.get("bridges", []) if _link_exists(l)]
    pids = {p["pid"] for p in rec.get("pids", [])} | set(seen.pids if seen else ())
    left += [f"pid {p}" for p in alive(sorted(pids))]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    left += [l for l in rules.splitlines() if prefix in l]
    return left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_interrupt_matrix(tmp_path, phase, sig):
    seen = Seen()
    when = _when(phase, seen)
    proc = _spawn(tmp_path, *PHASES[phase])
    deadline = time.monotonic() + 120
    hit = False
    while time.monotonic() < deadline and proc.poll() is None:
        if when(tmp_path):
            proc.send_signal(sig)
            if phase.startswith("teardown"):
                time.sleep(0.05)
                proc.send_signal(signal.SIGTERM if sig == signal.SIGINT else signal.SIGINT)
            hit = True
            break
        time.sleep(0.005)
    out, _ = proc.communicate(timeout=180)
    text = out.decode(errors="replace")
    assert hit, f"the run ended before phase {phase} was seen:\n{text[-3000:]}"
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "everything was cleaned up" in text, text[-3000:]
    hist = _history(tmp_path)
    if phase != "cluster_start":
        assert hist, text[-3000:]
    if hist:
        read_history(hist)  # readable (a torn last line at most)
    else:
        assert "no operation had been recorded" in text
    rec = seen.rec
    assert rec, "the run's record was seen"
    assert not _no_leftovers(rec, seen), _no_leftovers(rec, seen)
    assert _record(tmp_path) is None, "the registry record was removed"
    assert os.path.islink(tmp_path / "store" / "latest") or phase == "cluster_start" \
        or not hist
