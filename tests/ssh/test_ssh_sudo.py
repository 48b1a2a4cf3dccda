"""The ssh backend as a non-root user: password login, then every command through sudo.

A throwaway user `sbtssh<hex>` is created on this machine for the module
(tests/ssh/sshuser.py: random password, home in a temp dir, a sudoers drop-in that
grants sudo *with* the password) and removed afterwards, also when a test fails. The
"hosts" are netns nodes running their own sshd (tests/ssh/sshd.py) with password
authentication on; they share this machine's /etc/passwd, /etc/shadow and sudoers, so
the user exists on every host. This is the path `--ssh-user bob --ssh-password …` takes
on real machines: sshd's password auth, then `sudo -S -k` with the password on stdin.
"""

from __future__ import annotations

import base64
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from splitbrain.harness import registry
from splitbrain.harness.cluster.netns import NetnsCluster
from splitbrain.harness.registry import new_run_prefix
from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.control.ssh import SSHRemote, SSHTarget
from splitbrain.harness.errors import EnvironmentProblem
from tests.ssh.sshd import SSHD, SshdFarm
from tests.ssh.sshuser import NOPASSWD_COMMAND, ThrowawayUser, tools_missing, uid_pids

pytestmark = [pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(netns nodes with password-auth sshd, the farm, the sudo user)."""
    missing = tools_missing()
    if not os.access(SSHD, os.X_OK) or not shutil.which("ssh-keygen"):
        missing.append("sshd/ssh-keygen")
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/setup.sh --test)")
    tmp = tmp_path_factory.mktemp("sshsudo")
    os.chmod(tmp, 0o755)
    with ThrowawayUser() as user, \
            NetnsCluster(new_run_prefix(), nodes=3, subnet=None, workdir_root=str(tmp)) as nodes, \
            SshdFarm(nodes, str(tmp), password_auth=True) as farm:
        yield nodes, farm, user
    # the user and its state are gone (ThrowawayUser.remove ran in __exit__), and its
    # sshd sessions had ended by themselves (nothing had to be killed)
    assert user.leftovers == []
    assert not os.path.exists(user.sudoers) and not os.path.exists(user.base)
    assert subprocess.run(["id", user.name], capture_output=True).returncode != 0
    assert not [p for d in ("/run/sudo/ts", "/var/lib/sudo/lectured")
                for p in glob.glob(f"{d}/{user.name}")]


@pytest.fixture
def home(tmp_path, env, monkeypatch):
    nodes, farm, _ = env
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    farm.write_known_hosts(str(h / ".ssh" / "known_hosts"))
    monkeypatch.setenv("HOME", str(h))
    return str(h)


def _remote(env, i=0, password=None, **kw) -> SSHRemote:
    nodes, farm, user = env
    kw.setdefault("known_hosts", (farm.known_hosts,))
    return SSHRemote(nodes[i].name, SSHTarget(nodes[i].address, user=user.name,
                                              password=password or user.password, **kw))


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


def _uid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Uid:"))


def _only_sshd_left(nodes) -> list[str]:
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


def _user_procs_gone(uid: int, timeout: float = 5.0) -> list[int]:
    """The user's processes still there after `timeout` (sshd sessions end async)."""
    deadline = time.monotonic() + timeout
    while uid_pids(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return uid_pids(uid)


def _staged_uploads() -> list[str]:
    return glob.glob("/tmp/.sb-upload-*")


# -- SSHRemote as a non-root user -----------------------------------------------------------

def test_password_login_then_commands_run_as_root_through_sudo(env):
    nodes, farm, user = env
    with _remote(env) as r:
        assert r.exec(["id", "-u"]).stdout == "0\n"
        # really through sudo, for this user (not a root login in disguise)
        assert r.exec(["sh", "-c", 'echo "$SUDO_USER"']).stdout == f"{user.name}\n"
        # the sudo password goes to sudo only: the command sees exactly its own stdin,
        # also when it has none
        assert r.exec(["cat"], stdin=b"\x00bin\nary").stdout == "\x00bin\nary"
        assert r.exec(["cat"]).stdout == ""
        res = r.exec(["sh", "-c", 'echo "$1 $SB_V"; echo oops >&2; exit 3', "sb", "it's"],
                     env={"SB_V": "x y"}, check=False)
        assert (res.exit_code, res.stdout, res.stderr) == (3, "it's x y\n", "oops\n")
        assert user.password not in res.stdout + res.stderr
        # the login itself is the user's: its sshd session runs with the user's uid
        assert uid_pids(user.uid), "no process of the login user while connected"

        # many threads, one connection: every command authenticates to sudo anew
        errors = []

        def worker(k):
            try:
                for j in range(3):
                    assert r.exec(["sh", "-c", f'echo "$(id -u) {k}-{j}"']).stdout == \
                        f"0 {k}-{j}\n"
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]

        # a timeout kills the command and its children, which run as root
        t0 = time.monotonic()
        with pytest.raises(RemoteError, match="timed out after 1s"):
            r.exec(["sh", "-c", "sleep 68.1 & sleep 68.1; echo never"], timeout=1)
        assert time.monotonic() - t0 < 5
        deadline = time.monotonic() + 3
        while _procs_with("sleep 68.1") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _procs_with("sleep 68.1"), "the command and its child must be gone"


def test_the_password_never_reaches_a_command_sudo_runs_without_one(env):
    """A sudoers rule that needs no password for one command (NOPASSWD_COMMAND): sudo
    does not read the password then, and it must not end up in that command's input."""
    nodes, farm, user = env
    assert os.path.basename(NOPASSWD_COMMAND) == "base64"
    with _remote(env) as r:
        out = r.exec(["base64"], stdin=b"data\n").stdout
        assert out == "ZGF0YQo=\n", f"the command read {base64.b64decode(out)!r}"
        assert r.exec(["base64"]).stdout == ""


def test_a_cached_sudo_ticket_is_not_mistaken_for_nopasswd(env):
    """With a ticket cached (timestamp_type=global here) `sudo -n true` succeeds for a
    few minutes; a run that took that for NOPASSWD would fail once the ticket expired."""
    nodes, farm, user = env
    v = user.as_user(["sudo", "-S", "-p", "", "-v"], stdin=user.password + "\n")
    assert v.returncode == 0, v.stderr
    try:
        assert user.as_user(["sudo", "-n", "true"]).returncode == 0  # the ticket is there
        with _remote(env, 1) as r:
            assert r.exec(["id", "-u"]).stdout == "0\n"
            assert " -n " not in r.command_line(["true"]), r.command_line(["true"])
    finally:
        user.as_user(["sudo", "-K"])


def test_sudo_refusing_the_user_is_a_clear_error_and_runs_nothing(env):
    nodes, farm, user = env
    aside = user.sudoers + ".sbaside"  # a name with "." : sudo's includedir skips it
    os.rename(user.sudoers, aside)
    try:
        r = _remote(env, 2)
        t0 = time.monotonic()
        with pytest.raises(EnvironmentProblem, match=rf"n3 \({nodes[2].address}\): sudo refused "
                           rf"the password for {user.name} \(exit 1\):.*not in the sudoers"):
            r.connect()
        assert time.monotonic() - t0 < 15
        # the failed login is not half-usable: the next call decides sudo again
        with pytest.raises(EnvironmentProblem, match="sudo refused"):
            r.exec(["id", "-u"])
    finally:
        os.rename(aside, user.sudoers)
    with r:  # and once sudo allows it, the same object works
        assert r.exec(["id", "-u"]).stdout == "0\n"


def test_spawn_through_sudo_returns_the_daemons_pid(env, tmp_path):
    nodes, farm, user = env
    prefix = new_run_prefix()
    r = _remote(env, 1)
    r.run_prefix = prefix
    logdir = tempfile.mkdtemp(prefix="sbtspawn")  # root-owned: only root can write the log
    d = None
    try:
        log = os.path.join(logdir, "d", "sleep.log")
        d = r.spawn(["sleep", "66.9"], log_path=log)
        with open(f"/proc/{d.pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"66.9"]  # not sudo, not sh
        assert _uid_of(d.pid) == 0
        assert os.getsid(d.pid) == d.pid  # detached from the channel and from sudo
        assert os.stat(log).st_uid == 0
        rec = registry.load(prefix)
        assert [(p["pid"], p["comm"]) for p in rec["remote_pids"]] == [(d.pid, "sleep")]
        r.close()  # the daemon outlives the session (and sudo)
        time.sleep(0.3)
        assert _procs_with("sleep 66.9") == [d.pid]
        r.exec(["kill", str(d.pid)])  # reconnects, signals it as root
        deadline = time.monotonic() + 3
        while _procs_with("sleep 66.9") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _procs_with("sleep 66.9")
        with pytest.raises(RemoteError, match="exited 9 at start: nope"):
            r.spawn(["sh", "-c", "echo nope; exit 9"], log_path=log)
    finally:
        r.close()
        registry.forget(prefix)
        if d is not None and _procs_with("sleep 66.9"):
            os.kill(d.pid, signal.SIGKILL)
        shutil.rmtree(logdir, ignore_errors=True)


def test_upload_and_download_of_root_owned_paths(env, tmp_path):
    nodes, farm, user = env
    locked = tempfile.mkdtemp(prefix="sbtroot")  # 0700 root: the user can neither read
    try:                                         # nor write anything below it
        src = tmp_path / "src.bin"
        src.write_bytes(os.urandom(200_000))
        os.chmod(src, 0o640)
        dst = os.path.join(locked, "a", "b", "c.bin")
        secret = os.path.join(locked, "secret")
        with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(b"only root\x00reads this\n" * 1000)
        before = set(_staged_uploads())
        with _remote(env, 2) as r:
            r.upload(str(src), dst)
            st = os.stat(dst)
            assert open(dst, "rb").read() == src.read_bytes()
            assert (st.st_uid, st.st_mode & 0o777) == (0, 0o640)
            back = tmp_path / "back" / "c.bin"
            r.download(dst, str(back))
            assert back.read_bytes() == src.read_bytes()
            r.download(secret, str(tmp_path / "secret"))
            assert (tmp_path / "secret").read_bytes() == open(secret, "rb").read()
            with pytest.raises(RemoteError, match="No such file"):
                r.download(os.path.join(locked, "missing"), str(tmp_path / "m"))
            # a root-owned file the user could read directly still comes back
            r.download("/etc/hostname", str(tmp_path / "hostname"))
        assert set(_staged_uploads()) == before, "staged upload left in /tmp"
    finally:
        shutil.rmtree(locked, ignore_errors=True)


def test_wrong_passwords_fail_fast_and_clearly(env):
    nodes, farm, user = env
    wrong = "sbwrong-" + os.urandom(6).hex()
    t0 = time.monotonic()
    with pytest.raises(EnvironmentProblem,
                       match=rf"ssh login to n1 \({nodes[0].address}\) as {user.name} with "
                             r"password failed") as ei:
        _remote(env, password=wrong).connect()
    assert time.monotonic() - t0 < 10
    assert wrong not in str(ei.value)


def test_wrong_password_through_the_cli_exits_254(env, tmp_path, home):
    nodes, farm, user = env
    wrong = "sbwrong-" + os.urandom(6).hex()
    argv = [sys.executable, "-m", "splitbrain", "run", "--backend", "ssh", "--ssh-user",
            user.name, "--ssh-password", wrong, "--store", str(tmp_path / "store"),
            "--time-limit", "3"]
    for n in nodes:
        argv += ["--node", n.address]
    t0 = time.monotonic()
    r = subprocess.run(argv, env=dict(os.environ, HOME=home, PYTHONPATH=ROOT),
                       capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    took = time.monotonic() - t0
    print(f"\nwrong ssh password through the CLI: exit {r.returncode} in {took:.2f}s")
    assert r.returncode == 254, r.stdout + r.stderr
    assert f"as {user.name} with password failed" in r.stderr
    assert "Traceback" not in r.stderr
    assert wrong not in r.stdout + r.stderr
    assert took < 30
    assert _only_sshd_left(nodes) == []
    for d in glob.glob(str(tmp_path / "store" / "**" / "*"), recursive=True):
        if os.path.isfile(d):
            with open(d, "rb") as f:
                assert wrong.encode() not in f.read(), f"password written to {d}"


# -- the runner as a non-root user --------------------------------------------------------

@pytest.mark.redis
def test_run_as_sudo_user_is_valid_and_leaves_nothing(env, home, tmp_path):
    from splitbrain.harness.config import build_test
    from splitbrain.harness.runner import run_test

    nodes, farm, user = env
    before = set(_staged_uploads())
    t0 = time.monotonic()
    out = run_test(build_test({
        "backend": "ssh", "ssh_nodes": tuple(n.address for n in nodes),
        "ssh_user": user.name, "ssh_password": user.password,
        "store": str(tmp_path / "store"), "quiesce": 1.0, "read_from": "primary",
        "nemesis": "none", "time_limit": 5, "concurrency": 5, "rate": 400,
        "workload": "register"}))
    print(f"\nredis run as {user.name} via sudo: {time.monotonic() - t0:.1f}s wall")
    assert out.results is not None, out
    bad = {n: r for n, r in out.results["checkers"].items() if r["valid"] is not True}
    assert out.results["valid"] is True and out.exit_code == 0, bad
    assert out.results["stats"]["ok"] > 300, out.results["stats"]
    for n in ("n1", "n2", "n3"):  # logs came back from the hosts
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "redis.log")) > 0
    # nothing left: no daemon, no workdir, no registry record, no staged file, no session
    assert _only_sshd_left(nodes) == []
    with open(os.path.join(out.run_dir, "splitbrain.log")) as f:
        prefix = re.search(r" prefix (sb[0-9a-f]+) ", f.read()).group(1)
    assert registry.load(prefix) is None
    assert not os.path.exists(f"/var/tmp/splitbrain/{prefix}")
    assert set(_staged_uploads()) == before
    assert _user_procs_gone(user.uid) == []
    for dirpath, _, files in os.walk(out.run_dir):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                assert user.password.encode() not in f.read(), f"password in {name}"
