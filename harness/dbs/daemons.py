"""The processes a datastore runs on its nodes, handled the same way for every DB.

Start with `spawn` (the pid is recorded in the run registry, so `splitbrain cleanup`
finds it after a crash); signal, probe and stop only by that recorded pid, never by name;
move config and log files through the node's Remote, so every backend works the same.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import Mapping, Sequence

from splitbrain.harness import registry
from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon, RemoteError
from splitbrain.harness.errors import InputError

# Running and not a zombie, judged by exit status only: some transports (docker exec
# under load) can lose a fast command's output, and lost output must not read as "dead".
_ALIVE_PROBE = 's=$(cat /proc/$0/stat) || exit 1; case "${s##*) }" in Z*|X*) exit 1;; esac'


def spawn(node: Node, argv: Sequence[str], *, prefix: str, what: str, log_path: str,
          env: Mapping[str, str] | None = None) -> Daemon:
    """Start a daemon on `node` and make sure the run registry knows its pid."""
    d = node.remote.spawn(list(argv), env=dict(env) if env else None, log_path=log_path)
    # Remotes built with the run prefix record their daemons themselves; a second record
    # here would overwrite theirs (and its netns).
    if getattr(node.remote, "run_prefix", None) != prefix:
        try:
            netns = getattr(node.remote, "netns", None)
            registry.register_pid(prefix, d.pid, f"{what} {node.name}",
                                  netns=netns() if callable(netns) else None)
        except (InputError, OSError):
            pass  # a prefix the registry rejects (tests) or no registry dir
    return d


def unregister(prefix: str, d: Daemon) -> None:
    """Forget the daemon's pid, unless it is still alive (then cleanup still finds it)."""
    try:
        registry.unregister_pid(prefix, d.pid)
    except (InputError, OSError):
        pass


def _controller_side(node: Node):
    """The run prefix to act through the registry with, if the node's processes live in
    the controller's pid namespace (netns, local); None for docker/ssh nodes."""
    remote = node.remote
    if not getattr(remote, "shares_pid_namespace", False):
        return None
    return getattr(remote, "run_prefix", None) or (getattr(node, "meta", None) or {}).get("prefix")


def _registry_call(node: Node, fn_name: str, *args):
    prefix = _controller_side(node)
    if not prefix:
        return None
    try:
        from splitbrain.harness import registry

        return getattr(registry, fn_name)(prefix, *args)
    except (ImportError, InputError, OSError):
        return None


def signal(node: Node, d: Daemon, sig: str) -> bool:
    """Send SIG<sig> (KILL, STOP, CONT, TERM) to the recorded pid; True if delivered.

    Recorded pids of nodes in the controller's pid namespace are signalled directly
    (registry.signal_pid): that works even after the node's namespace was deleted."""
    got = _registry_call(node, "signal_pid", d.pid, sig)
    if got is not None:
        return got
    try:
        res = node.remote.exec(["kill", f"-{sig}", str(d.pid)], timeout=10, check=False)
    except RemoteError:
        return False
    return res.exit_code == 0


def alive(node: Node, d: Daemon) -> bool:
    """Running and not a zombie (a zombie still answers `kill -0`)."""
    got = _registry_call(node, "pid_alive", d.pid)
    if got is not None:
        return got
    try:
        res = node.remote.exec(["sh", "-c", _ALIVE_PROBE, str(d.pid)], timeout=10, check=False)
    except RemoteError:
        return False
    return res.exit_code == 0


def wait_gone(node: Node, d: Daemon, timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while alive(node, d):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def stop(node: Node, d: Daemon, grace: float = 5.0) -> None:
    """TERM, then KILL after `grace` seconds."""
    signal(node, d, "TERM")
    signal(node, d, "CONT")  # a stopped process only handles TERM once resumed
    if not wait_gone(node, d, grace):
        signal(node, d, "KILL")
        wait_gone(node, d, 2.0)


def put_text(node: Node, remote_path: str, text: str) -> None:
    """Write a (config) file on the node through its Remote."""
    fd, tmp = tempfile.mkstemp(prefix="sb-put-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        node.remote.upload(tmp, remote_path)
    finally:
        os.unlink(tmp)


def copy_files(node: Node, paths: Sequence[str], dest_dir: str) -> None:
    """Download the node's files (logs) into dest_dir; missing ones are skipped."""
    os.makedirs(dest_dir, exist_ok=True)
    for path in paths:
        dest = os.path.join(dest_dir, os.path.basename(path))
        if os.path.abspath(dest) == os.path.abspath(path):
            continue  # the node dir already is the store dir
        try:
            node.remote.download(path, dest)
        except (RemoteError, OSError):
            pass  # e.g. a log that was never written


def tail(node: Node, path: str, lines: int = 3, width: int = 240) -> str:
    """The last lines of a file on the node, joined into one line ('' if none)."""
    try:
        res = node.remote.exec(["tail", "-n", str(lines), path], timeout=5, check=False)
    except RemoteError:
        return ""
    return " | ".join(x.strip()[:width] for x in res.stdout.strip().splitlines())


class Supervisor:
    """Every datastore process of one run, per node and role ("redis-server",
    "redis-sentinel", "cassandra"): one lock per node, the recorded daemon, its paused flag,
    and the only code that spawns, signals, kills, pauses, resumes and stops them.

    Obligations: a daemon is recorded (run registry) before `spawn` returns and
    unregistered only once it is gone; every signal goes to the recorded pid, never to a
    name; `kill` returns True only when the process is gone; `stop` is idempotent; the
    per-node lock is reentrant, so a DB may hold it around several calls. Datastores say
    only what differs (argv, readiness, rejoin).

        sup = Supervisor(prefix, nodes)
        with sup.lock(node):
            sup.spawn(node, "redis-server", argv, log_path=..., env=env)
        sup.pause(node, "redis-server"); sup.resume(node, "redis-server")
        sup.kill(node, "redis-server", timeout=5.0)
        sup.stop(node, "redis-server")
    """

    def __init__(self, prefix: str, nodes):
        self.prefix = prefix
        self._locks = {n.name: threading.RLock() for n in nodes}
        self._slots: dict[tuple[str, str], Daemon] = {}
        self._paused: set[tuple[str, str]] = set()

    # -- state ------------------------------------------------------------------------
    def lock(self, node: Node) -> threading.RLock:
        return self._locks.setdefault(node.name, threading.RLock())

    def get(self, node: Node, role: str) -> Daemon | None:
        return self._slots.get((node.name, role))

    def paused(self, node: Node, role: str) -> bool:
        return (node.name, role) in self._paused

    def forget(self, node: Node, role: str) -> Daemon | None:
        """Drop the record of a daemon that exited on its own (unregistering it)."""
        with self.lock(node):
            d = self._slots.pop((node.name, role), None)
            self._paused.discard((node.name, role))
            if d is not None:
                self._unregister(d)
            return d

    # -- actions ----------------------------------------------------------------------
    def spawn(self, node: Node, role: str, argv: Sequence[str], *, log_path: str,
              env: Mapping[str, str] | None = None) -> Daemon:
        with self.lock(node):
            d = self._spawn(node, list(argv), log_path, env, f"{role}")
            self._slots[(node.name, role)] = d
            self._paused.discard((node.name, role))
            return d

    def running(self, node: Node, role: str) -> bool:
        d = self.get(node, role)
        return d is not None and self._alive(node, d)

    def is_alive(self, node: Node, d: Daemon) -> bool:
        """Whether this particular daemon still runs (not a zombie)."""
        return self._alive(node, d)

    def pause(self, node: Node, role: str) -> None:
        with self.lock(node):
            d = self.get(node, role)
            if d is not None:
                self._signal(node, d, "STOP")
                self._paused.add((node.name, role))

    def resume(self, node: Node, role: str) -> None:
        with self.lock(node):
            d = self.get(node, role)
            if d is not None:
                self._signal(node, d, "CONT")
                self._paused.discard((node.name, role))

    def kill(self, node: Node, role: str, timeout: float) -> bool:
        """SIGKILL; True once gone (then unregistered and forgotten). False: it still runs
        and stays recorded, so teardown and cleanup try again."""
        with self.lock(node):
            d = self.get(node, role)
            if d is None:
                return True
            self._signal(node, d, "KILL")
            if not self._wait_gone(node, d, timeout):
                return False
            self._unregister(d)
            self._slots.pop((node.name, role), None)
            self._paused.discard((node.name, role))
            return True

    def stop(self, node: Node, role: str, grace: float = 5.0, *, hard: bool = False) -> None:
        """TERM (or KILL when `hard`), CONT (a stopped process handles signals only once
        resumed), KILL after `grace`; then unregister and forget. Idempotent."""
        with self.lock(node):
            d = self.get(node, role)
            if d is None:
                return
            self._signal(node, d, "KILL" if hard else "TERM")
            self._signal(node, d, "CONT")
            if not self._wait_gone(node, d, grace):
                self._signal(node, d, "KILL")
                self._wait_gone(node, d, 2.0)
            self._unregister(d)
            self._slots.pop((node.name, role), None)
            self._paused.discard((node.name, role))

    # -- primitives (module functions; tests may replace them) --------------------------
    def _spawn(self, node: Node, argv: list[str], log_path: str,
               env: Mapping[str, str] | None, what: str) -> Daemon:
        return spawn(node, argv, prefix=self.prefix, what=what, log_path=log_path, env=env)

    def _unregister(self, d: Daemon) -> None:
        unregister(self.prefix, d)

    def _signal(self, node: Node, d: Daemon, sig: str) -> bool:
        return signal(node, d, sig)

    def _alive(self, node: Node, d: Daemon) -> bool:
        return alive(node, d)

    def _wait_gone(self, node: Node, d: Daemon, timeout: float) -> bool:
        return wait_gone(node, d, timeout)
