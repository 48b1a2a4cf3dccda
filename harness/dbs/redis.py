"""Redis as the system under test: Debian's `redis-server` (+ `redis-sentinel`).

Topologies:
* `replication` — n1 is the primary, every other node `replicaof` it (asynchronous);
  no failover: n1 stays the primary for the whole run.
* `sentinel` — the same, plus one Sentinel per node monitoring the primary under the
  master name `<prefix>` with quorum = majority, `down-after-milliseconds` ~1.5 s and a
  short failover timeout, so partitions and pauses cause real failovers. Clients find
  the primary through the Sentinels (harness/dbs/redis_client.py).

    db = RedisDB(nodes, topology="sentinel", read_from="any", store_dir=run_dir,
                 prefix="sb1a2b3c")
    for n in nodes: db.setup(n)
    for n in nodes: db.start(n)
    db.wait_ready(30)
    client = db.client(nodes[0], "register", process=0)
    client.invoke({"f": "write", "key": 3, "value": 17})   # {"type": "ok", "version": 1, …}
    …
    for n in nodes: db.teardown(n)        # stops by recorded pid, copies logs

Files per node live in `<node.workdir>/redis/` (config, logs, data dir); teardown copies
the logs and final configs into `<store_dir>/nodes/<node>/`. Persistence is off
(`appendonly no`, `save ""`), as the issue asks: a node restarted after `kill` comes back
empty. A restarted node rejoins as a replica of the current primary (n1 in
`replication`; the Sentinels' choice in `sentinel`); if the Sentinels still name the
restarted node itself, it starts as an empty primary — Redis's documented hazard of
running without persistence, which the lost-update checkers will then show.

Processes are only ever signalled by the pid `spawn` returned (recorded in the run
registry); `kill`/`pause`/`resume` act on `redis-server` only — the Sentinels keep
running, as the control plane a real deployment keeps apart from the data node.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon, RemoteError
from splitbrain.harness.dbs import daemons
from splitbrain.harness.dbs.redis_client import RedisClient, RedisTopology, ask_sentinels_for_primary
from splitbrain.harness.dbs.redis_streams import (PROPAGATION_WORKLOADS, STREAM_WORKLOADS,
                                      PropagationClient, StreamsClient)
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection
from splitbrain.harness.errors import EnvironmentProblem, InputError

TOPOLOGIES = ("replication", "sentinel")
# RedisClusterDB (harness/dbs/redis_cluster.py); RedisOptions accepts it too
OPTION_TOPOLOGIES = (*TOPOLOGIES, "cluster")
READ_FROM = ("primary", "replicas", "any")


REDIS, SENTINEL = "redis-server", "redis-sentinel"  # the Supervisor's roles


@dataclass
class _NodeState:
    """What Redis itself remembers per node; the daemons live in the Supervisor."""

    procs: "daemons.Supervisor"
    node: Node
    started_once: bool = False

    @property
    def redis(self) -> Daemon | None:
        return self.procs.get(self.node, REDIS)

    @property
    def sentinel(self) -> Daemon | None:
        return self.procs.get(self.node, SENTINEL)

    @property
    def paused(self) -> bool:
        return self.procs.paused(self.node, REDIS)


APPENDFSYNC = ("always", "everysec", "no")


def render_redis_conf(node: Node, *, port: int, data_dir: str, logfile: str,
                      replicaof: tuple[str, int] | None, appendfsync: str | None = None) -> str:
    """redis.conf for one node. The node address is bound first: Redis uses the first
    bind address as the source of its own outgoing (replication) connections."""
    binds = [node.address] + ([] if node.address.startswith("127.") else ["127.0.0.1"])
    lines = [
        f"bind {' '.join(binds)}",
        f"port {port}",
        "protected-mode no",
        "daemonize no",
        'pidfile ""',
        # appendfsync None: no persistence (the default); else the AOF with that policy
        "appendonly no" if appendfsync is None else "appendonly yes",
        *([] if appendfsync is None else [f"appendfsync {appendfsync}"]),
        'save ""',
        f"dir {data_dir}",
        f"logfile {logfile}",
        "loglevel notice",
        "always-show-logo no",
        f"bind-source-addr {node.address}",
        # What the primary reports to Sentinels as this replica's address.
        f"replica-announce-ip {node.address}",
        f"replica-announce-port {port}",
        # A replica cut off from its primary notices within seconds, not the default 60.
        "repl-timeout 5",
        "repl-ping-replica-period 1",
        # Full syncs start at once instead of waiting 5 s for more replicas to batch.
        "repl-diskless-sync-delay 0",
        # Teardown must not wait up to 10 s for partitioned replicas to catch up.
        "shutdown-on-sigterm nosave now",
    ]
    if replicaof is not None:
        lines.append(f"replicaof {replicaof[0]} {replicaof[1]}")
    return "\n".join(lines) + "\n"


def render_sentinel_conf(node: Node, *, sentinel_port: int, master_name: str,
                         primary: tuple[str, int], quorum: int, workdir: str, logfile: str,
                         down_after_ms: int, failover_timeout_ms: int,
                         replicas: list[tuple[str, int]] = ()) -> str:
    """sentinel.conf for one node. The replicas are listed up front: a Sentinel otherwise
    learns them only from its next INFO of the primary, up to 10 s later."""
    binds = [node.address] + ([] if node.address.startswith("127.") else ["127.0.0.1"])
    known = [f"sentinel known-replica {master_name} {a} {p}" for a, p in replicas]
    return "\n".join([
        f"bind {' '.join(binds)}",
        f"port {sentinel_port}",
        "protected-mode no",
        "daemonize no",
        'pidfile ""',
        f"dir {workdir}",
        f"logfile {logfile}",
        f"bind-source-addr {node.address}",
        f"sentinel announce-ip {node.address}",
        f"sentinel announce-port {sentinel_port}",
        f"sentinel monitor {master_name} {primary[0]} {primary[1]} {quorum}",
        f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
        f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
        f"sentinel parallel-syncs {master_name} 1",
        *known,
    ]) + "\n"


def redis_clock_offset(address: str, port: int, timeout: float = 0.5) -> float:
    """address:port's Redis `TIME` minus ours, in seconds (the WallClock capability).

    The connection is opened (PING) before the timed TIME round trip, so connection
    set-up does not skew the midpoint estimate; no retries, so an unreachable node costs
    one timeout."""
    import redis

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    r = redis.Redis(host=address, port=port, socket_timeout=timeout,
                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    try:
        r.ping()
        t0 = time.time()
        sec, usec = r.time()
        t1 = time.time()
        return sec + usec / 1e6 - (t0 + t1) / 2
    finally:
        r.close()


def txn_claim(topology: str, read_from: str) -> tuple[str | None, str]:
    """The consistency model Redis claims for txn-* transactions (one Lua script each,
    harness/dbs/redis_txn.py) in this configuration, and why (transactions.md §7.1):

    * replication, reads from the primary: strict-serializable. Every txn runs on the one
      single-threaded primary, as a script no other command interleaves with, at an
      instant inside its request. (Without persistence a killed primary restarts empty:
      Redis promises nothing across that, and the checker reports what it lost.)
    * replication, reads from replicas (or any node): serializable, not strict. Writing
      txns still run on the primary; a read-only txn may run on a replica, which applies
      the primary's replication stream in order, so it sees a prefix of the primary's
      serial order — but possibly a stale one (no real-time or session order).
    * sentinel: none. A failover promotes an asynchronous replica that may have missed
      acknowledged txns, and the old primary's later writes are discarded: Redis claims no
      isolation across that, so the checker's default (strict-serializable) is used and its
      findings say what broke.
    """
    if topology == "sentinel":
        return None, ("Sentinel failover promotes an asynchronous replica, which may lack "
                      "acknowledged txns")
    if topology != "replication":  # e.g. cluster: multi-key txns would cross hash slots
        return None, f"no txn claim for the {topology} topology"
    if read_from == "primary":
        return "strict-serializable", ("each txn is one Lua script on the single-threaded "
                                       "primary: atomic, alone, at an instant inside its call")
    return "serializable", ("writing txns run as scripts on the primary; read-only txns may "
                            "run on an asynchronous replica, which shows a prefix of the "
                            "primary's order, possibly stale (no real-time or session order)")


class RedisDB:
    """Lifecycle of Redis on the nodes (harness/dbs/base.py DB). Thread-safe: the nemesis
    thread and the runner may call it concurrently."""

    name = "redis"
    ready_timeout = 60.0

    def __init__(self, nodes: list[Node], *, topology: str = "replication",
                 read_from: str = "primary", store_dir: str, prefix: str,
                 port: int = 6379, sentinel_port: int = 26379,
                 extra_env_fn: Callable[[Node], Mapping[str, str]] | None = None,
                 down_after_ms: int = 1500, failover_timeout_ms: int = 5000,
                 connect_timeout: float = 1.0, op_timeout: float = 1.5,
                 appendfsync: str | None = None):
        """`nodes[0]` is the initial primary. `store_dir` is the run directory (logs go to
        `<store_dir>/nodes/<node>/`); `prefix` is the run prefix (Sentinel master name,
        registry records). `extra_env_fn(node)` adds environment variables to both daemons
        of a node (e.g. LD_PRELOAD/FAKETIME for the clock nemesis); it is read at every
        start, so a restart picks up the current skew."""
        if topology not in TOPOLOGIES:
            raise InputError(f"redis topology {topology!r}: allowed: {', '.join(TOPOLOGIES)}")
        if read_from not in READ_FROM:
            raise InputError(f"redis read_from {read_from!r}: allowed: {', '.join(READ_FROM)}")
        if not nodes:
            raise InputError("redis needs at least one node")
        if appendfsync not in (None, *APPENDFSYNC):
            raise InputError(f"redis appendfsync {appendfsync!r}: allowed: {', '.join(APPENDFSYNC)}")
        # None: no persistence; else the AOF with this fsync policy (read at setup)
        self.appendfsync = appendfsync
        if read_from == "replicas" and len(nodes) < 2:
            raise InputError("read_from=replicas needs at least two nodes")
        self.nodes = list(nodes)
        self.topology = topology
        self.read_from = read_from
        self.store_dir = store_dir
        self.prefix = prefix
        self.port = port
        self.sentinel_port = sentinel_port
        self.extra_env_fn = extra_env_fn
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.topo = RedisTopology(nodes=tuple(self.nodes), kind=topology, read_from=read_from,
                                  master_name=prefix, port=port, sentinel_port=sentinel_port,
                                  connect_timeout=connect_timeout, op_timeout=op_timeout)
        # One lock per node (the Supervisor's): the runner starts nodes in parallel; the
        # nemesis and the runner may act on the same node concurrently.
        self.procs = daemons.Supervisor(prefix, self.nodes)
        self._state = {n.name: _NodeState(self.procs, n) for n in self.nodes}

    # -- paths ---------------------------------------------------------------------------

    def node_dir(self, node: Node) -> str:
        return os.path.join(node.workdir, "redis")

    def _paths(self, node: Node) -> dict[str, str]:
        d = self.node_dir(node)
        return {"dir": d, "data": os.path.join(d, "data"),
                "conf": os.path.join(d, "redis.conf"), "log": os.path.join(d, "redis.log"),
                "stdout": os.path.join(d, "redis.stdout"),
                "sconf": os.path.join(d, "sentinel.conf"),
                "slog": os.path.join(d, "sentinel.log"),
                "sstdout": os.path.join(d, "sentinel.stdout")}

    def data_dir(self, node: Node) -> str:
        """Where this node's redis-server keeps its files (the disk nemesis mounts here)."""
        return self._paths(node)["data"]

    @property
    def initial_primary(self) -> Node:
        return self.nodes[0]

    # -- DB protocol ---------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Write redis.conf (and sentinel.conf) into the node's dir. Idempotent."""
        p = self._paths(node)
        node.remote.exec(["mkdir", "-p", p["data"]], timeout=10)
        primary = self.initial_primary
        replicaof = None if node.name == primary.name else (primary.address, self.port)
        self._put(node, p["conf"], render_redis_conf(
            node, port=self.port, data_dir=p["data"], logfile=p["log"], replicaof=replicaof,
            appendfsync=self.appendfsync))
        if self.topology == "sentinel":
            self._put(node, p["sconf"], render_sentinel_conf(
                node, sentinel_port=self.sentinel_port, master_name=self.prefix,
                primary=(primary.address, self.port), quorum=len(self.nodes) // 2 + 1,
                workdir=p["dir"], logfile=p["slog"], down_after_ms=self.down_after_ms,
                failover_timeout_ms=self.failover_timeout_ms,
                replicas=[(n.address, self.port) for n in self.nodes if n is not primary]))

    def start(self, node: Node) -> None:
        """Start redis-server (and, first time, its Sentinel); no-op if it runs.

        A restart rejoins as a replica of the current primary (see the module docstring).
        """
        with self.procs.lock(node):
            st = self._state[node.name]
            p = self._paths(node)
            if st.redis is not None and not self.procs.running(node, REDIS):
                self.procs.forget(node, REDIS)  # it exited on its own (crash): start again
            if st.redis is None:
                argv = ["redis-server", p["conf"]]
                if st.started_once:
                    primary = self._primary_for_restart(node)
                    if primary is None or primary.name == node.name:
                        argv += ["--replicaof", "no", "one"]
                    else:
                        argv += ["--replicaof", primary.address, str(self.port)]
                self._spawn(node, REDIS, argv, p["stdout"])
                st.started_once = True
            if self.topology == "sentinel" and st.sentinel is None:
                self._spawn(node, SENTINEL, ["redis-sentinel", p["sconf"]], p["sstdout"])

    def kill(self, node: Node) -> None:
        """SIGKILL redis-server by its recorded pid; returns once it is gone (≤ 5 s), so
        its port is closed when the caller goes on."""
        with self.procs.lock(node):
            if not self.procs.kill(node, REDIS, 5.0):
                # still there: forget it anyway, as before, so a restart is possible
                self.procs.forget(node, REDIS)

    def pause(self, node: Node) -> None:
        self.procs.pause(node, REDIS)

    def resume(self, node: Node) -> None:
        self.procs.resume(node, REDIS)

    def teardown(self, node: Node) -> None:
        """Stop both daemons by recorded pid (TERM, then KILL after 5 s), copy the logs
        into `<store_dir>/nodes/<node>/`, remove the data dir. Idempotent; never raises for
        a node that is already gone."""
        with self.procs.lock(node):
            self.procs.stop(node, SENTINEL)
            self.procs.stop(node, REDIS)
        self._copy_logs(node)
        try:
            node.remote.exec(["rm", "-rf", self._paths(node)["data"]], timeout=30, check=False)
        except RemoteError:
            pass

    def log_files(self, node: Node) -> list[str]:
        p = self._paths(node)
        out = [p["log"], p["stdout"], p["conf"]]
        if self.topology == "sentinel":
            out += [p["slog"], p["sstdout"], p["sconf"]]
        return out

    @property
    def claims(self) -> dict:
        """Claims: asynchronous replication promises no real-time order across nodes, and
        a failover (sentinel) may drop acknowledged writes."""
        model, why = txn_claim(self.topology, self.read_from)
        return {"writes": "asynchronously replicated", "reads": f"from {self.read_from}",
                "transactions": model, "transactions_why": why,
                # every op on the one primary: its registers are linearizable
                "linearizable_registers": self.read_from == "primary",
                "realtime": False, "summary": (
            f"Redis {self.topology}, reads from {self.read_from}: asynchronous replication, "
            f"{'Sentinel failover' if self.topology == 'sentinel' else 'no failover'}")}

    def clock_offset(self, node: Node) -> float:
        """WallClock: the node's redis-server `TIME` minus ours, in seconds."""
        return redis_clock_offset(node.address, self.port)

    def primaries(self) -> list[Node]:
        """Nodes whose `ROLE` says master right now (unreachable nodes are skipped)."""
        out = []
        for n in self.nodes:
            role = self._call(n, self.port, "ROLE", timeout=0.5)
            if isinstance(role, list) and role and role[0] == b"master":
                out.append(n)
        return out

    def client(self, node: Node, model, process: int, *, final: bool = False) -> RedisClient:
        """A worker's client for ops of `model` (harness/models.py): routing per topology
        and read_from (redis_client.py); final=True serves every read from `node` (the
        final reads on every node). The queue model is spoken by StreamsClient, the
        propagation model by PropagationClient (redis_streams.py), each told the
        workload's namespace (queue-group, propagation-dual-write…)."""
        wl = _stream_workload(model)
        if wl in STREAM_WORKLOADS:
            return StreamsClient(self.topo, node, wl, process, pinned=final)
        if wl in PROPAGATION_WORKLOADS:
            c = PropagationClient(self.topo, node, wl, process, pinned=final)
            # `--source cassandra`: the workload's co-hosted source (workloads/propagation.py)
            c.source = getattr(self, "propagation_source", None)
            return c
        return RedisClient(self.topo, node, model, process, pinned=final)

    def final_client(self, node: Node, model, process: int) -> RedisClient:
        return self.client(node, model, process, final=True)

    def wait_ready(self, timeout: float) -> None:
        """Block until every node answers PING, every replica's link to the primary is up
        and (sentinel) every Sentinel names the primary and knows all replicas and peers.
        Raises EnvironmentProblem with the reason (and a log tail) on timeout."""
        deadline = time.monotonic() + timeout
        reason = "not checked"
        while True:
            reason = self._not_ready_reason()
            if reason is None:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        tails = "; ".join(f"{n.name}: {self._log_tail(n)}" for n in self.nodes)
        raise EnvironmentProblem(f"redis not ready after {timeout:g}s: {reason} (logs: {tails})")

    def settle(self, timeout: float) -> str | None:
        """After faults heal, wait until the cluster is whole again: one primary, every
        other node its replica with the link up, every Sentinel naming that primary.
        Returns None once settled, else why not (never raises). Sentinels demote an
        isolated old primary only ~8-18 s after a heal (their INFO period and a fixed
        wait), so final reads taken earlier see the split brain still in place."""
        deadline = time.monotonic() + timeout
        while True:
            reason = self._not_ready_reason()
            if reason is None or time.monotonic() >= deadline:
                return reason
            time.sleep(0.25)

    # -- readiness / topology queries ------------------------------------------------------

    def _not_ready_reason(self) -> str | None:
        primary = self.initial_primary
        if self.topology == "sentinel":
            found = ask_sentinels_for_primary(self.topo, self.nodes)
            if found is None:
                return "no sentinel names a primary"
            primary = found
        for n in self.nodes:
            if self._call(n, self.port, "PING") != b"PONG":
                return f"{n.name} does not answer PING"
            if n.name == primary.name:
                continue
            info = self._call(n, self.port, "INFO", "replication")
            fields = _info_fields(info)
            if fields.get("role") != "slave" or fields.get("master_link_status") != "up":
                return f"{n.name} is not a replica with an up link to {primary.name}"
        if self.topology == "sentinel":
            want = len(self.nodes) - 1
            for n in self.nodes:
                got = self._call(n, self.sentinel_port, "SENTINEL", "get-master-addr-by-name",
                                 self.prefix)
                if not isinstance(got, list) or not got or _text(got[0]) != primary.address:
                    return f"sentinel on {n.name} does not name {primary.name}"
                reps = self._call(n, self.sentinel_port, "SENTINEL", "replicas", self.prefix)
                ok_reps = [r for r in reps or [] if "s_down" not in _flags(r)
                           and "disconnected" not in _flags(r)] if isinstance(reps, list) else []
                if len(ok_reps) < want:
                    return f"sentinel on {n.name} knows {len(ok_reps)}/{want} replicas"
                peers = self._call(n, self.sentinel_port, "SENTINEL", "sentinels", self.prefix)
                if not isinstance(peers, list) or len(peers) < want:
                    return f"sentinel on {n.name} knows {len(peers or [])}/{want} sentinels"
        return None

    def _primary_for_restart(self, node: Node) -> Node | None:
        if self.topology != "sentinel":
            return self.initial_primary
        others = [n for n in self.nodes if n.name != node.name]
        # No answer (sentinels busy on a loaded machine) must not restart the node as a
        # standalone primary beside the real one: ask again for a few seconds first.
        deadline = time.monotonic() + 5.0
        while True:
            found = ask_sentinels_for_primary(self.topo, others + [node])
            if found is not None or time.monotonic() >= deadline:
                return found
            time.sleep(0.25)

    def _call(self, node: Node, port: int, *args, timeout: float = 1.0):
        conn = RespConnection(node.address, port, connect_timeout=timeout, op_timeout=timeout)
        try:
            return conn.call(*args)
        except (NotSent, Ambiguous, ReplyError):
            return None
        finally:
            conn.close()

    # -- processes ---------------------------------------------------------------------------

    def _spawn(self, node: Node, role: str, argv: list[str], stdout_path: str) -> Daemon:
        env = dict(self.extra_env_fn(node)) if self.extra_env_fn else None
        return self.procs.spawn(node, role, argv, log_path=stdout_path, env=env)

    def _put(self, node: Node, remote_path: str, text: str) -> None:
        daemons.put_text(node, remote_path, text)

    def _copy_logs(self, node: Node) -> None:
        daemons.copy_files(node, self.log_files(node),
                           os.path.join(self.store_dir, "nodes", node.name))

    def _log_tail(self, node: Node) -> str:
        return daemons.tail(node, self._paths(node)["log"]) or "(no log)"


def _info_fields(info) -> dict[str, str]:
    if not isinstance(info, bytes):
        return {}
    out = {}
    for line in info.decode("utf-8", "replace").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def _text(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _flags(entry) -> str:
    """The `flags` value of one SENTINEL replicas/sentinels entry (a flat k/v list)."""
    if not isinstance(entry, list):
        return ""
    for i in range(0, len(entry) - 1, 2):
        if entry[i] == b"flags":
            return entry[i + 1].decode()
    return ""


# -- the registered part (harness/dbs/__init__.py) ---------------------------------------

@dataclass(frozen=True)
class RedisOptions:
    """Redis settings: `--topology`, `--read-from` (or `--db-opt topology=sentinel`)."""

    topology: str = "replication"
    read_from: str = "replicas"
    appendfsync: str | None = None  # None: no persistence; always, everysec, no: the AOF
    # cluster: a write is acknowledged only once WAIT says this many replicas have it
    wait_replicas: int = 0

    def validate(self, nodes: int) -> None:
        if not isinstance(self.wait_replicas, int) or not 0 <= self.wait_replicas <= 1 or (
                self.wait_replicas and self.topology != "cluster"):
            raise InputError(f"--db-opt wait-replicas={self.wait_replicas}: 0 or 1, and "
                             f"only with --topology cluster (one replica per shard)")
        if self.appendfsync not in (None, *APPENDFSYNC):
            raise InputError(f"--redis-appendfsync {self.appendfsync!r}: allowed: "
                             f"{', '.join(APPENDFSYNC)}")
        if self.topology not in OPTION_TOPOLOGIES:
            raise InputError(f"--topology {self.topology!r}: allowed: "
                             f"{', '.join(OPTION_TOPOLOGIES)}")
        if self.topology == "cluster":
            from splitbrain.harness.dbs.redis_cluster import layout

            layout(nodes)  # InputError naming the rule
        if self.read_from not in READ_FROM:
            raise InputError(f"--read-from {self.read_from!r}: allowed: {', '.join(READ_FROM)}")
        if self.topology == "sentinel" and nodes < 3:
            raise InputError("--topology sentinel needs --nodes 3 or more (a Sentinel majority)")
        if self.read_from == "replicas" and nodes < 2:
            raise InputError("--read-from replicas needs --nodes 2 or more")


def _stream_workload(model) -> str | None:
    """The queue/propagation workload name a model or OpSpec stands for (None otherwise)."""
    if isinstance(model, str):
        return model if model in (*STREAM_WORKLOADS, *PROPAGATION_WORKLOADS) else None
    name = getattr(model, "model", None)
    if name == "queue":
        return model.namespace if model.namespace in STREAM_WORKLOADS else "queue"
    if name == "propagation":
        return model.namespace if model.namespace in PROPAGATION_WORKLOADS else "propagation"
    return None


def _rules(test, opts: RedisOptions) -> None:
    """What the propagation workloads need: the relay and consumer follow n1, the primary
    of the replication topology (in n1's namespace on netns, on the controller on docker
    and ssh: workloads/propagation.py agent_host); `--source cassandra` only on netns."""
    if opts.topology != "cluster" and "slot-migrate" in str(getattr(test, "nemesis", "")):
        raise InputError("--nemesis slot-migrate needs --topology cluster (hash slots)")
    if opts.topology == "cluster":
        from splitbrain.harness.dbs.redis_cluster import CLUSTER_MODELS
        from splitbrain.workloads import get_workload

        model = getattr(get_workload(test.workload), "model", None)
        if model is not None and model not in CLUSTER_MODELS:
            raise InputError(f"--workload {test.workload} does not run on --topology cluster "
                             f"(single-key models only: {', '.join(CLUSTER_MODELS)})")
    if str(getattr(test, "workload", "")).startswith("propagation"):
        if opts.topology != "replication":
            raise InputError(f"--workload {test.workload} runs on --db redis --topology "
                             f"replication (its relay and consumer follow n1)")
        if getattr(test, "source", "redis") == "cassandra" and \
                getattr(test, "backend", "netns") != "netns":
            raise InputError("--source cassandra runs with the netns backend only (its "
                             "Cassandra nodes are not provisioned on docker or ssh nodes)")


def _make(nodes, ctx, opts: RedisOptions) -> RedisDB:
    if opts.topology == "cluster":
        from splitbrain.harness.dbs.redis_cluster import RedisClusterDB

        return RedisClusterDB(nodes, read_from=opts.read_from, store_dir=ctx.store_dir,
                              prefix=ctx.prefix, extra_env_fn=ctx.node_env,
                              appendfsync=opts.appendfsync, wait_replicas=opts.wait_replicas)
    return RedisDB(nodes, topology=opts.topology, read_from=opts.read_from,
                   store_dir=ctx.store_dir, prefix=ctx.prefix, extra_env_fn=ctx.node_env,
                   appendfsync=opts.appendfsync)


def _spec():
    from splitbrain.harness.cluster.base import BUILTIN_NEEDS
    from splitbrain.harness.dbs.base import DatastoreSpec

    return DatastoreSpec(
        name="redis", summary="Redis with async replication, optionally Sentinel failover",
        options=RedisOptions, needs=BUILTIN_NEEDS["redis"], make=_make,
        label=lambda o, workload: f"redis-{o.topology}-{workload}",
        aliases={"redis_appendfsync": "appendfsync"},
        models=("register", "list", "set", "counter", "txn-list", "txn-register", "queue",
                "propagation"),
        flags=("topology", "redis_appendfsync"), db_class=lambda: RedisDB, rules=_rules)


SPEC = _spec()
