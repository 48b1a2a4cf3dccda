"""The ssh backend against real sshd daemons, one per netns node (tests/ssh/sshd.py).

Each "host" is a network namespace with its own sshd, host key and address on a private
bridge; Redis then runs inside the namespace and is reached over the bridge, exactly as
on a real machine. Nothing here touches the system's sshd or ~/.ssh: known_hosts files
and keys live in temp dirs (HOME points there for runs through the CLI / runner)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from splitbrain.harness import registry
from splitbrain.harness.cluster.netns import NetnsCluster
from splitbrain.harness.registry import new_run_prefix
from splitbrain.harness.cluster.ssh import SSHCluster
from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.control.ssh import SSHRemote, SSHTarget
from splitbrain.harness.errors import EnvironmentProblem
from tests.ssh.sshd import SSHD, SshdFarm

pytestmark = [pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    if not (os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen")):
        pytest.skip("needs openssh-server and ssh-keygen (scripts/setup.sh --test)")
    tmp = tmp_path_factory.mktemp("sshhosts")
    os.chmod(tmp, 0o755)
    with NetnsCluster(new_run_prefix(), nodes=3, subnet=None, workdir_root=str(tmp)) as nodes:
        with SshdFarm(nodes, str(tmp)) as farm:
            yield nodes, farm


@pytest.fixture
def home(tmp_path, hosts, monkeypatch):
    """A HOME whose ~/.ssh/known_hosts lists the sshd farm's real host keys."""
    nodes, farm = hosts
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    farm.write_known_hosts(str(h / ".ssh" / "known_hosts"))
    monkeypatch.setenv("HOME", str(h))
    return str(h)


def _remote(nodes, farm, i=0, **kw) -> SSHRemote:
    kw.setdefault("known_hosts", (farm.known_hosts,))
    return SSHRemote(nodes[i].name, SSHTarget(nodes[i].address, key=farm.client_key, **kw))


def _procs_with(marker: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read().replace(b"\0", b" "):
                        out.append(int(pid))
            except OSError:
                pass
    return out


def _only_sshd_left(nodes) -> list[str]:
    """Processes in the host namespaces other than the farm's sshd daemons."""
    extra = []
    for n in nodes:
        res = subprocess.run(["ip", "netns", "pids", n.meta["netns"]], capture_output=True,
                             text=True, timeout=10)
        for pid in res.stdout.split():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm != "sshd":
                extra.append(f"{n.name}:{pid}:{comm}")
    return extra


# -- SSHRemote -----------------------------------------------------------------------------

def test_exec_spawn_files_and_concurrency(hosts, tmp_path):
    nodes, farm = hosts
    with _remote(nodes, farm) as r:
        res = r.exec(["sh", "-c", 'echo "$1 $SB_V"; echo oops >&2; exit 3', "sb", "it's"],
                     env={"SB_V": "x y"}, check=False)
        assert (res.exit_code, res.stdout, res.stderr) == (3, "it's x y\n", "oops\n")
        with pytest.raises(RemoteError, match="exited 3: oops"):
            r.exec(["sh", "-c", "echo oops >&2; exit 3"])
        assert r.exec(["cat"], stdin=b"\x00bin\nary").stdout == "\x00bin\nary"
        # the command really runs on the host: inside n1's namespace, with n1's address
        assert nodes[0].address in r.exec(["ip", "-o", "-4", "addr"]).stdout

        # spawn: the pid is the daemon's own, it is detached, and it is recorded
        prefix = new_run_prefix()
        r.run_prefix = prefix
        log = str(tmp_path / "remote" / "d" / "sleep.log")
        d = r.spawn(["sleep", "61.7"], log_path=log)
        try:
            with open(f"/proc/{d.pid}/cmdline", "rb") as f:
                assert f.read().split(b"\0")[:2] == [b"sleep", b"61.7"]
            assert os.getsid(d.pid) == d.pid
            rec = registry.load(prefix)
            assert [p["pid"] for p in rec["remote_pids"]] == [d.pid]
            assert rec["remote_pids"][0]["comm"] == "sleep"
            r.close()  # the daemon outlives the connection
            time.sleep(0.2)
            assert os.path.exists(f"/proc/{d.pid}")
            r.exec(["kill", str(d.pid)])  # reconnects by itself
        finally:
            registry.forget(prefix)
            if _procs_with("sleep 61.7"):
                os.kill(d.pid, signal.SIGKILL)
        with pytest.raises(RemoteError, match="exited 9 at start"):
            r.spawn(["sh", "-c", "echo nope; exit 9"], log_path=log)

        # files: parent directories are created on the receiving side
        src = tmp_path / "src.bin"
        src.write_bytes(os.urandom(300_000))
        os.chmod(src, 0o750)
        dst = str(tmp_path / "remote" / "a" / "b" / "c.bin")
        r.upload(str(src), dst)
        assert open(dst, "rb").read() == src.read_bytes()
        assert os.stat(dst).st_mode & 0o777 == 0o750
        back = tmp_path / "back" / "x" / "c.bin"
        r.download(dst, str(back))
        assert back.read_bytes() == src.read_bytes()
        with pytest.raises(RemoteError, match="no such file"):
            r.download(str(tmp_path / "remote" / "missing"), str(tmp_path / "m"))

        # one connection, many threads (workers + nemesis share a node's remote)
        errors = []

        def worker(k):
            try:
                for j in range(4):
                    assert r.exec(["echo", f"{k}-{j}"]).stdout == f"{k}-{j}\n"
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]


def test_timeout_kills_the_remote_process_group(hosts):
    nodes, farm = hosts
    with _remote(nodes, farm, 1) as r:
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="timed out after 1s"):
            r.exec(["sh", "-c", "sleep 63.1 & sleep 63.1; echo never"], timeout=1)
        assert time.monotonic() - t0 < 5
        deadline = time.monotonic() + 3
        while _procs_with("sleep 63.1") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _procs_with("sleep 63.1"), "the command and its child must be gone"


def test_host_keys_are_verified(hosts, tmp_path, caplog):
    nodes, farm = hosts
    wrong = farm.write_known_hosts(str(tmp_path / "kh_wrong"), wrong=("n2",))
    unknown = farm.write_known_hosts(str(tmp_path / "kh_unknown"), omit=("n2",))
    with pytest.raises(EnvironmentProblem,
                       match=rf"host key for n2 \({nodes[1].address}\) does not match known_hosts"):
        _remote(nodes, farm, 1, known_hosts=(wrong,)).connect()
    # --ssh-insecure never overrides a key that contradicts known_hosts
    with pytest.raises(EnvironmentProblem, match="does not match known_hosts"):
        _remote(nodes, farm, 1, known_hosts=(wrong,), insecure=True).connect()
    with pytest.raises(EnvironmentProblem, match=r"host key for n2 .* is not in known_hosts"):
        _remote(nodes, farm, 1, known_hosts=(unknown,)).connect()
    caplog.set_level(logging.WARNING, logger="splitbrain.ssh")
    with _remote(nodes, farm, 1, known_hosts=(unknown,), insecure=True) as r:
        assert r.exec(["true"]).exit_code == 0
    assert any("--ssh-insecure: accepting unknown host key for n2" in m
               for m in caplog.messages), caplog.messages
    with open(unknown) as f:
        assert nodes[1].address not in f.read(), "an accepted key is never saved"
    other_key = str(tmp_path / "not_authorized")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key], check=True)
    with pytest.raises(EnvironmentProblem, match="ssh login to n1 .* as root with key .* failed"):
        SSHRemote("n1", SSHTarget(nodes[0].address, key=other_key,
                                  known_hosts=(farm.known_hosts,))).connect()


def test_wrong_host_key_through_the_cli_exits_254(hosts, tmp_path):
    nodes, farm = hosts
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    farm.write_known_hosts(str(home / ".ssh" / "known_hosts"), wrong=("n1",))
    argv = [sys.executable, "-m", "splitbrain", "run", "--backend", "ssh", "--ssh-key",
            farm.client_key, "--store", str(tmp_path / "store"), "--time-limit", "3"]
    for n in nodes:
        argv += ["--node", n.address]
    r = subprocess.run(argv, env=dict(os.environ, HOME=str(home), PYTHONPATH=ROOT),
                       capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert r.returncode == 254, r.stdout + r.stderr
    assert f"host key for n1 ({nodes[0].address}) does not match known_hosts" in r.stderr
    assert "Traceback" not in r.stderr
    assert _only_sshd_left(nodes) == []


# -- SSHCluster ----------------------------------------------------------------------------

def test_cluster_up_down_removes_everything(hosts, home):
    nodes, farm = hosts
    prefix = new_run_prefix()
    cluster = SSHCluster(prefix, [n.address for n in nodes], key=farm.client_key)
    t0 = time.monotonic()
    sn = cluster.up()
    up_s = time.monotonic() - t0
    print(f"\nssh cluster up, 3 nodes (ssh to netns): {up_s:.2f}s")
    try:
        assert [(n.name, n.address, n.iface) for n in sn] == \
            [(f"n{i}", h.address, "eth0") for i, h in enumerate(nodes, 1)]
        assert sn[2].workdir == f"/var/tmp/splitbrain/{prefix}/n3"
        assert os.path.isdir(sn[2].workdir)
        assert up_s < 10
        d = sn[0].remote.spawn(["sleep", "64.2"], log_path=f"{sn[0].workdir}/s.log")
        r1 = sn[1].remote
        r1.exec(["iptables", "-w", "5", "-N", f"{prefix}-part"])
        r1.exec(["iptables", "-w", "5", "-I", "INPUT", "-m", "comment", "--comment", prefix,
                 "-j", f"{prefix}-part"])
        # a rule of another run on the same host is left alone
        r1.exec(["iptables", "-w", "5", "-N", f"{prefix}x-part"])
    finally:
        rep = cluster.down()
    try:
        assert rep.ok, rep.lines()
        assert not os.path.exists(f"/proc/{d.pid}") or not _procs_with("sleep 64.2")
        assert not os.path.exists(f"/var/tmp/splitbrain/{prefix}")
        listing = subprocess.run(["ip", "netns", "exec", nodes[1].meta["netns"], "iptables",
                                  "-S"], capture_output=True, text=True).stdout
        assert f"-N {prefix}-part" not in listing and f"--comment {prefix} " not in listing
        assert f"-N {prefix}x-part" in listing
        assert registry.load(prefix) is None
        assert cluster.down().lines() == ["nothing to clean up"]  # idempotent
    finally:
        subprocess.run(["ip", "netns", "exec", nodes[1].meta["netns"], "iptables", "-X",
                        f"{prefix}x-part"], capture_output=True)


def test_cleanup_after_the_controller_is_killed(hosts, tmp_path):
    nodes, farm = hosts
    prefix = new_run_prefix()
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {ROOT!r})
        from splitbrain.harness.cluster.ssh import SSHCluster
        c = SSHCluster({prefix!r}, {[n.address for n in nodes]!r}, key={farm.client_key!r},
                       known_hosts=[{farm.known_hosts!r}])
        nodes = c.up()
        d = nodes[2].remote.spawn(["sleep", "65.3"], log_path=nodes[2].workdir + "/s.log")
        nodes[0].remote.exec(["iptables", "-w", "5", "-N", {prefix!r} + "-part"])
        print(d.pid, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        pid = int(proc.stdout.readline())
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert _procs_with("sleep 65.3") == [pid]
    r = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--prefix", prefix],
                       env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"process {pid} on n3" in r.stdout, r.stdout
    assert not _procs_with("sleep 65.3")
    assert not os.path.exists(f"/var/tmp/splitbrain/{prefix}")
    listing = subprocess.run(["ip", "netns", "exec", nodes[0].meta["netns"], "iptables", "-S"],
                             capture_output=True, text=True).stdout
    assert prefix not in listing
    assert registry.load(prefix) is None


# -- the real runner over ssh (the netns backend's Redis acceptance cases) -------------------

def _run(tmp_path, nodes, farm, **settings):
    from splitbrain.harness.config import build_test
    from splitbrain.harness.runner import run_test

    settings = {"backend": "ssh", "ssh_nodes": tuple(n.address for n in nodes),
                "ssh_key": farm.client_key, "store": str(tmp_path / "store"), "quiesce": 1.0,
                **settings}
    return run_test(build_test(settings))


@pytest.mark.redis
def test_run_primary_reads_without_faults_are_valid(hosts, home, tmp_path):
    nodes, farm = hosts
    out = _run(tmp_path, nodes, farm, read_from="primary", nemesis="none", time_limit=5,
               concurrency=5, rate=400, workload="register")
    assert out.results is not None, out
    bad = {n: r for n, r in out.results["checkers"].items() if r["valid"] is not True}
    assert out.results["valid"] is True and out.exit_code == 0, bad
    assert out.results["stats"]["ok"] > 500, out.results["stats"]
    for n in ("n1", "n2", "n3"):  # logs came back from the hosts
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "redis.log")) > 0
    assert _only_sshd_left(nodes) == []
    assert not [p for p in os.listdir("/var/tmp/splitbrain")
                if (registry.load(p) or {}).get("backend") == "ssh"]


@pytest.mark.redis
@pytest.mark.slow
def test_run_replica_reads_under_partitions_find_stale_reads(hosts, home, tmp_path):
    nodes, farm = hosts
    out = _run(tmp_path, nodes, farm, read_from="replicas", nemesis="partition",
               nemesis_interval=2, time_limit=10, concurrency=8, rate=800, workload="register")
    res = out.results
    assert res is not None
    ryw, mr = res["checkers"]["read-your-writes"], res["checkers"]["monotonic-reads"]
    assert ryw["valid"] is False or mr["valid"] is False, (ryw, mr)
    assert out.exit_code == 1
    with open(os.path.join(out.run_dir, "history.jsonl")) as f:
        events = [json.loads(line) for line in f]
    starts = [e for e in events if e.get("f") == "start-partition" and e["type"] != "invoke"]
    assert starts and not any(e.get("error") for e in starts), starts
    assert _only_sshd_left(nodes) == []
