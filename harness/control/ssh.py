"""SSHRemote: the Remote protocol (harness/control/base.py) for a real host over SSH.

    target = SSHTarget("10.0.0.5", user="root", key="~/.ssh/id_ed25519")
    remote = SSHRemote("n1", target, run_prefix="sb1a2b3c")
    remote.connect()                                  # host key checked here
    remote.exec(["ip", "-o", "route", "get", "10.0.0.6"], timeout=5)
    d = remote.spawn(["redis-server", "/var/tmp/splitbrain/sb1a2b3c/n1/redis/redis.conf"],
                     log_path="/var/tmp/splitbrain/sb1a2b3c/n1/redis/redis.stdout")
    remote.exec(["kill", "-STOP", str(d.pid)])        # d.pid is redis-server's pid on n1
    remote.close()

How commands run (paramiko, one Transport per host, a new channel per command):
* the command line sent is always a fixed POSIX-sh wrapper followed by the argv quoted
  with `shlex.join`; user data never becomes shell syntax. The login shell must be
  POSIX-like (sh, dash, bash, zsh);
* `exec` runs `exec sh -c 'echo sbpid:$$; exec "$@"' sb [sudo …] [env K=V …] argv…`:
  sshd makes every exec channel its own session, so the wrapper's pid is the process
  group of everything the command starts. On timeout the channel is closed and that
  group gets SIGKILL (through sudo when needed) before RemoteError is raised. sudo
  stays in that group: its `use_pty` (Debian's default) only applies when sudo runs on
  a terminal, and exec channels have none (tests/ssh/test_ssh_sudo.py checks the kill);
* `spawn` runs a fixed script that starts `setsid argv… </dev/null >>log 2>&1 &` with
  SIGHUP ignored, prints the daemon's pid, waits `SPAWN_GRACE` s and prints the daemon's
  /proc identity (start time, comm, exe, cmdline). The pid returned is the daemon's own
  pid on the host; if the daemon died at start RemoteError carries the log tail. With
  `run_prefix` the pid and its identity are recorded in the run registry (kind
  `remote_pids`) so `splitbrain cleanup` can stop it after a crash, after checking the
  pid still runs the recorded program (harness/cluster/ssh_cleanup.py);
* `env` is passed as `env K=V` in the argv (sshd's AcceptEnv is usually empty);
* not root: every command goes through sudo, as root. `sudo -n -k true` decides: if it
  succeeds the user has NOPASSWD and commands run under `sudo -n --` (a cached ticket
  does not count: -k ignores it, so a ticket expiring mid-run cannot break the run).
  Otherwise the password (`password`, the login password) is written to the channel
  first and read by the *login shell* (`_SUDO_PW_PRELUDE`), never by the command:
  sudo gets it from `SUDO_ASKPASS=printenv` (`sudo -A -p SB_PW` makes sudo run
  `printenv SB_PW`), authenticating every command anew (-k, so no ticket is left). The
  command's stdin is exactly the caller's, also under a sudoers rule that runs it
  without asking (`NOPASSWD: /usr/sbin/iptables-restore`), where `sudo -S` would hand
  it the password as input. `env -u SB_PW -u SUDO_ASKPASS` keeps the password out of
  the command's environment even where sudoers disables env_reset. Uploads then go to
  /tmp over SFTP and are copied into place with sudo; downloads SFTP can't read come
  back through `sudo cat`;
* upload/download use SFTP (one client per host, serialised by a lock) and create the
  parent directories on the receiving side.

Host keys are verified against ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts (or the
files given). An unknown key aborts with EnvironmentProblem (exit 254) unless
`insecure=True`, which accepts and logs it (never saving it). A host that *is* in
known_hosts but offers a different key is refused in every mode: that is a reinstalled
machine or someone in the middle, and a test of the wrong machine is worthless.
Connection set-up is retried with backoff (`CONNECT_ATTEMPTS`) on network errors, never
on authentication or host key errors. Safe for concurrent use by many threads; at most
`MAX_CHANNELS` commands are in flight per host (sshd's MaxSessions defaults to 10).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import os
import re
import secrets
import select
import shlex
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import paramiko

from splitbrain.harness import registry
from splitbrain.harness.control.base import Daemon, ExecResult, RemoteError
from splitbrain.harness.errors import EnvironmentProblem, InputError

log = logging.getLogger("splitbrain.ssh")

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
CONNECT_ATTEMPTS = 4
CONNECT_BACKOFF = 0.25  # seconds, doubled after each failed attempt
MAX_CHANNELS = 8
SPAWN_GRACE = 0.15
KILL_TIMEOUT = 10.0

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PID_LINE = re.compile(rb"sbpid:(\d+)\n")

# $$ is the session (and process group) sshd created for this channel.
_EXEC_WRAPPER = 'echo "sbpid:$$"; exec "$@"'

# Password sudo (see the module docstring): run by the login shell before the command;
# the first line of the channel's stdin is the password, the rest is the command's.
_SUDO_PW_PRELUDE = ('IFS= read -r SB_PW || exit 125; '
                    'SUDO_ASKPASS=$(command -v printenv) || '
                    '{ echo "splitbrain: no printenv for sudo\'s askpass" >&2; exit 125; }; '
                    'export SB_PW SUDO_ASKPASS; ')
_SUDO_NOPASSWD = ["sudo", "-n", "--"]
_SUDO_PASSWORD = ["sudo", "-A", "-k", "-p", "SB_PW", "--",
                  "env", "-u", "SB_PW", "-u", "SUDO_ASKPASS"]

# $1 = log file, then the daemon's argv. The daemon leaves the channel's session
# (setsid, HUP ignored) so closing the channel or a sudo pty does not touch it.
_SPAWN_SCRIPT = r'''log=$1; shift
[ "$log" = /dev/null ] || mkdir -p "$(dirname "$log")" || exit 125
trap "" HUP
setsid "$@" </dev/null >>"$log" 2>&1 &
pid=$!
echo "sbpid:$pid"
sleep ''' + str(SPAWN_GRACE) + r'''
s=$(cat "/proc/$pid/stat" 2>/dev/null)
r=${s##*") "}
if [ -z "$s" ] || [ "${r%% *}" = Z ]; then wait "$pid"; echo "sbexit:$?"; exit 0; fi
echo "sbstat:$s"
echo "sbexe:$(readlink "/proc/$pid/exe" 2>/dev/null)"
printf 'sbcmd:'; tr '\000' '\037' <"/proc/$pid/cmdline"; echo
'''


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to log in. `key` is a private key file; with neither key nor
    password the SSH agent and ~/.ssh/id_* are tried. `known_hosts=None` means
    DEFAULT_KNOWN_HOSTS."""

    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure: bool = False
    known_hosts: tuple[str, ...] | None = None
    connect_timeout: float = 10.0

    def known_hosts_files(self) -> list[str]:
        return [os.path.expanduser(p) for p in (self.known_hosts or DEFAULT_KNOWN_HOSTS)]

    def label(self) -> str:
        return self.host if self.port == 22 else f"{self.host}:{self.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint ("SHA256:…", as `ssh-keygen -lf` prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _HostKeyRefused(Exception):
    pass


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when known_hosts has no key *of the offered type* for the host."""

    def __init__(self, remote: "SSHRemote"):
        self.remote = remote

    def missing_host_key(self, client, hostname, key):
        r = self.remote
        known = client.get_host_keys().lookup(hostname) or \
            client._system_host_keys.lookup(hostname)  # noqa: SLF001 (paramiko has no getter)
        if known:
            types = ", ".join(sorted(known.keys()))
            raise _HostKeyRefused(
                f"host key for {r.name} ({r.target.label()}) does not match known_hosts "
                f"({', '.join(r.target.known_hosts_files())}): it offers {key.get_name()} "
                f"{fingerprint(key)} but known_hosts lists only {types} for {hostname}. "
                f"If the host was reinstalled, check the new key and replace the entry "
                f"(ssh-keygen -R {hostname}); --ssh-insecure does not override a known key")
        if r.target.insecure:
            log.warning("--ssh-insecure: accepting unknown host key for %s (%s): %s %s "
                        "(not saved)", r.name, r.target.label(), key.get_name(), fingerprint(key))
            return
        raise _HostKeyRefused(
            f"host key for {r.name} ({r.target.label()}) is not in known_hosts "
            f"({', '.join(r.target.known_hosts_files())}): it offers {key.get_name()} "
            f"{fingerprint(key)}. Check that fingerprint on the host (ssh-keygen -lf "
            f"/etc/ssh/ssh_host_*_key.pub), then add it (ssh-keyscan -p {r.target.port} "
            f"{hostname} >> ~/.ssh/known_hosts), or pass --ssh-insecure to accept unknown keys")


class SSHRemote:
    """Acts on one host over SSH (Remote protocol). `name` is the node name ("n1")."""

    def __init__(self, name: str, target: SSHTarget, *, run_prefix: str | None = None):
        self.name = name
        self.target = target
        self.run_prefix = run_prefix
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.RLock()       # connect / reconnect (sudo detection re-enters)
        self._sftp_lock = threading.Lock()   # SFTP requests are not safe to interleave
        self._channels = threading.BoundedSemaphore(MAX_CHANNELS)
        self._sudo: list[str] | None = None  # argv prefix; [] as root
        self._sudo_stdin = b""

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        """Open (or check) the connection: host key, login, sudo. Raises
        EnvironmentProblem for anything the user must fix, RemoteError when the host
        stays unreachable after CONNECT_ATTEMPTS tries."""
        self._transport()

    def _transport(self) -> paramiko.Transport:
        with self._lock:
            t = self._client.get_transport() if self._client else None
            if t is not None and t.is_active():
                return t
            self._drop_locked()
            self._client = self._connect_with_retries()
            if self._sudo is None:
                self._sudo = []  # exec below must not recurse into sudo detection
                try:
                    self._sudo = self._detect_sudo()
                except BaseException:
                    # undecided again: a later call must not run commands without sudo
                    # on this still-open login
                    self._sudo, self._sudo_stdin = None, b""
                    self._drop_locked()
                    raise
            return self._client.get_transport()

    def _connect_with_retries(self) -> paramiko.SSHClient:
        tg = self.target
        key = os.path.expanduser(tg.key) if tg.key else None
        if key and not os.path.isfile(key):
            raise InputError(f"--ssh-key {tg.key}: no such file")
        delay, last = CONNECT_BACKOFF, None
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            client = paramiko.SSHClient()
            for path in tg.known_hosts_files():
                if os.path.isfile(path):
                    try:
                        client.load_system_host_keys(path)
                    except (OSError, paramiko.SSHException) as e:
                        raise EnvironmentProblem(f"cannot read known_hosts file {path}: {e}") \
                            from None
            client.set_missing_host_key_policy(_HostKeyPolicy(self))
            try:
                client.connect(tg.host, port=tg.port, username=tg.user, key_filename=key,
                               password=tg.password, timeout=tg.connect_timeout,
                               banner_timeout=tg.connect_timeout,
                               auth_timeout=tg.connect_timeout,
                               allow_agent=key is None and tg.password is None,
                               look_for_keys=key is None and tg.password is None)
                client.get_transport().set_keepalive(15)
                return client
            except _HostKeyRefused as e:
                client.close()
                raise EnvironmentProblem(str(e)) from None
            except paramiko.BadHostKeyException as e:
                client.close()
                raise EnvironmentProblem(
                    f"host key for {self.name} ({tg.label()}) does not match known_hosts "
                    f"({', '.join(tg.known_hosts_files())}): it offers {e.key.get_name()} "
                    f"{fingerprint(e.key)}, known_hosts has {fingerprint(e.expected_key)} "
                    f"for {e.hostname}. If the host was reinstalled, check the new key and "
                    f"replace the entry (ssh-keygen -R {e.hostname}); --ssh-insecure does "
                    "not override a known key") from None
            except paramiko.AuthenticationException as e:
                client.close()
                how = f"key {tg.key}" if tg.key else ("password" if tg.password
                                                      else "agent / ~/.ssh keys")
                raise EnvironmentProblem(
                    f"ssh login to {self.name} ({tg.label()}) as {tg.user} with {how} failed: "
                    f"{e}; check --ssh-user, --ssh-key, --ssh-password") from None
            except (OSError, EOFError, paramiko.SSHException) as e:
                client.close()
                last = e
                if attempt < CONNECT_ATTEMPTS:
                    log.info("ssh to %s (%s) failed (%s); retry %d in %.2fs", self.name,
                             tg.label(), e, attempt, delay)
                    time.sleep(delay)
                    delay *= 2
        raise RemoteError(f"{self.name}: cannot connect to {tg.label()} over ssh after "
                          f"{CONNECT_ATTEMPTS} attempts: {last}")

    def _detect_sudo(self) -> list[str]:
        """The sudo prefix for this login (module docstring); sets `_sudo_stdin`. Called
        with `_sudo == []` under `_lock`, so the probes below run without sudo."""
        tg = self.target
        if tg.user == "root":
            return []
        where = f"{self.name} ({tg.label()})"
        res = self.exec(["sudo", "-n", "-k", "true"], timeout=20, check=False)
        if res.exit_code == 0:
            return list(_SUDO_NOPASSWD)
        if res.exit_code == 127:
            raise EnvironmentProblem(f"{where}: user {tg.user} is not root and sudo is not "
                                     "installed there; log in as root or install sudo")
        if tg.password is None:
            raise EnvironmentProblem(
                f"{where}: user {tg.user} is not root and sudo needs a password "
                f"({res.stderr.strip()[:200] or 'sudo -n failed'}); give --ssh-password or "
                "allow NOPASSWD sudo")
        if "\n" in tg.password or "\r" in tg.password:
            raise InputError("--ssh-password: a password with a line break cannot be given "
                             "to sudo")
        self._sudo, self._sudo_stdin = list(_SUDO_PASSWORD), tg.password.encode() + b"\n"
        try:
            # sudo retries a wrong password 3 times (2 s PAM delay each): allow for that
            res = self.exec(["true"], timeout=30, check=False)
        finally:
            self._sudo = []
        if res.exit_code != 0:
            self._sudo_stdin = b""
            raise EnvironmentProblem(f"{where}: sudo refused the password for {tg.user} "
                                     f"(exit {res.exit_code}): {res.stderr.strip()[:300]}")
        return list(_SUDO_PASSWORD)

    def _drop_locked(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """Close the connection (idempotent). A later call reconnects."""
        with self._lock:
            self._drop_locked()

    def __enter__(self) -> "SSHRemote":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- commands ------------------------------------------------------------------------
    def command_line(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """The exact string `exec` sends to sshd for `argv` (pure once connected).

        The pid echo runs as the login user, outside sudo: its $$ is the channel's
        process group, which a timeout kills."""
        return "exec " + shlex.join(["sh", "-c", self._prelude() + _EXEC_WRAPPER, "sb",
                                     *(self._sudo or []), *_env_argv(env),
                                     *(str(a) for a in argv)])

    def _prelude(self) -> str:
        """What the login shell runs before the command: reading the sudo password."""
        return _SUDO_PW_PRELUDE if self._sudo_stdin else ""

    def exec(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, timeout: float = 60.0,
             check: bool = True) -> ExecResult:
        self._transport()  # connected, so the sudo prefix is known
        cmd = self.command_line(argv, env)
        code, out, err, _ = self._run(cmd, stdin, timeout, argv)
        res = ExecResult(code, _text(out), _text(err))
        if check and code != 0:
            raise RemoteError(f"{self.name}: {_show(argv)} exited {code}: "
                              f"{res.stderr.strip()[:500]}", exit_code=code,
                              stdout=res.stdout, stderr=res.stderr)
        return res

    def _run(self, cmd: str, stdin: bytes | None, timeout: float,
             argv: Sequence[str]) -> tuple[int, bytes, bytes, int | None]:
        """Run one command line on a fresh channel; (exit code, stdout without the pid
        line, stderr, the pid the wrapper printed)."""
        deadline = time.monotonic() + timeout
        with self._channels:
            chan = self._open_channel(argv)
            out, err = bytearray(), bytearray()
            try:
                chan.exec_command(cmd)
                feed = self._sudo_stdin + (stdin or b"")
                if feed:
                    chan.sendall(feed)
                chan.shutdown_write()
                chan.setblocking(False)
                while True:
                    self._drain(chan, out, err)
                    if chan.eof_received and chan.exit_status_ready():
                        self._drain(chan, out, err)
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    if chan.eof_received:
                        # all output is in; the exit status follows in its own message
                        chan.status_event.wait(min(remaining, 0.2))
                    else:
                        select.select([chan], [], [], min(remaining, 0.2))
                code = chan.recv_exit_status()
            except TimeoutError:
                code = None
            except (OSError, EOFError, paramiko.SSHException) as e:
                raise RemoteError(f"{self.name}: {_show(argv)}: ssh connection failed "
                                  f"mid-command ({e}); the command may or may not have run") \
                    from None
            finally:
                chan.close()
        if code is None:
            # outside the channel slot: a kill must never wait for a slot its own
            # timed-out command holds
            o, pid = _split_pid(bytes(out))
            self._kill_group(pid)
            raise RemoteError(f"{self.name}: {_show(argv)} timed out after {timeout:g}s",
                              stdout=_text(o), stderr=_text(bytes(err)))
        o, pid = _split_pid(bytes(out))
        return code, o, bytes(err), pid

    def _open_channel(self, argv: Sequence[str]) -> paramiko.Channel:
        # A channel that fails to open never carried the command, so a reconnect and
        # one retry cannot run it twice.
        for attempt in (1, 2):
            t = self._transport()
            try:
                return t.open_session(timeout=self.target.connect_timeout)
            except (OSError, EOFError, paramiko.SSHException) as e:
                if attempt == 2:
                    raise RemoteError(f"{self.name}: cannot open an ssh channel for "
                                      f"{_show(argv)}: {e}") from None
                with self._lock:
                    if self._client and self._client.get_transport() is t:
                        self._drop_locked()
        raise AssertionError("unreachable")

    @staticmethod
    def _drain(chan: paramiko.Channel, out: bytearray, err: bytearray) -> None:
        while chan.recv_ready():
            out += chan.recv(65536)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)

    def _kill_group(self, pgid: int | None) -> None:
        if not pgid or pgid <= 1:
            return
        try:
            self._run(self.command_line(["kill", "-KILL", "--", f"-{pgid}"]), None,
                      KILL_TIMEOUT, ["kill"])
        except RemoteError as e:
            log.warning("%s: could not kill timed-out process group %d: %s", self.name, pgid, e)

    # -- daemons -------------------------------------------------------------------------
    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log_path: str | None = None) -> Daemon:
        spawn = [*self._sudo_prefix(), "sh", "-c", _SPAWN_SCRIPT, "sb", log_path or "/dev/null",
                 *_env_argv(env), *(str(a) for a in argv)]
        # no pid echo here: the first sbpid line is the daemon's
        cmd = "exec " + shlex.join(["sh", "-c", self._prelude() + 'exec "$@"', "sb", *spawn]
                                   if self._prelude() else spawn)
        code, out, err, pid = self._run(cmd, None, 30.0, argv)
        fields = _spawn_fields(out)
        if pid is None:
            raise RemoteError(f"{self.name}: could not start {argv[0]!r} (exit {code}): "
                              f"{_text(err).strip()[:400]}", exit_code=code)
        if "exit" in fields:
            rc = int(fields["exit"])
            if rc != 0:
                raise RemoteError(f"{self.name}: {_show(argv)} exited {rc} at start: "
                                  f"{self._tail(log_path)}", exit_code=rc)
            return Daemon(pid=pid, argv=tuple(str(a) for a in argv), log_path=log_path)
        ident = _identity(fields)
        daemon = Daemon(pid=pid, argv=tuple(str(a) for a in argv), log_path=log_path)
        if self.run_prefix:
            registry.add(self.run_prefix, "remote_pids",
                         {"node": self.name, "host": self.target.host, "port": self.target.port,
                          "pid": pid, "what": str(argv[0]), **ident})
        return daemon

    def _sudo_prefix(self) -> list[str]:
        self._transport()  # sudo mode is known once connected
        return list(self._sudo or [])

    def _tail(self, path: str | None, n: int = 400) -> str:
        if not path:
            return "(no log)"
        try:
            res = self.exec(["tail", "-c", str(n), path], timeout=10, check=False)
        except RemoteError:
            return "(no log)"
        return res.stdout.strip() or "(empty log)"

    # -- files ---------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient:
        t = self._transport()
        if self._sftp is None or self._sftp.get_channel() is None or \
                self._sftp.get_channel().get_transport() is not t or self._sftp.sock.closed:
            self._sftp = paramiko.SFTPClient.from_transport(t)
        return self._sftp

    def upload(self, local: str, remote: str) -> None:
        try:
            mode = stat.S_IMODE(os.stat(local).st_mode)
        except OSError as e:
            raise RemoteError(f"{self.name}: cannot upload {local}: {e}") from e
        if self._sudo_prefix():
            # SFTP writes as the login user: stage in /tmp, copy into place as root.
            tmp = f"/tmp/.sb-upload-{secrets.token_hex(6)}"
            try:
                self._sftp_put(local, tmp, mode)
            except BaseException:
                self._sftp_remove_quietly(tmp)  # a half-written stage must not stay
                raise
            script = ('mkdir -p "$(dirname "$2")" && cp --preserve=mode "$1" "$2"; rc=$?; '
                      'rm -f "$1"; exit $rc')
            self.exec(["sh", "-c", script, "sb", tmp, remote], timeout=60)
            return
        try:
            self._sftp_put(local, remote, mode)
        except FileNotFoundError:
            self.exec(["mkdir", "-p", os.path.dirname(remote) or "/"], timeout=30)
            self._sftp_put(local, remote, mode)

    def _sftp_put(self, local: str, remote: str, mode: int) -> None:
        with self._sftp_lock:
            try:
                sftp = self._sftp_client()
                sftp.put(local, remote)
                sftp.chmod(remote, mode)
            except FileNotFoundError:
                raise
            except (OSError, EOFError, paramiko.SSHException) as e:
                if isinstance(e, IOError) and e.errno == errno.ENOENT:
                    raise FileNotFoundError(str(e)) from None
                self._sftp = None
                raise RemoteError(f"{self.name}: upload {local} -> {remote} failed: {e}") \
                    from None

    def _sftp_remove_quietly(self, path: str) -> None:
        with self._sftp_lock:
            try:
                self._sftp_client().remove(path)
            except Exception:  # noqa: BLE001 - best effort; the upload's error is the news
                pass

    def download(self, remote: str, local: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        with self._sftp_lock:
            try:
                self._sftp_client().get(remote, local)
                return
            except PermissionError:
                if not self._sudo:
                    raise RemoteError(f"{self.name}: download {remote}: permission denied") \
                        from None
            except FileNotFoundError:
                raise RemoteError(f"{self.name}: download {remote}: no such file") from None
            except (OSError, EOFError, paramiko.SSHException) as e:
                self._sftp = None
                raise RemoteError(f"{self.name}: download {remote} failed: {e}") from None
        # readable only by root: read it through sudo
        code, data, err, _ = self._run(self.command_line(["cat", remote]), None, 120, ["cat"])
        if code != 0:
            raise RemoteError(f"{self.name}: download {remote}: {_text(err).strip()[:300]}",
                              exit_code=code)
        with open(local, "wb") as f:
            f.write(data)

    def __repr__(self) -> str:
        return f"SSHRemote({self.name!r}, {self.target.user}@{self.target.label()})"


# -- helpers -------------------------------------------------------------------------

def _env_argv(env: Mapping[str, str] | None) -> list[str]:
    """`env K=V …` (empty without env); names are checked, values are argv data."""
    if not env:
        return []
    out = ["env"]
    for k, v in env.items():
        if not _ENV_KEY.match(str(k)):
            raise ValueError(f"bad environment variable name {k!r}")
        out.append(f"{k}={v}")
    return out


def _split_pid(out: bytes) -> tuple[bytes, int | None]:
    """Remove the wrapper's `sbpid:N` line (and any login noise before it)."""
    m = _PID_LINE.search(out)
    if not m:
        return out, None
    return out[m.end():], int(m.group(1))


def _spawn_fields(out: bytes) -> dict[str, str]:
    fields = {}
    for line in out.split(b"\n"):
        for k in ("exit", "stat", "exe", "cmd"):
            tag = f"sb{k}:".encode()
            if line.startswith(tag):
                fields[k] = line[len(tag):].decode("utf-8", "replace")
    return fields


def _identity(fields: dict[str, str]) -> dict[str, Any]:
    """{start_time, comm, exe, cmdline} from the spawn script's /proc dump (the same
    shape as registry.process_identity)."""
    st = fields.get("stat", "")
    start_time, comm = None, None
    if ")" in st and "(" in st:
        comm = st[st.index("(") + 1:st.rindex(")")]
        rest = st[st.rindex(")") + 2:].split()
        if len(rest) > 19 and rest[19].isdigit():
            start_time = int(rest[19])
    cmdline = [c for c in fields.get("cmd", "").split("\x1f") if c]
    return {"start_time": start_time, "comm": comm, "exe": fields.get("exe") or None,
            "cmdline": cmdline}


def _text(b: bytes) -> str:
    return (b or b"").decode("utf-8", "replace")


def _show(argv: Sequence[str]) -> str:
    s = " ".join(str(a) for a in argv)
    return s if len(s) <= 120 else s[:117] + "..."


def resolve(host: str) -> str:
    """The IPv4 (else IPv6) address `host` resolves to on the controller."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise InputError(f"ssh host {host!r} does not resolve: {e.strerror or e}") from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    return infos[0][4][0]
