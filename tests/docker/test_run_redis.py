"""`splitbrain run --backend docker` end to end: the netns acceptance cases on containers.

The real runner, real redis-server processes in containers, iptables partitions inside
them, final reads, checkers. Container and network counts must return to what they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import (assert_witnesses_are_real, run_in, spawn_run,
                                     wait_for_history)
from tests.docker.conftest import resource_counts, sb_docker_resources

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.redis, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))






def test_primary_reads_without_faults_are_valid(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path, backend="docker", read_from="primary", nemesis="none", time_limit=6, concurrency=5,
               rate=400, workload="register")
    assert out.results is not None, out
    bad = {n: r for n, r in out.results["checkers"].items() if r["valid"] is not True}
    assert out.results["valid"] is True, bad
    assert out.exit_code == 0
    assert out.results["stats"]["ok"] > 500, out.results["stats"]
    print(f"\n[figure] docker run figures: {out.figures}")
    logs = os.path.join(out.run_dir, "nodes", "n2", "redis.log")
    with open(logs) as fh:
        assert "MASTER <-> REPLICA sync" in fh.read(), "n2's redis log fetched from its container"
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert {o.node for o in hist.ops if o.final and o.type == "ok"} == {"n1", "n2", "n3"}
    assert resource_counts(docker_client) == before


def test_replica_reads_under_partitions_show_stale_reads(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path, backend="docker", read_from="replicas", nemesis="partition", nemesis_interval=2,
               time_limit=10, concurrency=8, rate=800, workload="register")
    res = out.results
    assert res is not None
    ryw, mr = res["checkers"]["read-your-writes"], res["checkers"]["monotonic-reads"]
    assert ryw["valid"] is False or mr["valid"] is False, (ryw, mr)
    assert out.exit_code == 1
    for name in ("read-your-writes", "monotonic-reads"):
        assert_witnesses_are_real(out.run_dir, res, name)
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    starts = [e for e in hist.nemesis if e["f"] == "start-partition" and e.get("type") == "info"]
    assert starts and not any(e.get("error") for e in starts), starts
    assert resource_counts(docker_client) == before






def test_sigint_leaves_history_and_no_containers(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    sb_before = sb_docker_resources(docker_client)
    proc = spawn_run(tmp_path, "--backend", "docker")
    hist_path = wait_for_history(tmp_path, proc)
    during = sb_docker_resources(docker_client)
    assert len(during["containers"] - sb_before["containers"]) == 3, during
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=90)
    text = out.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text, text
    assert len(read_history(hist_path).ops) > 10
    assert resource_counts(docker_client) == before, sb_docker_resources(docker_client)


def test_cleanup_after_kill_9_of_the_controller(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    proc = spawn_run(tmp_path, "--backend", "docker")
    wait_for_history(tmp_path, proc)
    assert resource_counts(docker_client) != before
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "docker container" in r.stdout, r.stdout
    assert resource_counts(docker_client) == before, r.stdout
