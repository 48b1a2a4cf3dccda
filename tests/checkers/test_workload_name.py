"""results["workload"] names the workload the user asked for (`--workload cas-register`
says "cas-register", not the "register" shape the checkers read it as), or the one
inferred from the ops."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAS = os.path.join(ROOT, "tests", "checkers", "data", "knossos", "cas-register", "good",
                   "memstress3-9.edn")


@pytest.mark.parametrize("asked", ["cas-register", "register"])
def test_the_asked_workload_is_named(asked):
    res = run_checks(read_history(CAS), CheckOptions(workload=asked))
    assert res["workload"] == asked
    assert ("linearizable" in res["checkers"]) == (asked == "cas-register")


def test_an_inferred_workload_is_named_as_inferred():
    assert run_checks(read_history(CAS))["workload"] == "cas-register"


def test_check_cli_names_the_asked_workload(tmp_path):
    out = tmp_path / "results.json"
    rep = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "splitbrain", "check", CAS, "--workload",
                        "cas-register", "--out", str(out), "--report", str(rep)],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": ROOT, "COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["workload"] == "cas-register"
    assert "workload: cas-register" in p.stdout
    assert "cas-register" in (rep / "summary.md").read_text()
