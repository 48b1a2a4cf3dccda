"""The seams hold (issue 16): a new datastore, backend, fault family and workload are each
one module (tests/seams/) plus one registry line — here patched in — and a whole run goes
through the real runner, config, schedule, checkers and reports with nothing else edited."""

from __future__ import annotations

import json
import os

import pytest

from splitbrain.harness import cluster, dbs
from splitbrain.harness.config import build_test
from splitbrain.harness.errors import InputError
from splitbrain.harness.runner import run_test
from splitbrain.nemesis import registry as nemesis_registry
import splitbrain.workloads as workloads


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(dbs, "MODULES", dbs.MODULES + ("tests.seams.memdb",))
    monkeypatch.setattr(cluster, "MODULES", cluster.MODULES + ("tests.seams.memory",))
    monkeypatch.setattr(nemesis_registry, "MODULES",
                        nemesis_registry.MODULES + ("tests.seams.flaky",))
    monkeypatch.setitem(workloads._REGISTRY, "blind-register",
                        ("tests.seams.blind_register", "BlindRegisterWorkload"))


def test_one_module_and_one_line_each_make_a_whole_run(registered, tmp_path):
    test = build_test({"db": "memdb", "backend": "memory", "workload": "blind-register",
                       "nemesis": "flaky,kill", "nemesis_interval": 0.5, "time_limit": 3,
                       "quiesce": 0, "rate": 200, "concurrency": 3,
                       "store": str(tmp_path / "store")})
    assert test.test_name == "memdb-blind-register"
    out = run_test(test)
    res = out.results
    assert out.exit_code == 0 and res["valid"] is True, res
    from splitbrain.workloads.mix import SESSION

    assert set(res["checkers"]) == {"integrity", *SESSION, "convergence"}  # the workload's
    assert res["workload"] == "register"  # the model's history shape
    assert res["nemesis"]["applied"]["flaky"] >= 1 and res["nemesis"]["applied"]["kill"] >= 1
    hist = [json.loads(x) for x in open(os.path.join(out.run_dir, "history.jsonl"))]
    fams = {e.get("family") for e in hist if e["process"] == "nemesis"}
    assert fams == {"flaky", "kill"}
    assert os.path.exists(os.path.join(out.run_dir, "report.html"))


def test_registered_parts_are_checked_like_built_in_ones(registered, monkeypatch):
    from dataclasses import replace

    from tests.seams import memdb

    with pytest.raises(InputError, match="--db-opt slow_ms=-1: must be 0 or more"):
        build_test({"db": "memdb", "backend": "memory", "db_options": ["slow_ms=-1"]})
    assert build_test({"db": "memdb", "backend": "memory", "nemesis": "pause"})

    class NoPause(memdb.MemDB):  # a store that cannot be paused
        pause = resume = None

    monkeypatch.setattr(memdb, "SPEC", replace(memdb.SPEC, db_class=lambda: NoPause))
    with pytest.raises(InputError, match="the pause fault needs a datastore that is Pausable"):
        build_test({"db": "memdb", "backend": "memory", "nemesis": "pause"})
