"""etcd as the system under test: Debian's `etcd-server` (3.4), one member per node.

A static cluster of every node (`--initial-cluster`), raft with the default 100 ms
heartbeat and 1 s election timeout, data on the node (`<node.workdir>/etcd/data`) with
etcd's own fsync. A member killed with SIGKILL restarts from its WAL as the same member,
so kill faults test recovery, not an empty rejoin.

    db = EtcdDB(nodes, store_dir=run_dir, prefix="sb1a2b3c",
                opts=EtcdOptions(read_mode="linearizable"))
    for n in nodes: db.setup(n)
    for n in nodes: db.start(n)
    db.wait_ready(60)                    # one leader, named by every member, reads work
    c = db.client(nodes[0], "register", process=0)
    c.invoke({"f": "write", "key": 3, "value": 17})   # {"type": "ok", "version": 12, …}
    for n in nodes: db.teardown(n)      # stops by recorded pid, copies the log

Processes are only signalled by the pid `spawn` returned (harness/dbs/daemons.py). The
clock nemesis cannot reach etcd (harness/dbs/etcd/config.py CLOCK_UNSUPPORTED); the
runner's environment function is still applied, so nothing differs from other DBs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon, RemoteError
from splitbrain.harness.dbs import daemons
from splitbrain.harness.dbs.etcd.client import EtcdClient
from splitbrain.harness.dbs.etcd.config import EtcdOptions, etcd_argv
from splitbrain.harness.dbs.etcd.gateway import GatewayConnection, GatewayFailure, b64
from splitbrain.harness.errors import EnvironmentProblem, InputError


ROLE = "etcd"  # the Supervisor's role (harness/dbs/daemons.py)


@dataclass
class _NodeState:
    """A view of the member's daemon in the Supervisor."""

    procs: "daemons.Supervisor"
    node: Node

    @property
    def daemon(self) -> Daemon | None:
        return self.procs.get(self.node, ROLE)

    @property
    def paused(self) -> bool:
        return self.procs.paused(self.node, ROLE)


class EtcdDB:
    """Lifecycle of etcd on the nodes (harness/dbs/base.py DB). Thread-safe: the nemesis
    thread and the runner may call it concurrently (one lock per node)."""

    name = "etcd"

    def __init__(self, nodes: list[Node], *, store_dir: str, prefix: str,
                 opts: EtcdOptions | None = None,
                 extra_env_fn: Callable[[Node], Mapping[str, str]] | None = None):
        if not nodes:
            raise InputError("etcd needs at least one node")
        self.nodes = list(nodes)
        self.store_dir = store_dir
        self.prefix = prefix
        self.opts = opts or EtcdOptions()
        self.extra_env_fn = extra_env_fn
        self.ready_timeout = self.opts.ready_timeout  # the runner passes this to wait_ready
        self.figures: dict[str, float] = {}
        self.procs = daemons.Supervisor(prefix, self.nodes)
        self._state = {n.name: _NodeState(self.procs, n) for n in self.nodes}
        self._member_ids: dict[str, str] = {}  # etcd member id -> node name

    # -- paths -------------------------------------------------------------------------

    def node_dir(self, node: Node) -> str:
        return os.path.join(node.workdir, "etcd")

    def _paths(self, node: Node) -> dict[str, str]:
        d = self.node_dir(node)
        return {"dir": d, "data": os.path.join(d, "data"), "log": os.path.join(d, "etcd.log"),
                "argv": os.path.join(d, "etcd.argv")}

    # -- DB protocol -------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """A fresh, empty data dir (a new cluster) and the argv kept for the store."""
        p = self._paths(node)
        node.remote.exec(["rm", "-rf", p["data"]], timeout=30)
        node.remote.exec(["mkdir", "-p", p["dir"]], timeout=10)
        daemons.put_text(node, p["argv"], " ".join(self._argv(node)) + "\n")

    def start(self, node: Node) -> None:
        """Start the member unless it runs (a crashed one is started again); returns at
        once — wait_ready / the workload's own ops see when it has rejoined."""
        with self.procs.lock(node):
            if self.procs.get(node, ROLE) is not None and not self.procs.running(node, ROLE):
                self.procs.forget(node, ROLE)  # exited on its own
            if self.procs.get(node, ROLE) is None:
                env = dict(self.extra_env_fn(node)) if self.extra_env_fn else None
                self.procs.spawn(node, ROLE, self._argv(node), log_path=self._paths(node)["log"],
                                 env=env)

    def kill(self, node: Node) -> None:
        """SIGKILL by the recorded pid; returns once it is gone (≤ 5 s), so its ports are
        free when the caller goes on."""
        d = self.procs.get(node, ROLE)
        if d is not None and not self.procs.kill(node, ROLE, 5.0):
            raise EnvironmentProblem(f"etcd on {node.name} (pid {d.pid}) still "
                                     "runs 5 s after SIGKILL")

    def pause(self, node: Node) -> None:
        self.procs.pause(node, ROLE)

    def resume(self, node: Node) -> None:
        self.procs.resume(node, ROLE)

    def teardown(self, node: Node) -> None:
        """Stop by recorded pid (TERM, then KILL after 5 s), copy the log and argv into
        `<store_dir>/nodes/<node>/`, remove the data dir. Idempotent; never raises for a
        node that is already gone."""
        self.procs.stop(node, ROLE)
        daemons.copy_files(node, self.log_files(node),
                           os.path.join(self.store_dir, "nodes", node.name))
        try:
            node.remote.exec(["rm", "-rf", self._paths(node)["data"]], timeout=30, check=False)
        except RemoteError:
            pass

    def log_files(self, node: Node) -> list[str]:
        p = self._paths(node)
        return [p["log"], p["argv"]]

    def primaries(self) -> list[Node]:
        """The raft leader, as the first member that answers names it ([] if none does)."""
        for n in self.nodes:
            st = self._status(n)
            if st is None:
                continue
            leader = self._member_ids.get(str(st.get("leader", "")))
            if leader is not None:
                return [x for x in self.nodes if x.name == leader]
        return []

    @property
    def claims(self) -> dict:
        """What this configuration promises, for checkers' defaults and the report (the
        capability protocols of issue 16 will give this a home): puts and txns go through
        raft, so writes and cas are linearizable; reads are linearizable only in
        `linearizable` read mode, `serializable` ones may be stale."""
        linear = self.opts.read_mode == "linearizable"
        return {"models": ("register",), "writes": "linearizable",
                "reads": ("linearizable" if linear
                          else "serializable (a member's local state; may be stale)"),
                "realtime": linear, "linearizable_registers": linear,
                "summary": f"etcd {self.opts.read_mode} reads, writes through raft"}

    def client(self, node: Node, model, process: int, *, final: bool = False) -> EtcdClient:
        """A client for the register model (harness/models.py); every op goes to `node`,
        final or not."""
        return EtcdClient(tuple(self.nodes), node, model, process, self.opts)

    def final_client(self, node: Node, model, process: int) -> EtcdClient:
        return self.client(node, model, process, final=True)

    def wait_ready(self, timeout: float) -> None:
        """Block until every member names the same leader and answers a linearizable read.
        Raises EnvironmentProblem with the reason and log tails on timeout."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            reason = self._not_ready_reason(applied=False)
            if reason is None:
                self.figures["ready_s"] = round(time.monotonic() - t0, 3)
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        tails = "; ".join(f"{n.name}: {daemons.tail(n, self._paths(n)['log'], 2) or '(no log)'}"
                          for n in self.nodes)
        raise EnvironmentProblem(f"etcd not ready after {timeout:g}s: {reason} (logs: {tails})")

    def settle(self, timeout: float) -> str | None:
        """After faults heal: one leader named by all, and every member has applied what the
        leader had committed when we looked (so serializable final reads see it). None
        once settled, else why not (never raises)."""
        deadline = time.monotonic() + timeout
        while True:
            reason = self._not_ready_reason(applied=True)
            if reason is None or time.monotonic() >= deadline:
                return reason
            time.sleep(0.2)

    # -- queries -----------------------------------------------------------------------

    def _argv(self, node: Node) -> list[str]:
        return etcd_argv(node, self.nodes, self.opts, data_dir=self._paths(node)["data"],
                         token=self.prefix)

    def _conn(self, node: Node) -> GatewayConnection:
        return GatewayConnection(node.address, self.opts.client_port, connect_timeout=0.5,
                                 op_timeout=1.0)

    def _status(self, node: Node) -> dict | None:
        conn = self._conn(node)
        try:
            st = conn.call("maintenance/status", {})
        except GatewayFailure:
            return None
        finally:
            conn.close()
        mid = str((st.get("header") or {}).get("member_id", ""))
        if mid:
            self._member_ids[mid] = node.name
        return st

    def _reads(self, node: Node) -> bool:
        conn = self._conn(node)
        try:
            conn.call("kv/range", {"key": b64("splitbrain-ready")})
            return True
        except GatewayFailure:
            return False
        finally:
            conn.close()

    def _not_ready_reason(self, *, applied: bool) -> str | None:
        statuses = {}
        for n in self.nodes:
            st = self._status(n)
            if st is None:
                return f"{n.name} does not answer"
            if not st.get("leader") or st.get("leader") == "0":
                return f"{n.name} knows no leader"
            statuses[n.name] = st
        leaders = {str(st["leader"]) for st in statuses.values()}
        if len(leaders) != 1:
            return f"members name different leaders {sorted(leaders)}"
        leader = self._member_ids.get(leaders.pop())
        if leader is None:
            return "the leader is not one of our nodes"
        if applied:
            committed = int(statuses[leader].get("raftIndex", 0))
            for name, st in statuses.items():
                got = int(st.get("raftAppliedIndex", st.get("raftIndex", 0)))
                if got < committed:
                    return f"{name} applied {got} < the leader's committed {committed}"
        for n in self.nodes:
            if not self._reads(n):
                return f"{n.name} does not serve a linearizable read"
        return None
