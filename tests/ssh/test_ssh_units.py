"""The ssh backend's pure parts and its shell scripts, run by a local POSIX sh.

No sshd here: the command lines SSHRemote sends are executed with `bash -c` exactly as
sshd hands them to a login shell, so quoting mistakes show up as wrong argv."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from splitbrain.harness.cluster import ssh_cleanup
from splitbrain.harness.cluster.ssh import ensure_tools, parse_host, read_nodes_file
from splitbrain.harness.control.base import ExecResult
from splitbrain.harness.control.ssh import (_SPAWN_SCRIPT, SSHRemote, SSHTarget, _identity, _spawn_fields,
                                 _split_pid)
from splitbrain.harness.errors import EnvironmentProblem, InputError

NASTY = ["a b", "it's", '"q"', "$(touch /tmp/sb-pwned)", "`id`", "x;y", "*", "\\", "", "ü\nz"]
PRINT_ARGV = [sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))"]


def _remote(sudo=None) -> SSHRemote:
    r = SSHRemote("n1", SSHTarget("10.0.0.9"))
    r._sudo = list(sudo or [])  # as if connected
    return r


def test_parse_host_forms():
    assert parse_host("10.0.0.5") == ("10.0.0.5", 22)
    assert parse_host("db1.example:2222") == ("db1.example", 2222)
    assert parse_host("[fd00::5]:2200") == ("fd00::5", 2200)
    for bad in ("", "a b", "h:0", "h:99999", "h:x", "user@h", "h;rm"):
        with pytest.raises(InputError):
            parse_host(bad)


def test_nodes_file_comments_and_errors_name_file_and_line(tmp_path):
    p = tmp_path / "nodes"
    p.write_text("# cluster\n10.0.0.5\n\n db2:2222  # second\n[fd00::1]:22\n")
    assert read_nodes_file(str(p)) == ["10.0.0.5", "db2:2222", "[fd00::1]:22"]
    p.write_text("10.0.0.5\n10.0.0.6 10.0.0.7\n")
    with pytest.raises(InputError, match=rf"{p}:2:"):
        read_nodes_file(str(p))
    p.write_text("ok\nbad host:22x\n")
    with pytest.raises(InputError, match=rf"{p}:2"):
        read_nodes_file(str(p))
    p.write_text("# nothing\n")
    with pytest.raises(InputError, match="no hosts"):
        read_nodes_file(str(p))
    with pytest.raises(InputError, match="cannot read"):
        read_nodes_file(str(tmp_path / "missing"))


# `env SB_SUDO=1` stands in for `sudo -n --`: a prefix that runs the rest of the argv
@pytest.mark.parametrize("sudo", [None, ["env", "SB_SUDO=1"]])
def test_command_line_delivers_argv_and_env_verbatim(tmp_path, sudo):
    if os.path.exists("/tmp/sb-pwned"):
        os.unlink("/tmp/sb-pwned")
    r = _remote(sudo)
    cmd = r.command_line([*PRINT_ARGV, *NASTY], env={"SB_X": "v a'l $HOME"})
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=20)
    stdout, pid = _split_pid(out.stdout)
    assert pid is not None and pid > 1
    assert json.loads(stdout) == NASTY
    assert not os.path.exists("/tmp/sb-pwned")
    cmd = r.command_line(["sh", "-c", 'printf %s "$SB_X"'], env={"SB_X": "v a'l $HOME"})
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=20)
    assert _split_pid(out.stdout)[0] == b"v a'l $HOME"
    with pytest.raises(ValueError):
        r.command_line(["true"], env={"A=B": "x"})


def test_sudo_runs_inside_the_pid_wrapper():
    r = _remote(["sudo", "-n", "--"])
    cmd = r.command_line(["kill", "-STOP", "42"])
    assert cmd.startswith("exec sh -c ")
    assert cmd.endswith("sb sudo -n -- kill -STOP 42")


def test_password_sudo_prelude_takes_only_the_first_line_of_stdin():
    """Password sudo: the login shell reads the password line; the command (here run by
    `env -u …`, the tail of the real sudo prefix) gets the rest of stdin and no SB_PW."""
    r = _remote(["env", "-u", "SB_PW", "-u", "SUDO_ASKPASS"])
    r._sudo_stdin = b"p w'\\$x\n"
    probe = 'printf "%s|" "${SB_PW-unset}" "${SUDO_ASKPASS-unset}"; cat'
    for shell in ("bash", "sh"):
        out = subprocess.run([shell, "-c", r.command_line(["sh", "-c", probe])],
                             input=r._sudo_stdin + b"line1\n\x00rest", capture_output=True,
                             timeout=20)
        assert _split_pid(out.stdout)[0] == b"unset|unset|line1\n\x00rest", out
    # what sudo's askpass sees: `printenv SB_PW` prints the password, verbatim
    check = r.command_line(["true"]).replace('exec "$@"', 'exec printenv SB_PW')
    out = subprocess.run(["sh", "-c", check], input=b"p w'\\$x\n", capture_output=True,
                         timeout=20)
    assert _split_pid(out.stdout)[0] == b"p w'\\$x\n"


def test_split_pid_drops_login_noise():
    assert _split_pid(b"welcome!\nsbpid:123\nhello\n") == (b"hello\n", 123)
    assert _split_pid(b"no wrapper") == (b"no wrapper", None)


def _spawn_locally(tmp_path, argv):
    log = str(tmp_path / "d" / "daemon.log")
    out = subprocess.run(["sh", "-c", _SPAWN_SCRIPT, "sb", log, *argv], capture_output=True,
                         timeout=20)
    return _split_pid(out.stdout), log


def test_spawn_script_reports_the_daemons_own_pid_and_identity(tmp_path):
    (rest, pid), log = _spawn_locally(tmp_path, ["env", "SB_A=1", "sleep", "30"])
    try:
        fields = _spawn_fields(rest)
        ident = _identity(fields)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"30"]
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        assert ident["start_time"] == int(stat[stat.rindex(")") + 2:].split()[19])
        assert ident["comm"] == "sleep" and ident["cmdline"] == ["sleep", "30"]
        assert os.getsid(pid) == pid  # detached into its own session
        assert os.path.exists(log)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_spawn_script_reports_an_early_exit(tmp_path):
    (rest, pid), log = _spawn_locally(tmp_path, ["sh", "-c", "echo broken >&2; exit 7"])
    assert _spawn_fields(rest)["exit"] == "7"
    assert "broken" in open(log).read()


class _LocalShell:
    """A Remote that runs argv locally (stands in for a host in script tests)."""

    name = "local"

    def exec(self, argv, *, env=None, stdin=None, timeout=60.0, check=True):
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
        return ExecResult(p.returncode, p.stdout, p.stderr)


def _identity_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return {"pid": pid, "start_time": int(s[s.rindex(")") + 2:].split()[19]), "comm": "sleep",
            "exe": os.readlink(f"/proc/{pid}/exe"), "node": "n1", "host": "h"}


def test_stop_pids_never_signals_a_recycled_pid():
    p = subprocess.Popen(["sleep", "30"])
    try:
        stranger = dict(_identity_of(p.pid), start_time=_identity_of(p.pid)["start_time"] - 1)
        assert ssh_cleanup.stop_pids(_LocalShell(), [stranger]) == []
        other_program = dict(_identity_of(p.pid), comm="redis-server", exe="/usr/bin/redis")
        assert ssh_cleanup.stop_pids(_LocalShell(), [other_program]) == []
        assert p.poll() is None, "a pid that is not ours must survive"
        assert ssh_cleanup.stop_pids(_LocalShell(), [_identity_of(p.pid)]) == [p.pid]
        assert p.wait(timeout=5) == -signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()


def test_stop_pids_kills_what_ignores_term():
    p = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 30"])
    time.sleep(0.2)
    try:
        entry = _identity_of(p.pid)
        t0 = time.monotonic()
        assert ssh_cleanup.stop_pids(_LocalShell(), [entry]) == [p.pid]
        assert p.wait(timeout=5) == -signal.SIGKILL
        assert time.monotonic() - t0 >= ssh_cleanup.TERM_GRACE
    finally:
        if p.poll() is None:
            p.kill()


def test_remove_iptables_touches_only_the_runs_rules():
    listing = "\n".join([
        "table filter", "-P INPUT ACCEPT", "-N sb12ab-part", "-N sb12abc-part", "-N mine",
        "-A INPUT -m comment --comment sb12ab -j sb12ab-part",
        "-A INPUT -m comment --comment sb12abc -j sb12abc-part",
        "-A INPUT -s 10.0.0.1/32 -j mine",
        "-A sb12ab-part -s 10.0.0.3/32 -m comment --comment sb12ab -j DROP",
        "table nat", "table mangle", "-N sb12ab-pkt", "-A POSTROUTING -j sb12ab-pkt",
        "table raw"])
    shell = _Canned(listing)
    removed = ssh_cleanup.remove_iptables(shell, "sb12ab")
    mutating = [c for c in shell.calls if "-S" not in " ".join(c)]
    assert ["iptables", "-w", "5", "-t", "filter", "-D", "INPUT", "-m", "comment",
            "--comment", "sb12ab", "-j", "sb12ab-part"] in mutating
    assert ["iptables", "-w", "5", "-t", "mangle", "-D", "POSTROUTING", "-j",
            "sb12ab-pkt"] in mutating
    assert ["iptables", "-w", "5", "-t", "filter", "-X", "sb12ab-part"] in mutating
    joined = [" ".join(c) for c in mutating]
    assert not any("sb12abc" in c or " mine" in c for c in joined), joined
    assert len(removed) == 4, removed


class _Canned:
    """A host whose `iptables -S` script prints `listing`; records every other argv."""

    name = "n1"

    def __init__(self, listing):
        self.listing, self.calls = listing, []

    def exec(self, argv, *, env=None, stdin=None, timeout=60.0, check=True):
        self.calls.append(list(argv))
        return ExecResult(0, self.listing if argv[:2] == ["sh", "-c"] else "", "")


def test_ensure_tools_installs_only_what_is_missing():
    class Fake:
        name = "n1"

        def __init__(self, missing, apt_rc=0):
            self.missing, self.apt_rc, self.calls = missing, apt_rc, []

        def exec(self, argv, *, env=None, stdin=None, timeout=60.0, check=True):
            self.calls.append(list(argv))
            if "apt-get" in argv[2]:
                return ExecResult(self.apt_rc, "", "E: Unable to locate package")
            present = [t for t in argv[4:] if t not in self.missing]
            assert present  # the check asks about every tool
            return ExecResult(0, "".join(f"missing:{t}\n" for t in self.missing), "")

    f = Fake([])
    assert ensure_tools(f, "redis") == [] and len(f.calls) == 1
    f = Fake(["redis-server", "redis-sentinel", "tc"])
    assert ensure_tools(f, "redis") == ["iproute2", "redis-sentinel", "redis-server"]
    assert f.calls[-1][4:] == ["iproute2", "redis-sentinel", "redis-server"]
    with pytest.raises(EnvironmentProblem, match="install redis-server"):
        ensure_tools(Fake(["redis-server"]), "redis", install=False)
    with pytest.raises(EnvironmentProblem, match="apt-get install redis-server.*failed"):
        ensure_tools(Fake(["redis-server"], apt_rc=100), "redis")
