"""NetnsCluster, NetnsRemote, LocalRemote, the run registry and cleanup — on real namespaces."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from splitbrain.harness import registry
from splitbrain.harness.cluster.cleanup import cleanup, list_links, list_namespaces, sb_iptables_rules
from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.control.local import LocalRemote
from splitbrain.harness.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A node-side TCP probe: connects to each target, prints {target: "ok" | error text}.
PROBE = textwrap.dedent("""
    import json, socket, sys
    out = {}
    for t in sys.argv[1:]:
        h, p = t.rsplit(":", 1)
        try:
            socket.create_connection((h, int(p)), timeout=1.0).close(); out[t] = "ok"
        except OSError as e:
            out[t] = str(e)
    print(json.dumps(out))
""")
SERVER = ("import socket, time\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', 7000)); s.listen(64)\n"
          "while True:\n    c, _ = s.accept(); c.close()\n")

# A controller-side server on 0.0.0.0 and a free port (printed), like any host service.
HOST_SERVER = ("import socket\n"
               "s = socket.socket(); s.bind(('0.0.0.0', 0)); s.listen(64)\n"
               "print(s.getsockname()[1], flush=True)\n"
               "while True:\n    c, _ = s.accept(); c.close()\n")


def random_subnet() -> str:
    """A free /24 in a random 10.2xx.0.0/16, so parallel test runs do not collide."""
    from splitbrain.harness.cluster.netns import pick_free_subnet

    return pick_free_subnet(f"10.{random.randint(200, 254)}.0.0/16")


def leftovers(prefix: str) -> dict:
    return {
        "namespaces": [n for n in list_namespaces() if n.startswith(prefix)],
        "links": [n for n, _ in list_links() if n.startswith(prefix)],
        "rules": [line for _, line in sb_iptables_rules() if prefix in line],
        "registry": registry.load(prefix),
    }


def assert_clean(prefix: str) -> None:
    assert leftovers(prefix) == {"namespaces": [], "links": [], "rules": [], "registry": None}


def wait_listening(remote, port=7000, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port}" in remote.exec(["ss", "-ltn"], check=False).stdout:
            return
        time.sleep(0.02)
    raise AssertionError("server did not start")


# -- pure / non-root -------------------------------------------------------------------

def test_invalid_arguments_are_input_errors(tmp_path):
    from splitbrain.harness.cluster.netns import NetnsCluster

    for kw in ({"nodes": 0}, {"nodes": 10}, {"subnet": "8.8.8.0/24"}, {"subnet": "banana"},
               {"subnet": "10.1.1.0/30", "nodes": 3}, {"subnet": "fd00::/64"},
               {"subnet": "127.0.0.0/24"}):
        with pytest.raises(InputError):
            NetnsCluster("sbtest1", workdir_root=str(tmp_path), **kw)
    for bad in ("xx1234", "sb", "sbUPPER", "sb-dash", "sb12345678901"):
        with pytest.raises(InputError):
            NetnsCluster(bad, workdir_root=str(tmp_path))
    assert registry.new_run_prefix().startswith("sb") and len(registry.new_run_prefix()) == 8


def test_local_remote_exec_stdin_check_and_copy(tmp_path):
    r = LocalRemote()
    assert r.exec(["echo", "hi"]).stdout == "hi\n"
    assert r.exec(["cat"], stdin=b"abc").stdout == "abc"
    assert r.exec(["sh", "-c", "echo $SBX"], env={"SBX": "1"}).stdout == "1\n"
    res = r.exec(["sh", "-c", "echo oops >&2; exit 3"], check=False)
    assert (res.exit_code, res.stderr) == (3, "oops\n")
    with pytest.raises(RemoteError) as ei:
        r.exec(["sh", "-c", "echo oops >&2; exit 3"])
    assert ei.value.exit_code == 3 and "oops" in str(ei.value)
    src = tmp_path / "a.txt"
    src.write_text("payload")
    r.upload(str(src), str(tmp_path / "x" / "y" / "b.txt"))
    r.download(str(tmp_path / "x" / "y" / "b.txt"), str(tmp_path / "c.txt"))
    assert (tmp_path / "c.txt").read_text() == "payload"


def test_local_exec_timeout_kills_the_child(tmp_path):
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="timed out"):
        LocalRemote().exec(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert registry.process_identity(int(pidfile.read_text())) is None


def test_local_spawn_detaches_and_reports_immediate_failure(tmp_path):
    r = LocalRemote()
    d = r.spawn(["sleep", "30"], log_path=str(tmp_path / "logs" / "s.log"))
    try:
        ident = registry.process_identity(d.pid)
        assert ident and ident["cmdline"] == ["sleep", "30"]
        assert os.getsid(d.pid) == d.pid  # its own session: a terminal ^C does not reach it
    finally:
        os.kill(d.pid, signal.SIGKILL)
    with pytest.raises(RemoteError, match="exited 7"):
        r.spawn(["sh", "-c", "echo broken; exit 7"], log_path=str(tmp_path / "b.log"))
    with pytest.raises(RemoteError):
        r.spawn(["/nonexistent/sbbinary"])


def test_registry_process_identity_rejects_recycled_pid(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_RUN_DIR", str(tmp_path))
    p = subprocess.Popen(["sleep", "30"])
    try:
        entry = registry.register_pid("sbregtest", p.pid, "sleep")
        assert registry.same_process(entry)
        assert not registry.same_process({**entry, "start_time": entry["start_time"] + 1})
        assert registry.load("sbregtest")["pids"][0]["pid"] == p.pid
        p.kill()  # a live pid is never forgotten (tests/harness/test_pid_layer.py)
        p.wait()
        registry.unregister_pid("sbregtest", p.pid)
        assert registry.load("sbregtest") is None  # implicit, now-empty record is dropped
    finally:
        p.kill()
        p.wait()
    assert not registry.same_process(entry)


# -- real namespaces -------------------------------------------------------------------

@pytest.fixture
def cluster3(tmp_path):
    from splitbrain.harness.cluster.netns import NetnsCluster

    c = NetnsCluster(nodes=3, subnet=random_subnet(), workdir_root=str(tmp_path))
    try:
        yield c, c.up()
    finally:
        c.down()
        assert_clean(c.prefix)


@pytest.mark.root
def test_up_addresses_connectivity_and_no_route_out(cluster3):
    c, nodes = cluster3
    net = ipaddress.ip_network(c.subnet)
    assert [n.name for n in nodes] == ["n1", "n2", "n3"]
    assert [n.address for n in nodes] == [str(net.network_address + i) for i in (2, 3, 4)]
    assert all(os.path.isdir(n.workdir) for n in nodes)
    rec = registry.load(c.prefix)
    assert rec["namespaces"] == [f"{c.prefix}-n{i}" for i in (1, 2, 3)]
    assert rec["bridges"] == [f"{c.prefix}br"]

    for n in nodes:
        n.remote.spawn([sys.executable, "-c", SERVER], log_path=os.path.join(n.workdir, "s.log"))
    for n in nodes:
        wait_listening(n.remote)
    targets = [f"{n.address}:7000" for n in nodes]
    out = json.loads(nodes[0].remote.exec([sys.executable, "-c", PROBE, *targets]).stdout)
    assert out == {t: "ok" for t in targets}
    # the controller reaches nodes over the bridge (that is how clients talk to them)
    out = json.loads(LocalRemote().exec([sys.executable, "-c", PROBE, *targets]).stdout)
    assert out == {t: "ok" for t in targets}

    # issue 15 item 11: a service of the controller on 0.0.0.0 is not reachable from a node
    host = subprocess.Popen([sys.executable, "-c", HOST_SERVER], stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(host.stdout.readline())
        bridge_addr = f"{net.network_address + 1}:{port}"
        assert json.loads(LocalRemote().exec([sys.executable, "-c", PROBE, f"127.0.0.1:{port}"])
                          .stdout) == {f"127.0.0.1:{port}": "ok"}
        out = json.loads(nodes[0].remote.exec([sys.executable, "-c", PROBE, bridge_addr]).stdout)
        assert out[bridge_addr] != "ok", "a node reached a host service through the bridge"
    finally:
        host.kill()
        host.wait()

    routes = nodes[0].remote.exec(["ip", "-4", "route"]).stdout
    assert "default" not in routes and routes.strip().startswith(str(net))
    # ENETUNREACH is decided locally from the routing table: no packet leaves the node.
    t0 = time.monotonic()
    out = json.loads(nodes[0].remote.exec([sys.executable, "-c", PROBE, "1.1.1.1:80"]).stdout)
    assert "unreachable" in out["1.1.1.1:80"].lower() and time.monotonic() - t0 < 1.0
    assert nodes[0].remote.exec(["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"]).stdout \
        .strip() == "1"


@pytest.mark.root
def test_spawn_pid_is_the_daemons_own_and_is_recorded(cluster3, tmp_path):
    c, nodes = cluster3
    argv = ["sleep", "30"]
    d = nodes[1].remote.spawn(argv, log_path=str(tmp_path / "sleep.log"))
    ident = registry.process_identity(d.pid)
    assert ident["cmdline"] == argv and ident["comm"] == "sleep"
    ns_inode = os.stat(f"/run/netns/{c.prefix}-n2").st_ino
    assert os.stat(f"/proc/{d.pid}/ns/net").st_ino == ns_inode
    assert os.stat(f"/proc/{d.pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    recorded = [p for p in registry.load(c.prefix)["pids"] if p["pid"] == d.pid]
    assert recorded and registry.same_process(recorded[0]) and recorded[0]["netns"] == \
        f"{c.prefix}-n2"
    # the node's own `kill` reaches it by that pid
    nodes[1].remote.exec(["kill", "-TERM", str(d.pid)])
    deadline = time.monotonic() + 3
    while registry.process_identity(d.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registry.process_identity(d.pid) is None  # reaped, not a zombie


@pytest.mark.root
def test_netns_exec_timeout_kills_child(cluster3, tmp_path):
    _, nodes = cluster3
    pidfile = tmp_path / "pid"
    with pytest.raises(RemoteError, match="timed out"):
        nodes[0].remote.exec(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], timeout=0.5)
    assert registry.process_identity(int(pidfile.read_text())) is None


@pytest.mark.root
def test_down_removes_everything_and_is_idempotent(tmp_path):
    from splitbrain.harness.cluster.netns import NetnsCluster

    c = NetnsCluster(nodes=2, subnet=random_subnet(), workdir_root=str(tmp_path))
    nodes = c.up()
    d = nodes[0].remote.spawn(["sleep", "30"])
    assert leftovers(c.prefix)["namespaces"]
    report = c.down()
    assert report.ok and any("namespace" in r for r in report.removed)
    assert registry.process_identity(d.pid) is None
    assert_clean(c.prefix)
    assert c.down().removed == []


@pytest.mark.root
def test_prefix_and_subnet_conflicts_are_input_errors(cluster3, tmp_path):
    from splitbrain.harness.cluster.netns import NetnsCluster

    c, _ = cluster3
    with pytest.raises(InputError, match="overlaps"):
        NetnsCluster(nodes=2, subnet=c.subnet, workdir_root=str(tmp_path)).up()
    with pytest.raises(InputError, match="in use"):
        NetnsCluster(c.prefix, nodes=2, subnet=random_subnet(), workdir_root=str(tmp_path)).up()
    assert len(leftovers(c.prefix)["namespaces"]) == 3  # the live run was not harmed


CRASHER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from splitbrain.harness.cluster.netns import NetnsCluster
    c = NetnsCluster({prefix!r}, nodes=2, subnet={subnet!r}, workdir_root={wd!r})
    nodes = c.up()
    d1 = nodes[0].remote.spawn(["sleep", "300"])
    # an unrecorded process living in a namespace is found through `ip netns pids`
    import subprocess
    p2 = subprocess.Popen(["ip", "netns", "exec", "{prefix}-n2", "sleep", "301"],
                          start_new_session=True)
    from splitbrain.harness import registry
    open({wd!r} + "/faketime.rc", "w").write("+1h")
    registry.register_faketime_file({prefix!r}, {wd!r} + "/faketime.rc")
    print(d1.pid, p2.pid, flush=True)
    import time; time.sleep(300)
""")


@pytest.mark.root
def test_cleanup_after_a_crash_leaves_nothing(tmp_path):
    prefix = registry.new_run_prefix()
    script = CRASHER.format(root=ROOT, prefix=prefix, subnet=random_subnet(), wd=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        pids = [int(x) for x in line.split()]
        assert len(pids) == 2, line
        os.kill(proc.pid, signal.SIGKILL)  # the crash: no finally, no down()
        proc.wait()
        assert leftovers(prefix)["namespaces"] and leftovers(prefix)["links"]
        assert all(registry.process_identity(p) for p in pids)

        report = cleanup(prefix)
        assert report.ok, report.errors
        assert any(f"process {pids[0]}" in r for r in report.removed)
        assert any(f"process {pids[1]}" in r for r in report.removed)
        assert_clean(prefix)
        assert all(registry.process_identity(p) is None for p in pids)
        assert not (tmp_path / "faketime.rc").exists()
        assert not cleanup(prefix).removed  # idempotent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup(prefix)
