"""The Remote protocol: how the harness acts on one node (architecture §3).

A transport layer and nothing more: run an argv, start a daemon and remember its pid,
copy files. Backends (netns, docker, ssh) implement it; everything above (DBs, nemeses)
speaks only this, so a new backend is one new module.

    remote = NetnsRemote("sb1a2b-n1")
    res = remote.exec(["redis-cli", "-h", "10.77.0.2", "PING"], timeout=5)
    daemon = remote.spawn(["redis-server", conf], log_path="/…/n1/redis.log")
    remote.exec(["kill", "-STOP", str(daemon.pid)])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence, runtime_checkable


class RemoteError(Exception):
    """A command on a node failed (non-zero exit with check=True, or a transport error)."""

    def __init__(self, message: str, *, exit_code: int | None = None, stdout: str = "",
                 stderr: str = ""):
        super().__init__(message)
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Daemon:
    """A process started by `spawn`: its pid as seen from the controller's tools on that node."""

    pid: int
    argv: tuple[str, ...]
    log_path: str | None = None


@runtime_checkable
class Remote(Protocol):
    """Acts on one node.

    Obligations:
    * argv lists only; never a shell string built from user data;
    * `exec` returns when the command exits or raises RemoteError after `timeout` seconds
      (killing it); with check=True a non-zero exit raises RemoteError carrying stderr;
    * `spawn` returns once the daemon runs, detached from the call; its pid is the one
      `exec(["kill", ...])` on the same node can signal; the caller records it for cleanup;
    * upload/download copy one file, creating parent directories on the receiving side.
    """

    name: str

    def exec(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, timeout: float = 60.0,
             check: bool = True) -> ExecResult: ...

    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log_path: str | None = None) -> Daemon: ...

    def upload(self, local: str, remote: str) -> None: ...

    def download(self, remote: str, local: str) -> None: ...
