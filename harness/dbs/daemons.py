"""The processes a datastore runs on its nodes, handled the same way for every DB.

Start with `spawn` (the pid is recorded in the run registry, so `splitbrain cleanup`
finds it after a crash); signal, probe and stop only by that recorded pid, never by name;
move config and log files through the node's Remote, so every backend works the same.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Mapping, Sequence

from harness.cluster.base import Node
from harness.control.base import Daemon, RemoteError
from harness.errors import InputError

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
            from harness.cluster import registry

            netns = getattr(node.remote, "netns", None)
            registry.register_pid(prefix, d.pid, f"{what} {node.name}",
                                  netns=netns() if callable(netns) else None)
        except (ImportError, InputError, OSError):
            pass  # a prefix the registry rejects (tests) or no registry dir
    return d


def unregister(prefix: str, d: Daemon) -> None:
    """Forget the daemon's pid, unless it is still alive (then cleanup still finds it)."""
    try:
        from harness.cluster import registry

        registry.unregister_pid(prefix, d.pid)
    except (ImportError, InputError, OSError):
        pass


def _controller_side(node: Node):
    """The run prefix to act through the registry with, if the node's processes live in
    the controller's pid namespace (netns, local); None for docker/ssh nodes."""
    remote = node.remote
    if not getattr(remote, "shares_pid_namespace", False):
        return None
    return getattr(remote, "run_prefix", None) or (node.meta or {}).get("prefix")


def _registry_call(node: Node, fn_name: str, *args):
    prefix = _controller_side(node)
    if not prefix:
        return None
    try:
        from harness.cluster import registry

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
