"""Issue 14 on Cassandra: a correlated power failure of the whole cluster (the disk
nemesis on every node's commitlog) loses acknowledged QUORUM writes with
`commitlog_sync: periodic` and none with `batch`. Two real 3-node runs (~2-3 min each)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from splitbrain.harness.config import build_test
from tests.cassandra.test_cassandra_runs import _no_jvm_left, _witnesses_are_real
from tests.conftest import have

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("java") is None,
                                 reason="Cassandra needs Java 17 (openjdk-17-jre-headless)"),
              pytest.mark.skipif(not (have("gcc") and have("pkg-config")
                                      and os.path.exists("/dev/fuse")),
                                 reason="needs gcc, libfuse3-dev and /dev/fuse")]


@pytest.fixture
def tmp_path():
    d = tempfile.mkdtemp(prefix="sbcass-disk-", dir="/var/tmp")
    try:
        yield __import__("pathlib").Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _crash_run(tmp_path, mode: str, attempt: int):
    """One 20 s set run whose disk nemesis power-fails every node's commitlog at once;
    (the run's outcome, its lost-updates result)."""
    from splitbrain.harness.runner import run_test

    out = run_test(build_test({
        "db": "cassandra", "workload": "set", "nemesis": "disk-lose-unsynced",
        "nemesis_interval": 8, "time_limit": 20, "rate": 200, "concurrency": 5,
        "quiesce": 1.0, "store": str(tmp_path / f"store{attempt}"),
        "cassandra_commitlog_sync": mode,
        "nemesis_options": {"disk": {"targets": ["all"]}}}))
    assert out.results is not None, out
    _no_jvm_left(tmp_path)
    with open(os.path.join(out.run_dir, "history.jsonl")) as f:
        events = [json.loads(line) for line in f if line.strip()]
    crash = [e for e in events if e.get("process") == "nemesis" and e["type"] == "info"
             and e["f"] == "disk-lose-unsynced"]
    assert crash and "error" not in crash[0], crash
    assert set(crash[0]["value"]["nodes"]) == {"n1", "n2", "n3"}
    return out, out.results["checkers"]["lost-updates"]


# periodic: acknowledged writes are lost unless a 10 s periodic fsync happened to land
# just before the crash (one CI run in many lost nothing), so it gets a second run; a
# store that never loses them still fails. batch: one run, nothing may be lost.
@pytest.mark.parametrize("mode,loses", [("periodic", True), ("batch", False)])
def test_whole_cluster_crash_loses_acked_writes_only_with_periodic_commitlog(tmp_path, mode,
                                                                              loses):
    for attempt in range(2 if loses else 1):
        out, lost = _crash_run(tmp_path, mode, attempt)
        if not loses or lost["valid"] is False:
            break
    if loses:
        assert lost["valid"] is False, lost
        assert any(a["type"] == "lost" for a in lost["anomalies"])
        _witnesses_are_real(out.run_dir, out.results, "lost-updates")
    else:
        assert lost["valid"] is True, lost["anomalies"][:3]
    with open("/proc/self/mounts") as f:
        assert not [m for m in f if "fuse.sbfs" in m and str(tmp_path) in m]
