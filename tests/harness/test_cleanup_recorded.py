"""Issue 15 item 12: cleanup removes only what runs recorded (`--force-pattern` for the
rest), skips runs whose controller is alive, removes `cluster up` workdirs; a run refused
at start leaves no run directory. Real namespaces and processes; a private registry dir
(SPLITBRAIN_RUN_DIR) keeps every cleanup here away from other runs' records."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time

import pytest

from splitbrain.harness import registry
from splitbrain.harness.cluster.cleanup import cleanup
from tests.harness.test_netns import ROOT, random_subnet

pytestmark = pytest.mark.root


@pytest.fixture
def private_registry(tmp_path, monkeypatch):
    d = tmp_path / "runs"
    monkeypatch.setenv("SPLITBRAIN_RUN_DIR", str(d))
    return d


def _cli(*args, env_dir):
    env = dict(os.environ, PYTHONPATH=ROOT, SPLITBRAIN_RUN_DIR=str(env_dir))
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_unrecorded_namespace_is_left_alone_without_force_pattern(private_registry):
    prefix = "sbq" + secrets.token_hex(3)
    ns = f"{prefix}-x"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "600"])
    try:
        time.sleep(0.2)
        for rep in (cleanup(prefix), cleanup(None)):
            assert rep.ok
            assert os.path.exists(f"/run/netns/{ns}"), "an unrecorded namespace was removed"
            assert proc.poll() is None, "a process in an unrecorded namespace was killed"
            assert any("--force-pattern" in s for s in rep.skipped), rep.skipped
        assert any(ns in s for s in cleanup(prefix).skipped)
        r = _cli("cleanup", "--prefix", prefix, env_dir=private_registry)
        assert r.returncode == 0 and "force-pattern" in r.stdout and os.path.exists(f"/run/netns/{ns}")
        r = _cli("cleanup", "--prefix", prefix, "--force-pattern", env_dir=private_registry)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not os.path.exists(f"/run/netns/{ns}")
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from splitbrain.harness.cluster.netns import NetnsCluster
    c = NetnsCluster({prefix!r}, nodes=1, subnet={subnet!r}, workdir_root={wd!r})
    c.up()
    print("up", flush=True)
    time.sleep(600)
""")


def test_global_cleanup_skips_live_runs_unless_named(private_registry, tmp_path):
    prefix = registry.new_run_prefix()
    script = HOLDER.format(root=ROOT, prefix=prefix, subnet=random_subnet(), wd=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        rep = cleanup(None)
        assert any(prefix in s and "in use" in s for s in rep.skipped), rep.skipped
        assert os.path.exists(f"/run/netns/{prefix}-n1") and registry.load(prefix)
        rep = cleanup(prefix)  # named: cleaned although its controller lives
        assert rep.ok, rep.errors
        assert not os.path.exists(f"/run/netns/{prefix}-n1") and registry.load(prefix) is None
    finally:
        proc.kill()
        proc.wait()
        cleanup(prefix)


def test_cluster_up_workdirs_are_removed_by_down(private_registry, tmp_path):
    wd = tmp_path / "wd"
    r = _cli("cluster", "up", "--nodes", "1", "--subnet", random_subnet(), "--workdir-root",
             str(wd), "--json", env_dir=private_registry)
    assert r.returncode == 0, r.stderr
    import json

    prefix = json.loads(r.stdout)["prefix"]
    assert (wd / prefix / "n1").is_dir()
    (wd / "keep").mkdir()
    r = _cli("cluster", "down", prefix, env_dir=private_registry)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (wd / prefix).exists(), "the cluster's workdir was left"
    assert (wd / "keep").is_dir()
    assert not os.path.exists(f"/run/netns/{prefix}-n1")


def test_run_refused_at_start_leaves_no_run_dir(private_registry, tmp_path):
    store = tmp_path / "store"
    r = _cli("run", "--store", str(store), "--subnet", "127.0.0.0/24", "--time-limit", "1",
             "--nemesis", "none", env_dir=private_registry)
    assert r.returncode == 254, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(store) for f in fs]
    assert not leftovers and not any(
        e.is_dir() for e in store.iterdir() if e.name != "latest") if store.exists() else True
