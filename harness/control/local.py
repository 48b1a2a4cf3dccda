"""LocalRemote: the Remote protocol (harness/control/base.py) run on the controller itself.

Used by tests, by SSH-less paths, and as the base of `NetnsRemote`, which only changes
how an argv is wrapped (`ip netns exec <ns> …`). Everything is a plain subprocess:

    remote = LocalRemote()
    remote.exec(["true"])                                   # ExecResult(0, "", "")
    d = remote.spawn(["sleep", "60"], log_path="/tmp/sb/x.log")
    remote.exec(["kill", str(d.pid)])

Guarantees (on top of the protocol's):
* `exec` runs the child in its own session; on timeout the whole process group is killed
  with SIGKILL and reaped before RemoteError is raised, so nothing outlives the call;
* `spawn` starts a detached daemon (new session, stdin /dev/null, stdout+stderr appended
  to `log_path` or discarded) and returns `Daemon(pid)` where pid is the daemon's own pid.
  A background thread reaps it when it exits, so a dead daemon never lingers as a zombie
  (a zombie would still answer `kill -0` and look alive). If the daemon exits within
  `SPAWN_GRACE` seconds with a non-zero status, spawn raises RemoteError with the log tail;
* `env` is merged over the controller's environment (so PATH survives);
* if `run_prefix` is given, every spawned daemon is recorded in the run registry
  (harness/registry.py) so `splitbrain cleanup` can stop it after a crash.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Mapping, Sequence

from splitbrain.harness import registry
from splitbrain.harness.control.base import Daemon, ExecResult, RemoteError

# How long spawn watches a new daemon for an immediate failure (bad argv, missing binary).
SPAWN_GRACE = 0.15


class LocalRemote:
    """Runs commands on the controller host. `name` is what errors and logs call it."""

    # Its daemons (and a NetnsRemote's) are in the controller's pid namespace: the
    # registry can signal and probe their recorded pids directly (daemons.signal/alive).
    shares_pid_namespace = True

    def __init__(self, name: str = "local", *, run_prefix: str | None = None):
        self.name = name
        self.run_prefix = run_prefix

    # -- the one thing subclasses change ---------------------------------------------
    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The argv actually executed on the controller for `argv` on this node."""
        return [str(a) for a in argv]

    def netns(self) -> str | None:
        """The network namespace commands run in (None: the controller's own)."""
        return None

    # -- Remote protocol ---------------------------------------------------------------
    def exec(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, timeout: float = 60.0,
             check: bool = True) -> ExecResult:
        real = self.wrap(argv)
        try:
            proc = subprocess.Popen(
                real, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_merged_env(env),
                start_new_session=True)
        except OSError as e:
            raise RemoteError(f"{self.name}: cannot run {argv[0]!r}: {e}") from e
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise RemoteError(f"{self.name}: {_show(argv)} timed out after {timeout:g}s",
                              stdout=_text(out), stderr=_text(err)) from None
        except BaseException:
            _kill_group(proc)
            proc.communicate()
            raise
        res = ExecResult(proc.returncode, _text(out), _text(err))
        if check and res.exit_code != 0:
            raise RemoteError(
                f"{self.name}: {_show(argv)} exited {res.exit_code}: {res.stderr.strip()[:500]}",
                exit_code=res.exit_code, stdout=res.stdout, stderr=res.stderr)
        return res

    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log_path: str | None = None) -> Daemon:
        real = self.wrap(argv)
        if log_path:
            os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
            out = open(log_path, "ab", buffering=0)
        else:
            out = open(os.devnull, "wb")
        try:
            proc = subprocess.Popen(real, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=_merged_env(env),
                                    start_new_session=True, close_fds=True)
        except OSError as e:
            raise RemoteError(f"{self.name}: cannot start {argv[0]!r}: {e}") from e
        finally:
            out.close()
        recorded = False
        try:
            self._await_exec(proc, argv)
            try:
                rc = proc.wait(SPAWN_GRACE)
            except subprocess.TimeoutExpired:
                rc = None
            if rc not in (None, 0):
                raise RemoteError(f"{self.name}: {_show(argv)} exited {rc} at start: "
                                  f"{_tail(log_path)}", exit_code=rc)
            if self.run_prefix and rc is None:
                registry.register_pid(self.run_prefix, proc.pid, what=str(argv[0]),
                                      netns=self.netns())
            recorded = True
        except BaseException:
            # An interrupt (or error) before the pid is recorded: nobody could find this
            # daemon later (it may not even be in its namespace yet), so it goes now.
            if not recorded:
                _kill_group(proc)
                proc.wait()
            raise
        if rc is None:
            threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
        return Daemon(pid=proc.pid, argv=tuple(str(a) for a in argv), log_path=log_path)

    def _await_exec(self, proc: subprocess.Popen, argv: Sequence[str]) -> None:
        """Hook for wrappers that exec in place: wait until the pid runs argv itself."""

    def upload(self, local: str, remote: str) -> None:
        _copy(local, remote)

    def download(self, remote: str, local: str) -> None:
        _copy(remote, local)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _copy(src: str, dst: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        shutil.copyfile(src, dst)
    except OSError as e:
        raise RemoteError(f"cannot copy {src} to {dst}: {e}") from e


def _merged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update({str(k): str(v) for k, v in env.items()})
    return merged


def _kill_group(proc: subprocess.Popen) -> None:
    # The child leads its own session, and is not yet reaped, so its pid (= pgid) cannot
    # have been recycled: killing the group hits only what this call started.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _text(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "replace")


def _show(argv: Sequence[str]) -> str:
    s = " ".join(str(a) for a in argv)
    return s if len(s) <= 120 else s[:117] + "..."


def _tail(path: str | None, n: int = 400) -> str:
    if not path:
        return "(no log)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return _text(f.read()).strip() or "(empty log)"
    except OSError:
        return "(no log)"


def _wait_for(pred, timeout: float, interval: float = 0.01) -> bool:
    """Poll `pred()` until true or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
