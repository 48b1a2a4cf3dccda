"""DockerRemote: the Remote protocol (harness/control/base.py) for a node that is a container.

    client = docker_client("unix:///var/run/docker.sock")   # or None: $DOCKER_HOST / local
    remote = DockerRemote("sb1a2b3c-n1", "n1", client, run_prefix="sb1a2b3c")
    remote.exec(["ip", "-4", "addr"], timeout=5)
    d = remote.spawn(["redis-server", "/srv/splitbrain/sb1a2b3c/n1/redis/redis.conf"],
                     log_path="/srv/splitbrain/sb1a2b3c/n1/redis/redis.stdout")
    remote.exec(["kill", "-STOP", str(d.pid)])      # d.pid is redis-server's pid in the container
    remote.upload("/tmp/x.conf", "/srv/…/x.conf"); remote.download("/srv/…/redis.log", "/tmp/l")

How each operation maps onto the Docker Engine API (Docker SDK for Python, low level):
* exec — `exec_create` + `exec_start(socket=True)`: the argv list goes to the engine as
  is (no shell); stdin, if any, is written to the hijacked connection and half-closed;
  stdout/stderr are demultiplexed from the engine's framed stream; the exit code comes
  from `exec_inspect`. The timeout is enforced inside the container by coreutils
  `timeout -s KILL` (which kills the command's whole process group, so nothing outlives
  the call) and, as a backstop, by a socket deadline on the controller side;
* spawn — one exec of a fixed wrapper, `sh -c '…; exec "$@" >>"$log" 2>&1 & echo $!'
  LOG PIDFILE argv…`: the argv, log and pid file paths are positional parameters, never
  interpolated into the script (SPAWN_SCRIPT). `$!` is the daemon's own pid in the container's pid
  namespace (the backgrounded subshell execs it), which is what `kill` run through
  `exec` on the same node signals. The daemon is re-parented to the container's init
  (docker-init where the engine has one), which reaps it when it exits. Spawn then waits
  `SPAWN_GRACE` s and raises RemoteError with the log tail if the daemon already died;
* upload — `put_archive` at "/" of a one-file tar whose member is the absolute path
  (the engine creates missing parent directories); download — `get_archive`.

Daemons are NOT recorded in the controller's run registry: their pids live in the
container's pid namespace and mean nothing (or a stranger) on the controller. Removing
the container (the cluster's `down()`, `splitbrain cleanup`) is what stops them; setting
`run_prefix` tells the DBs that this remote takes care of its daemons itself.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import tarfile
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

from splitbrain.harness.control.base import Daemon, ExecResult, RemoteError
from splitbrain.harness.errors import EnvironmentProblem

# How long spawn watches a new daemon for an immediate failure (bad argv, missing binary).
SPAWN_GRACE = 0.15
# Controller-side slack on top of the in-container `timeout` before the socket gives up.
SOCKET_SLACK = 15.0
# The fixed spawn wrapper; everything variable arrives as positional parameters:
# $0 = log path, $1 = pid file, then the argv. The pid file is a second channel for the
# pid: the engine can drop the output of a fast-exiting exec (moby#27289).
SPAWN_SCRIPT = ('log=$0 pidf=$1; shift\nmkdir -p -- "${log%/*}" 2>/dev/null\n'
                'exec "$@" >>"$log" 2>&1 &\necho $! >"$pidf"; echo $!')
# Exit status 0 iff pid $0 exists and is not a zombie; never depends on stdout.
ALIVE_SCRIPT = ('rm -f -- "$1"; s=$(cat "/proc/$0/stat" 2>/dev/null) || exit 1\n'
                'case "${s##*) }" in Z*|X*) exit 1;; esac')
# Exit statuses of `timeout -s KILL` when the command ran out of time (124) or when the
# group kill took `timeout` itself down too (128 + SIGKILL).
_TIMEOUT_CODES = (124, 137)
_STDOUT, _STDERR = 1, 2


def docker_client(docker_host: str | None = None, *, timeout: float = 120.0) -> Any:
    """A `docker.DockerClient` for `docker_host` (unix://, tcp://, ssh://user@host), or for
    $DOCKER_HOST / the local engine when None. TLS settings ($DOCKER_TLS_VERIFY,
    $DOCKER_CERT_PATH) are honoured either way. Raises EnvironmentProblem (one sentence,
    exit 254) when the SDK is missing or the engine does not answer."""
    try:
        import docker
    except ImportError:
        raise EnvironmentProblem("the docker backend needs the Docker SDK for Python "
                                 "(pip install docker)") from None
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    where = env.get("DOCKER_HOST") or "the local engine (unix:///var/run/docker.sock)"
    try:
        # ssh:// goes through paramiko (already a dependency); version pinned to "auto"
        # so an unreachable engine is reported here, not at the first container call.
        client = docker.from_env(environment=env, timeout=int(timeout), version="auto",
                                 use_ssh_client=False, max_pool_size=32)
        client.ping()
    except Exception as e:  # DockerException, OSError, and paramiko's own types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EnvironmentProblem(
            f"cannot reach the Docker engine at {where}: {msg[:300]}; start dockerd (or "
            "`scripts/setup.sh --test` does), or pass --docker-host / set DOCKER_HOST"
        ) from None
    return client


class DockerRemote:
    """Acts on the node living in container `container` (name or id); `name` is the node
    name ("n1"); `client` a docker.DockerClient. Thread-safe: every call opens its own
    exec on the engine."""

    def __init__(self, container: str, name: str, client: Any, *,
                 run_prefix: str | None = None):
        self.container = container
        self.name = name
        self.client = client
        self.api = client.api
        self.run_prefix = run_prefix

    # -- Remote protocol ---------------------------------------------------------------
    def exec(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, timeout: float = 60.0,
             check: bool = True) -> ExecResult:
        argv = [str(a) for a in argv]
        if not argv:
            raise RemoteError(f"{self.name}: exec of an empty argv")
        secs = max(1, int(-(-float(timeout) // 1)))  # whole seconds, rounded up
        real = ["timeout", "-s", "KILL", str(secs), *argv]
        t0 = time.monotonic()
        code, out, err = self._run(real, env=env, stdin=stdin, deadline=secs + SOCKET_SLACK)
        elapsed = time.monotonic() - t0
        if code in _TIMEOUT_CODES and elapsed >= secs * 0.95:
            raise RemoteError(f"{self.name}: {_show(argv)} timed out after {timeout:g}s",
                              stdout=out, stderr=err)
        if code == 127 and not out and "timeout" in err and "No such file" in err:
            raise RemoteError(f"{self.name}: the node image has no coreutils `timeout`",
                              exit_code=code, stderr=err)
        res = ExecResult(code, out, err)
        if check and code != 0:
            raise RemoteError(
                f"{self.name}: {_show(argv)} exited {code}: {err.strip()[:500]}",
                exit_code=code, stdout=out, stderr=err)
        return res

    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log_path: str | None = None) -> Daemon:
        argv = [str(a) for a in argv]
        if not argv:
            raise RemoteError(f"{self.name}: spawn of an empty argv")
        log = log_path or "/dev/null"
        pidfile = f"/tmp/.sb-spawn-{uuid.uuid4().hex}.pid"
        code, out, err = self._run(["sh", "-c", SPAWN_SCRIPT, log, pidfile, *argv], env=env,
                                   stdin=None, deadline=30.0)
        pid_text = out.strip().splitlines()[-1] if out.strip() else ""
        if code == 0 and not pid_text.isdigit():
            pid_text = self._read_pidfile(pidfile)  # the engine lost the output
        if code != 0 or not pid_text.isdigit():
            raise RemoteError(f"{self.name}: cannot start {argv[0]!r}: exit {code}: "
                              f"{(err or out).strip()[:300]}", exit_code=code, stderr=err)
        pid = int(pid_text)
        time.sleep(SPAWN_GRACE)
        if not self._running(pid, pidfile):
            raise RemoteError(f"{self.name}: {_show(argv)} exited at start: "
                              f"{self._tail(log_path)}")
        return Daemon(pid=pid, argv=tuple(argv), log_path=log_path)

    def upload(self, local: str, remote: str) -> None:
        if not os.path.isabs(remote):
            raise RemoteError(f"{self.name}: upload target {remote!r} must be an absolute path")
        try:
            st = os.stat(local)
            with open(local, "rb") as f:
                data = f.read()
        except OSError as e:
            raise RemoteError(f"{self.name}: cannot read {local}: {e}") from e
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(remote.lstrip("/"))
            info.size = len(data)
            info.mode = st.st_mode & 0o7777
            info.mtime = int(st.st_mtime)
            tar.addfile(info, io.BytesIO(data))
        try:
            ok = self.api.put_archive(self.container, "/", buf.getvalue())
        except Exception as e:
            raise RemoteError(f"{self.name}: upload of {local} to {remote} failed: {e}") from e
        if not ok:
            raise RemoteError(f"{self.name}: upload of {local} to {remote} refused by the engine")

    def download(self, remote: str, local: str) -> None:
        try:
            stream, stat = self.api.get_archive(self.container, remote)
            data = b"".join(stream)
        except Exception as e:
            raise RemoteError(f"{self.name}: download of {remote} failed: {e}") from e
        if stat.get("mode", 0) & (1 << 31):  # os.ModeDir in Go's FileMode
            raise RemoteError(f"{self.name}: {remote} is a directory, not a file")
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                if member is None:
                    raise RemoteError(f"{self.name}: {remote} is not a regular file")
                content = tar.extractfile(member).read()
            os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
            with open(local, "wb") as f:
                f.write(content)
        except (OSError, tarfile.TarError) as e:
            raise RemoteError(f"{self.name}: cannot store {remote} as {local}: {e}") from e

    def __repr__(self) -> str:
        return f"DockerRemote({self.container!r}, {self.name!r})"

    # -- internals -----------------------------------------------------------------------
    def _run(self, argv: list[str], *, env: Mapping[str, str] | None, stdin: bytes | None,
             deadline: float) -> tuple[int, str, str]:
        """One exec: (exit code, stdout, stderr). Transport problems raise RemoteError."""
        environment = [f"{k}={v}" for k, v in (env or {}).items()]
        try:
            exec_id = self.api.exec_create(self.container, argv, stdout=True, stderr=True,
                                           stdin=stdin is not None,
                                           environment=environment or None)["Id"]
            sock, reader = _start_exec(self.api, exec_id)
        except Exception as e:
            raise RemoteError(f"{self.name}: cannot exec {_show(argv)}: {e}") from e
        raw = getattr(sock, "_sock", sock)
        try:
            end = time.monotonic() + deadline
            if stdin is not None:
                raw.settimeout(deadline)
                raw.sendall(stdin)
                _shutdown_write(raw)
            out, err = _read_frames(raw, reader, end)
        except (OSError, socket.timeout) as e:
            raise RemoteError(f"{self.name}: {_show(argv)}: lost the engine connection or "
                              f"no answer within {deadline:g}s: {e}") from e
        finally:
            for s in (sock, raw):
                try:
                    s.close()
                except Exception:
                    pass
        try:
            code = _exit_code(self.api, exec_id)
        except Exception as e:
            raise RemoteError(f"{self.name}: cannot read the exit status of "
                              f"{_show(argv)}: {e}") from e
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def _running(self, pid: int, pidfile: str) -> bool:
        """Alive and not a zombie, judged by exit status only (also removes the pid file)."""
        code, _, _ = self._run(["sh", "-c", ALIVE_SCRIPT, str(pid), pidfile], env=None,
                               stdin=None, deadline=30.0)
        return code == 0

    def _read_pidfile(self, pidfile: str) -> str:
        for _ in range(5):
            code, out, _ = self._run(["cat", pidfile], env=None, stdin=None, deadline=30.0)
            if code == 0 and out.strip().isdigit():
                return out.strip()
            time.sleep(0.05)
        return ""

    def _tail(self, path: str | None) -> str:
        if not path:
            return "(no log)"
        try:
            code, out, _ = self._run(["tail", "-c", "400", path], env=None, stdin=None,
                                     deadline=30.0)
        except RemoteError:
            return "(no log)"
        if code != 0:
            return "(no log)"
        return out.strip() or "(empty log)"


def _start_exec(api: Any, exec_id: str) -> tuple[Any, Callable[[int], bytes]]:
    """Start an exec attached over a hijacked connection: (socket, read(n)).

    Why not `api.exec_start(socket=True)`: that hands back the raw socket *under* the
    HTTP response's buffered reader, which read the response headers in 8 KiB chunks —
    output a fast command printed right after the headers can already sit in that
    buffer and is then silently lost (docker/docker-py#2042, moby#27289 look like
    this). Reading through the buffered reader (`read1`) returns those bytes first."""
    res = api._post_json(api._url("/exec/{0}/start", exec_id),
                         headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                         data={"Tty": False, "Detach": False}, stream=True)
    sock = api._get_raw_response_socket(res)
    fp = getattr(getattr(res.raw, "_fp", None), "fp", None)
    if fp is not None and hasattr(fp, "read1"):
        reader = fp.read1
    elif fp is not None and hasattr(fp, "read"):  # paramiko's ChannelFile (ssh://)
        reader = fp.read
    else:
        reader = getattr(sock, "_sock", sock).recv
    return sock, reader


def _exit_code(api: Any, exec_id: str) -> int:
    # The engine may report Running for a moment after the stream closed.
    for _ in range(100):
        info = api.exec_inspect(exec_id)
        if not info.get("Running"):
            code = info.get("ExitCode")
            return 255 if code is None else int(code)
        time.sleep(0.01)
    raise RemoteError("the exec is still running after its output stream closed")


def _shutdown_write(raw: Any) -> None:
    """Half-close so the command sees EOF on stdin (the engine closes its stdin then)."""
    if hasattr(raw, "shutdown_write"):  # paramiko Channel (ssh:// engines)
        raw.shutdown_write()
    else:
        raw.shutdown(socket.SHUT_WR)


def _read_frames(raw: Any, read: Callable[[int], bytes], end: float) -> tuple[bytes, bytes]:
    """Demultiplex the engine's stream: 8-byte headers (stream id, 0, 0, 0, big-endian
    length) each followed by that many bytes, until EOF or `end` (monotonic). `raw`
    carries the timeout; `read` is the (buffered) reader on top of it."""
    out, err = bytearray(), bytearray()
    while True:
        header = _read_exact(raw, read, 8, end)
        if header is None:
            return bytes(out), bytes(err)
        stream, length = header[0], struct.unpack(">I", header[4:])[0]
        payload = _read_exact(raw, read, length, end) or b""
        (err if stream == _STDERR else out).extend(payload)


def _read_exact(raw: Any, read: Callable[[int], bytes], n: int, end: float) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        left = end - time.monotonic()
        if left <= 0:
            raise socket.timeout("engine stream deadline passed")
        raw.settimeout(left)
        chunk = read(n - len(buf))
        if not chunk:
            if buf:
                raise OSError("engine stream ended inside a frame")
            return None
        buf.extend(chunk)
    return bytes(buf)


def _show(argv: Sequence[str]) -> str:
    s = " ".join(str(a) for a in argv)
    return s if len(s) <= 120 else s[:117] + "..."
