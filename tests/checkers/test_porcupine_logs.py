"""porcupine's Jepsen etcd logs (tests/checkers/data/porcupine, data only) with the
linearizability porcupine_test.go asserts: read in their console-log form, as a user
runs `splitbrain check etcd_000.log`, with and without `--workload cas-register`."""

from __future__ import annotations

import json
import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "porcupine")
EXPECTED = json.load(open(os.path.join(DATA, "expected.json")))


@pytest.mark.parametrize("workload", [None, "cas-register"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_porcupine_verdict(name, workload):
    res = run_checks(read_history(os.path.join(DATA, name)), CheckOptions(workload=workload))
    assert workload or res["workload"] == "cas-register"  # inferred: cas ops
    assert res["checkers"]["linearizable"]["valid"] is EXPECTED[name]["valid"]
    assert res["valid"] is EXPECTED[name]["valid"]


def test_console_log_lines_become_ops(tmp_path):
    p = tmp_path / "h.log"
    p.write_text("INFO  jepsen.util - 0\t:invoke\t:write\t3\n"
                 "INFO  jepsen.core - some other line\n"
                 "INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n"
                 "INFO  jepsen.util - 0\t:info\t:write\t:timed-out\n"
                 "INFO  jepsen.util - 1\t:ok\t:cas\t[3 4]\n")
    h = read_history(str(p))
    w, c = h.ops
    assert (w.f, w.type, w.value) == ("write", "info", 3)  # the invocation's value
    assert (c.f, c.type, tuple(c.value)) == ("cas", "ok", (3, 4))


def test_other_files_are_not_taken_for_logs(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"index":0,"process":0,"type":"invoke","f":"write","value":1}\n'
                 '{"index":1,"process":0,"type":"ok","f":"write","value":1}\n')
    assert read_history(str(p)).meta.get("format") != "edn"
