"""Helpers shared by the end-to-end run tests of every backend and datastore."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from splitbrain.harness.config import build_test
from splitbrain.harness.history import read_history

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_in(tmp_path, **settings):
    """A real run (harness.runner.run_test) into tmp_path/store."""
    from splitbrain.harness.runner import run_test

    settings.setdefault("store", str(tmp_path / "store"))
    settings.setdefault("quiesce", 1.0)
    return run_test(build_test(settings))


def assert_witnesses_are_real(run_dir: str, results: dict, checker: str) -> None:
    hist = read_history(os.path.join(run_dir, "history.jsonl"))
    indices = {o.index for o in hist.ops} | {o.inv_index for o in hist.ops}
    for a in results["checkers"][checker]["anomalies"]:
        assert a["ops"], a
        assert set(a["ops"]) <= indices, (a, "witness ops must be real history ops")


def spawn_run(tmp_path, *extra: str) -> subprocess.Popen:
    """`python -m splitbrain run` as a child in its own session (so tests can signal it)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    argv = [sys.executable, "-m", "splitbrain", "run", "--store", str(tmp_path / "store"),
            "--time-limit", "60", "--nemesis-interval", "2", "--concurrency", "4",
            "--rate", "200", *extra]
    return subprocess.Popen(argv, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_history(tmp_path, proc: subprocess.Popen, lines: int = 50,
                     timeout: float = 60) -> str:
    """Path of the run's history once it has `lines` lines (the child must stay alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for root, _, files in os.walk(tmp_path / "store"):
            if "history.jsonl" in files:
                p = os.path.join(root, "history.jsonl")
                with open(p) as fh:
                    if sum(1 for _ in fh) >= lines:
                        return p
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.2)
    raise AssertionError("no history appeared")
