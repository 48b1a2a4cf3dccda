"""NetnsRemote: the Remote protocol for a node that is a network namespace on this host.

    remote = NetnsRemote("sb1a2b3c-n1", "n1", run_prefix="sb1a2b3c")
    remote.exec(["ip", "-4", "addr"], timeout=5)
    d = remote.spawn(["redis-server", "/var/tmp/splitbrain/sb1a2b3c/n1/redis.conf"],
                     log_path="/var/tmp/splitbrain/sb1a2b3c/n1/redis.log")
    remote.exec(["kill", "-STOP", str(d.pid)])       # d.pid is redis-server's own pid

Every argv runs as `ip netns exec <namespace> argv…`. `ip netns exec` execs the command
in place (after setns), so the pid subprocess reports *is* the daemon's pid; `spawn`
waits (up to `EXEC_WAIT` s) until /proc shows the pid running the daemon rather than
`ip`, so the pid it returns and records is never `ip`'s. Namespaces share the controller's
filesystem (and pid namespace), so upload/download are plain file copies and `kill <pid>`
works from either side. All other behaviour (timeouts kill the child, detached daemons,
reaping, registry records when `run_prefix` is set) is LocalRemote's.
"""

from __future__ import annotations

import os
import subprocess
from typing import Sequence

from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.control.local import LocalRemote, _wait_for

# Upper bound for `ip netns exec` to setns + exec the real program.
EXEC_WAIT = 2.0


class NetnsRemote(LocalRemote):
    """Acts on the node living in network namespace `namespace`; `name` is the node name."""

    def __init__(self, namespace: str, name: str, *, run_prefix: str | None = None):
        super().__init__(name, run_prefix=run_prefix)
        self.namespace = namespace

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *(str(a) for a in argv)]

    def netns(self) -> str | None:
        return self.namespace

    def _await_exec(self, proc: subprocess.Popen, argv: Sequence[str]) -> None:
        wrapper = ["ip", "netns", "exec", self.namespace]

        def execed() -> bool:
            if proc.poll() is not None:
                return True  # exited: spawn reports the status
            try:
                with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                return True
            return [c.decode(errors="replace") for c in cmd[:4]] != wrapper

        if not _wait_for(execed, EXEC_WAIT, 0.002):
            proc.kill()
            proc.wait()
            raise RemoteError(f"{self.name}: `ip netns exec {self.namespace}` did not start "
                              f"{argv[0]!r} within {EXEC_WAIT}s")

    def __repr__(self) -> str:
        return f"NetnsRemote({self.namespace!r}, {self.name!r})"


def namespace_exists(namespace: str) -> bool:
    return os.path.exists(os.path.join("/run/netns", namespace))
