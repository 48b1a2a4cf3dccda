"""`splitbrain run` end to end against real Redis in network namespaces (issue acceptance).

Each test runs the real runner: namespaces, bridge, redis-server processes, iptables
partitions, worker threads, final reads, checkers. Short time limits keep CI bounded.
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
from tests.integration.leftovers import alive, new_since, snapshot

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))






def test_primary_reads_without_faults_are_valid(tmp_path):
    before = snapshot(str(tmp_path))
    out = run_in(tmp_path, read_from="primary", nemesis="none", time_limit=6, concurrency=5,
               rate=400, workload="register")
    assert out.results is not None, out
    bad = {n: r for n, r in out.results["checkers"].items() if r["valid"] is not True}
    assert out.results["valid"] is True, bad
    assert out.exit_code == 0
    st = out.results["stats"]
    assert st["ok"] > 500, st
    for f in ("history.jsonl", "results.json", "test.json", "splitbrain.log"):
        assert os.path.exists(os.path.join(out.run_dir, f)), f
    assert any(os.scandir(os.path.join(out.run_dir, "nodes"))), "node logs copied"
    assert os.path.realpath(os.path.join(tmp_path, "store", "latest")) == os.path.realpath(out.run_dir)
    # final reads happened on every node
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert {o.node for o in hist.ops if o.final and o.type == "ok"} == {"n1", "n2", "n3"}
    assert not new_since(before, snapshot(str(tmp_path)))


def test_replica_reads_under_partitions_show_stale_reads(tmp_path):
    out = run_in(tmp_path, read_from="replicas", nemesis="partition", nemesis_interval=2,
               time_limit=10, concurrency=8, rate=800, workload="register")
    res = out.results
    assert res is not None
    ryw, mr = res["checkers"]["read-your-writes"], res["checkers"]["monotonic-reads"]
    assert ryw["valid"] is False or mr["valid"] is False, (ryw, mr)
    assert out.exit_code == 1
    for name in ("read-your-writes", "monotonic-reads"):
        assert_witnesses_are_real(out.run_dir, res, name)
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert any(e["f"] == "start-partition" for e in hist.nemesis)


def test_sentinel_partitioned_primary_loses_acknowledged_writes(tmp_path):
    """Jepsen's 2013 Redis finding: the isolated old primary keeps acknowledging writes,
    a new primary is elected by the majority, and on heal the old one's writes vanish."""
    out = run_in(tmp_path, topology="sentinel", workload="set", nemesis="partition-primary",
               nemesis_interval=8, time_limit=18, concurrency=6, rate=300, read_from="primary",
               quiesce=3.0)
    res = out.results
    assert res is not None
    lost = res["checkers"]["lost-updates"]
    assert lost["valid"] is False, lost
    kinds = {a["type"] for a in lost["anomalies"]}
    assert "lost" in kinds, kinds
    assert_witnesses_are_real(out.run_dir, res, "lost-updates")






@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_history_and_nothing_else(tmp_path, sig):
    before = snapshot(str(tmp_path))
    proc = spawn_run(tmp_path)
    hist_path = wait_for_history(tmp_path, proc)
    time.sleep(1.0)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    text = out.decode()
    assert proc.returncode == 130, text
    assert "Traceback" not in text, text
    h = read_history(hist_path)  # readable, no malformed line
    assert len(h.ops) > 10
    assert not new_since(before, snapshot(str(tmp_path))), "everything cleaned up"


def test_cleanup_after_kill_9_of_the_controller(tmp_path):
    before = snapshot(str(tmp_path))
    proc = spawn_run(tmp_path)
    wait_for_history(tmp_path, proc)
    during = new_since(before, snapshot(str(tmp_path)))
    assert during.get("netns") and during.get("procs"), during
    daemon_pids = [int(p.split()[0]) for p in during["procs"]]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not new_since(before, snapshot(str(tmp_path))), r.stdout
    assert not alive(daemon_pids), r.stdout
    r2 = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup"], env=env,
                        capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0  # idempotent


def test_not_root_or_bad_flags_are_one_clear_sentence(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--nodes", "12"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 254 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--nemesis", "meteor"], env=env,
                       capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 254 and "Traceback" not in r.stderr, r.stderr
    assert "meteor" in r.stderr
