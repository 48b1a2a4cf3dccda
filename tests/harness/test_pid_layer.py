"""Issue 15 item 4: a daemon whose node namespace disappears mid-run (`ip netns del`) is
still stopped — recorded pids are signalled from the controller, identity-checked via
/proc — and a pid whose process is still alive is never forgotten."""

from __future__ import annotations

import subprocess

import pytest

from splitbrain.harness import registry
from splitbrain.harness.dbs import daemons
from tests.harness.test_netns import random_subnet


def test_unregister_keeps_a_live_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_RUN_DIR", str(tmp_path))
    monkeypatch.setattr(registry, "FORGET_WAIT", 0.05)
    p = subprocess.Popen(["sleep", "30"])
    try:
        registry.open_run("sbpidtest", "netns")
        registry.register_pid("sbpidtest", p.pid, "sleep")
        assert registry.unregister_pid("sbpidtest", p.pid) is False
        assert [e["pid"] for e in registry.load("sbpidtest")["pids"]] == [p.pid]
        assert registry.pid_alive("sbpidtest", p.pid) is True
        assert registry.signal_pid("sbpidtest", p.pid, "KILL") is True
        p.wait()
        assert registry.pid_alive("sbpidtest", p.pid) is False
        assert registry.signal_pid("sbpidtest", p.pid, "TERM") is False
        assert registry.unregister_pid("sbpidtest", p.pid) is True
        assert registry.load("sbpidtest")["pids"] == []
        assert registry.signal_pid("sbpidtest", 1, "TERM") is None  # not recorded: untouched
    finally:
        p.kill()
        p.wait()


@pytest.mark.root
def test_daemon_stopped_after_its_namespace_is_deleted(tmp_path):
    from splitbrain.harness.cluster.netns import NetnsCluster

    c = NetnsCluster(nodes=1, subnet=random_subnet(), workdir_root=str(tmp_path))
    try:
        node = c.up()[0]
        d = daemons.spawn(node, ["sleep", "600"], prefix=c.prefix, what="sleep",
                          log_path=str(tmp_path / "s.log"))
        entry = registry.recorded_pid(c.prefix, d.pid)
        assert entry and registry.same_process(entry)
        subprocess.run(["ip", "netns", "del", node.meta["netns"]], check=True)
        assert daemons.alive(node, d)  # still running, though `ip netns exec` cannot reach it
        daemons.stop(node, d, grace=2.0)
        assert not registry.same_process(entry), "the daemon outlived its namespace"
        assert not daemons.alive(node, d)
        daemons.unregister(c.prefix, d)
        assert registry.recorded_pid(c.prefix, d.pid) is None
    finally:
        rep = c.down()
        assert rep.ok, rep.errors
