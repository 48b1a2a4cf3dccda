"""Cassandra as the system under test: one CassandraDaemon JVM per node.

    db = CassandraDB(nodes, store_dir=run_dir, prefix="sb1a2b3c",
                     read_consistency="ONE", write_consistency="ONE", timestamps="server")
    for n in nodes: db.setup(n)            # jars (installed on first use), yaml, dirs
    for n in nodes: db.start(n)            # in parallel in the runner
    db.wait_ready(db.ready_timeout)        # CQL up, peers known, schema agreed, RF=n≤3
    c = db.client(nodes[0], "register", process=0)     # pinned to n1 as coordinator
    f = db.final_client(nodes[1], "register", process=99)   # CL ONE reads of n2's replica
    db.settle(30)                          # after heal: every coordinator reaches all replicas
    for n in nodes: db.teardown(n)         # SIGKILL by recorded pid, logs into the store

Jars come from `harness.dbs.cassandra_install` (Maven Central, cached) or `home=` (an
unpacked tarball). Each node gets `<node.workdir>/cassandra/` (yaml, logback, data,
logs); its system.log, stdout and yaml are copied to `<store_dir>/nodes/<node>/` at
teardown and the data is deleted. The cluster is 1-5 nodes, all seeds with fixed tokens,
so all start in parallel; the keyspace `splitbrain` has RF = min(3, nodes).

Processes: the JVM runs in the foreground under `node.remote.spawn` and is only ever
signalled by the pid spawn returned (recorded in the run registry). `extra_env_fn(node)`
is read at every start (the clock nemesis's LD_PRELOAD shim: wall clock only, monotonic
time stays real, which the JVM needs).

Process faults (nemesis/process.py): `kill` SIGKILLs the recorded pid and returns once it
is gone; `start` of a node that ran before is a *restart*: the same argv, yaml and data
dirs (only setup and teardown wipe data), so the node replays its commit log and rejoins
with the tokens saved in its system tables — as a crashed Cassandra node does. A restart
returns only once the node answers CQL and it and every other running node have gossiped
with each other's current generation (bounded by RESTART_TIMEOUT_S; EnvironmentProblem
with the log tail otherwise). `pause`/`resume` are SIGSTOP/SIGCONT of the same pid. Each
kill and restart is logged with its pids and timings (`cassandra kill n2: …`,
`cassandra restart n2: …`) and kept in `self.restarts`.

Cassandra is leaderless: `primaries()` is empty, so "primaries" fault targets fall back to
a random node.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon, RemoteError
from splitbrain.harness.dbs import cassandra_config as cfg
from splitbrain.harness.dbs import daemons
from splitbrain.harness.dbs.cassandra_client import (KEYSPACE, MODELS, TABLES, CassandraClient,
                                          ClientSettings, NodeSession, TimestampSource)
from splitbrain.harness.dbs.cassandra_install import (CassandraDist, ensure_installed, find_java,
                                           validate_version)
from splitbrain.harness.errors import EnvironmentProblem, InputError
from splitbrain.harness.models import as_spec

TXN_MODES = ("lwt", "plain", "batch")

log = logging.getLogger(__name__)

MAX_NODES = 5
CONSISTENCY = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM",
               "EACH_QUORUM")
TIMESTAMPS = ("server", "client")


# A restarted node replays its commit log before it opens CQL: ~15 s alone on two busy
# cores, so this bound is generous but keeps a wedged restart from stalling the run.
RESTART_TIMEOUT_S = 120.0


ROLE = "cassandra"  # the Supervisor's role for the JVM


@dataclass
class _NodeState:
    """What Cassandra itself remembers per node; the JVM lives in the Supervisor."""

    procs: "daemons.Supervisor"
    node: Node
    started_at: float | None = None
    ever_started: bool = False   # a later start is a restart (data dir kept)
    ready: bool = False          # answers CQL and agrees on gossip with its running peers
    last_pid: int | None = None

    @property
    def daemon(self) -> Daemon | None:
        return self.procs.get(self.node, ROLE)

    @property
    def paused(self) -> bool:
        return self.procs.paused(self.node, ROLE)


class CassandraDB:
    """Lifecycle of Cassandra on the nodes (harness/dbs/base.py DB). Thread-safe."""

    name = "cassandra"
    port = cfg.CQL_PORT

    def __init__(self, nodes: list[Node], *, store_dir: str, prefix: str,
                 extra_env_fn: Callable[[Node], Mapping[str, str]] | None = None,
                 read_consistency: str = "QUORUM", write_consistency: str = "QUORUM",
                 timestamps: str = "server", version: str | None = None,
                 home: str | None = None, heap_mb: int = 512, ready_timeout: float = 180.0,
                 install_log: Callable[[str], None] | None = None,
                 commitlog_sync: str = "periodic", txn_mode: str = "lwt"):
        if not 1 <= len(nodes) <= MAX_NODES:
            raise InputError(f"cassandra runs on 1 to {MAX_NODES} nodes, not {len(nodes)}")
        for name, cl in (("read", read_consistency), ("write", write_consistency)):
            if cl not in CONSISTENCY:
                raise InputError(f"--{name}-consistency {cl!r}: allowed: {', '.join(CONSISTENCY)}")
        if timestamps not in TIMESTAMPS:
            raise InputError(f"--timestamps {timestamps!r}: allowed: server, client")
        if commitlog_sync not in cfg.COMMITLOG_SYNC:
            raise InputError(f"--commitlog-sync {commitlog_sync!r}: allowed: "
                             f"{', '.join(cfg.COMMITLOG_SYNC)}")
        self.commitlog_sync = commitlog_sync
        self.version = validate_version(version) if not home else version
        self.home = home
        self.nodes = list(nodes)
        self.store_dir = store_dir
        self.prefix = prefix
        self.extra_env_fn = extra_env_fn
        self.heap_mb = heap_mb
        self.ready_timeout = ready_timeout  # the runner passes this to wait_ready
        self.settings = ClientSettings(read_consistency=read_consistency,
                                       write_consistency=write_consistency,
                                       timestamps=timestamps, txn_mode=txn_mode)
        self.final_settings = ClientSettings(read_consistency="ONE", write_consistency="ONE",
                                             timestamps=timestamps, txn_mode=txn_mode)
        self.replication = min(3, len(self.nodes))
        self.install_log = install_log or (lambda msg: log.info("%s", msg))
        self.figures: dict[str, float] = {}
        self._timestamps = TimestampSource()
        self.procs = daemons.Supervisor(prefix, self.nodes)
        self._state = {n.name: _NodeState(self.procs, n) for n in self.nodes}
        self._dist_lock = threading.Lock()
        self._dist: CassandraDist | None = None
        self._java: str | None = None
        self._sessions: dict[tuple[str, str], NodeSession] = {}
        self._sessions_lock = threading.Lock()
        self._schema_ready = False
        self.restart_timeout = RESTART_TIMEOUT_S
        self.restarts: list[dict] = []  # one entry per completed restart (see start)

    # -- paths -----------------------------------------------------------------------------

    def paths(self, node: Node) -> cfg.NodePaths:
        return cfg.NodePaths(os.path.join(node.workdir, "cassandra"))

    def data_dir(self, node: Node) -> str:
        """The commitlog directory: what the disk nemesis mounts (acknowledged writes
        live there until a memtable flush)."""
        return os.path.join(self.paths(node).root, "commitlog")

    def dist(self) -> CassandraDist:
        """The jars (installing them on first use) and the Java 17 binary."""
        with self._dist_lock:
            if self._dist is None:
                self._java = find_java()
                t0 = time.monotonic()
                self._dist = ensure_installed(self.version, self.home, log=self.install_log)
                self.figures["install_s"] = round(time.monotonic() - t0, 1)
            return self._dist

    # -- DB protocol ---------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Fresh dirs, cassandra.yaml and logback.xml for `node`. Idempotent."""
        self.dist()
        p = self.paths(node)
        idx = self._index(node)
        # check=False: a data dir may be a mount point (disk nemesis), which rm empties
        # but cannot remove
        node.remote.exec(["rm", "-rf", *p.data_dirs], timeout=60, check=False)
        node.remote.exec(["mkdir", "-p", p.root, p.logs, p.tmp], timeout=10)
        self._put(node, p.yaml, cfg.render_yaml(
            address=node.address, paths=p, seeds=[n.address for n in self.nodes],
            token=cfg.tokens(len(self.nodes))[idx], cluster_name=self.prefix,
            commitlog_sync=self.commitlog_sync))
        self._put(node, p.logback, cfg.LOGBACK_XML)

    def start(self, node: Node) -> None:
        """Start the node's JVM unless it runs; record its pid.

        The first start returns at once (all nodes start in parallel; wait_ready follows).
        A later start is a restart: it returns once the node has rejoined (module
        docstring), and so does a start that finds the JVM running but not yet rejoined
        (e.g. the final heal racing a restart still in progress)."""
        dist = self.dist()
        with self.procs.lock(node):
            st = self._state[node.name]
            restart = st.ever_started
            if self.procs.running(node, ROLE):
                if not restart or st.ready:
                    return
                d, t0, old_pid = st.daemon, st.started_at or time.monotonic(), st.last_pid
            else:
                gone = self.procs.forget(node, ROLE)  # died on its own: start afresh
                if gone is not None:
                    st.last_pid = gone.pid
                p = self.paths(node)
                env = dict(self.extra_env_fn(node)) if self.extra_env_fn else {}
                argv = cfg.jvm_argv(self._java or find_java(), dist, p, heap_mb=self.heap_mb)
                d = self.procs.spawn(node, ROLE, argv, log_path=p.stdout, env=env)
                st.ready, st.ever_started = False, True
                st.started_at = t0 = time.monotonic()
                old_pid = st.last_pid
        if restart:
            # Outside the lock: teardown (or a kill) must not wait behind a slow restart;
            # the wait gives up as soon as the daemon it waits for is replaced.
            self._await_rejoin(node, d, t0, old_pid)

    def kill(self, node: Node) -> None:
        """SIGKILL the JVM by its recorded pid; returns once it is gone (≤ 10 s, else
        EnvironmentProblem, and the pid stays recorded so teardown tries again)."""
        with self.procs.lock(node):
            st = self._state[node.name]
            if st.daemon is None:
                return
            d = st.daemon
            t0 = time.monotonic()
            if not self.procs.kill(node, ROLE, 10.0):
                raise EnvironmentProblem(f"cassandra on {node.name} (pid {d.pid}) still runs "
                                         f"10 s after SIGKILL")
            st.ready, st.last_pid = False, d.pid
            log.info("cassandra kill %s: pid %d SIGKILLed, gone after %.2f s", node.name,
                     d.pid, time.monotonic() - t0)

    def pause(self, node: Node) -> None:
        self.procs.pause(node, ROLE)

    def resume(self, node: Node) -> None:
        self.procs.resume(node, ROLE)

    def teardown(self, node: Node) -> None:
        """Close the node's sessions, SIGKILL its JVM (its data is thrown away, so a clean
        shutdown would only cost seconds), copy logs to the store, delete the data."""
        with self._sessions_lock:
            mine = [k for k in self._sessions if k[0] == node.name]
            sessions = [self._sessions.pop(k) for k in mine]
        for s in sessions:
            s.close()
        with self.procs.lock(node):
            # its data is thrown away, so no clean shutdown: KILL at once
            self.procs.stop(node, ROLE, 10.0, hard=True)
            self._state[node.name].ready = False
        self._copy_logs(node)
        try:
            node.remote.exec(["rm", "-rf", *self.paths(node).data_dirs], timeout=60,
                             check=False)
        except RemoteError:
            pass

    def log_files(self, node: Node) -> list[str]:
        p = self.paths(node)
        return [p.system_log, p.stdout, p.yaml]

    def primaries(self) -> list[Node]:
        return []  # leaderless

    def client(self, node: Node, model, process: int, *, final: bool = False) -> CassandraClient:
        """A client pinned to `node` as coordinator for ops of `model` (harness/models.py).

        final=True: reads at CL ONE through `node`, answered from its own replica (RF
        covers every node for ≤ 3 nodes; the snitch puts the coordinator first,
        speculative retry off)."""
        spec = self._check_model(model)
        if final:
            return CassandraClient(self._session(node, "final"), spec, process,
                                   settings=self.final_settings, timestamps=self._timestamps,
                                   final=True)
        return CassandraClient(self._session(node, "run"), spec, process,
                               settings=self.settings, timestamps=self._timestamps)

    def final_client(self, node: Node, model, process: int) -> CassandraClient:
        return self.client(node, model, process, final=True)

    # -- readiness ---------------------------------------------------------------------------

    def wait_ready(self, timeout: float | None = None) -> None:
        """Every node: JVM alive, CQL port open, all peers known; then the keyspace and
        tables exist with schema agreement, and every coordinator can write at CL ALL (so
        each sees every replica up). Raises EnvironmentProblem with the log tail."""
        timeout = max(float(timeout or 0), self.ready_timeout)
        t0 = time.monotonic()
        deadline = t0 + timeout
        for node in self.nodes:
            self._wait_port(node, deadline)
        self.figures["cql_up_s"] = round(time.monotonic() - min(
            (s.started_at for s in self._state.values() if s.started_at), default=t0), 1)
        want_peers = len(self.nodes) - 1
        for node in self.nodes:
            self._until(deadline, node, f"{node.name} does not see its {want_peers} peers",
                        lambda n=node: self._count_peers(n) >= want_peers)
        self._create_schema(deadline)
        for i, node in enumerate(self.nodes):
            self._until(deadline, node, f"{node.name} cannot write at CL ALL",
                        lambda n=node, i=i: self._probe_all(n, i))
        self.figures["ready_s"] = round(time.monotonic() - min(
            (s.started_at for s in self._state.values() if s.started_at), default=t0), 1)
        for st in self._state.values():
            st.ready = st.daemon is not None
        log.info("cassandra ready: %s", self.figures)

    def settle(self, timeout: float) -> str | None:
        """After the faults are healed: wait until every coordinator writes at CL ALL and
        no node holds undelivered hints (so final reads judge a converged cluster where
        Cassandra converges on its own). Returns None, or what is still unsettled."""
        deadline = time.monotonic() + timeout
        pending = None
        for i, node in enumerate(self.nodes):
            while not self._probe_all(node, i):
                if time.monotonic() >= deadline:
                    return f"{node.name} cannot reach every replica at CL ALL"
                time.sleep(0.5)
        while True:
            pending = [n.name for n in self.nodes if self._pending_hints(n)]
            if not pending:
                return None
            if time.monotonic() >= deadline:
                return f"undelivered hints on {', '.join(pending)}"
            time.sleep(0.5)

    def wall_time(self, node: Node) -> float:
        """The node's wall clock in epoch seconds (for the clock nemesis's offset samples):
        `now()` is a time-UUID made from the coordinator's clock."""
        row = self._query(node, "SELECT toUnixTimestamp(now()) FROM system.local",
                          "ONE", timeout=1.0).one()
        return row[0] / 1000.0

    @property
    def claims(self) -> dict:
        """Claims: last-write-wins replicas; reads and writes at the configured levels
        promise no real-time order (lightweight transactions do, per key)."""
        s = self.settings
        # txn-list-append: one conditional (Paxos) batch per txn on one partition
        # (harness/dbs/cassandra_txn.py): linearizable per partition, and there is one
        txn = ("strict-serializable", "each txn is one conditional (Paxos) batch on a single "
               "partition after a SERIAL read: lightweight transactions are linearizable per "
               "partition") if s.write_consistency != "ANY" else (
               None, "a Paxos commit at ANY promises nothing")
        if s.txn_mode == "plain":
            txn = (None, "txn_mode=plain: a read, then an unconditional batch; nothing "
                   "isolates a txn's reads from its writes (the negative control)")
        elif s.txn_mode == "batch":
            txn = (None, "txn_mode=batch: separate per-partition reads, then one logged batch "
                   "across partitions; logged batches are eventually atomic but not isolated, "
                   "so readers see a batch on one partition and not another (the negative "
                   "control)")
        return {"writes": f"{s.write_consistency}, last write wins",
                "reads": s.read_consistency, "realtime": False,
                "transactions": txn[0], "transactions_why": txn[1], "summary": (
            f"Cassandra RF={self.replication}, reads {s.read_consistency}, writes "
            f"{s.write_consistency}, {s.timestamps} timestamps: last write wins")}

    def clock_offset(self, node: Node) -> float:
        """WallClock: the node's wall clock minus ours, in seconds (midpoint of the query)."""
        t0 = time.time()
        theirs = self.wall_time(node)
        return theirs - (t0 + time.time()) / 2

    # -- internals: restarts --------------------------------------------------------------

    def _await_rejoin(self, node: Node, d: Daemon, t0: float, old_pid: int | None) -> None:
        """Wait until the restarted `node` (daemon `d`) answers CQL and has exchanged gossip
        with every other running, unpaused node: each side knows the other's current
        generation, which is when Cassandra's failure detector marks the peer UP (so
        coordinators route to it again and hints flow to it)."""
        deadline = t0 + self.restart_timeout
        st = self._state[node.name]

        def still_mine() -> None:
            if st.daemon is not d:
                raise EnvironmentProblem(f"cassandra on {node.name} was stopped while it "
                                         f"restarted")
            if not self.procs.is_alive(node, d):
                raise EnvironmentProblem(f"cassandra on {node.name} exited while restarting: "
                                         f"{self._log_tail(node)}")

        def give_up(what: str) -> EnvironmentProblem:
            return EnvironmentProblem(
                f"cassandra on {node.name} did not rejoin within {self.restart_timeout:.0f}s "
                f"({what}): {self._log_tail(node)}")

        gen = None
        while gen is None:
            still_mine()
            gen = self._own_generation(node)
            if gen is None:
                if time.monotonic() >= deadline:
                    raise give_up("no CQL answer")
                time.sleep(0.25)
        cql_s = time.monotonic() - t0
        waiting: list[str] = []
        while True:
            still_mine()
            waiting = [p.name for p in self._running_peers(node)
                       if not self._gossip_agrees(node, gen, p)]
            if not waiting:
                break
            if time.monotonic() >= deadline:
                raise give_up(f"gossip not agreed with {', '.join(waiting)}")
            time.sleep(0.25)
        gossip_s = time.monotonic() - t0
        with self.procs.lock(node):
            if st.daemon is d:
                st.ready = True
        rec = {"node": node.name, "old_pid": old_pid, "pid": d.pid, "cql_s": round(cql_s, 2),
               "rejoined_s": round(gossip_s, 2)}
        self.restarts.append(rec)
        self.figures["restart_s"] = rec["rejoined_s"]
        log.info("cassandra restart %s: pid %s -> %d, CQL after %.1f s, gossip agreed with "
                 "running peers after %.1f s", node.name, old_pid, d.pid, cql_s, gossip_s)

    def _gossip_rows(self, node: Node) -> dict[str, int]:
        """{address: generation} as `node`'s gossiper knows them (itself included)."""
        rows = self._query(node, "SELECT address, generation FROM system_views.gossip_info",
                           "ONE", timeout=2.0).all()
        return {str(r[0]): int(r[1] or 0) for r in rows}

    def _own_generation(self, node: Node) -> int | None:
        try:
            return self._gossip_rows(node).get(node.address) or None
        except Exception:
            return None  # not answering CQL yet

    def _running_peers(self, node: Node) -> list[Node]:
        """The other nodes whose JVM we started, that are not paused, and that have been
        ready (a node restarting itself is judged by its own restart)."""
        out = []
        for n in self.nodes:
            st = self._state[n.name]
            if n.name != node.name and st.daemon is not None and not st.paused and st.ready:
                out.append(n)
        return out

    def _gossip_agrees(self, node: Node, gen: int, peer: Node) -> bool:
        try:
            theirs = self._gossip_rows(peer)
            mine = self._gossip_rows(node)
        except Exception:
            return False
        return (theirs.get(node.address) == gen
                and mine.get(peer.address) == theirs.get(peer.address))

    # -- internals: readiness ---------------------------------------------------------------

    def _wait_port(self, node: Node, deadline: float) -> None:
        st = self._state[node.name]
        while True:
            if st.daemon is None or not self.procs.is_alive(node, st.daemon):
                raise EnvironmentProblem(
                    f"cassandra on {node.name} exited during startup: {self._log_tail(node)}")
            try:
                with socket.create_connection((node.address, cfg.CQL_PORT), timeout=1.0):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise EnvironmentProblem(
                    f"cassandra on {node.name} did not open CQL port {cfg.CQL_PORT} within "
                    f"{self.ready_timeout:.0f}s: {self._log_tail(node)}")
            time.sleep(0.5)

    def _until(self, deadline: float, node: Node, what: str, fn: Callable[[], bool]) -> None:
        last = None
        while True:
            try:
                if fn():
                    return
            except Exception as e:
                last = e
            if time.monotonic() >= deadline:
                raise EnvironmentProblem(f"cassandra not ready: {what}"
                                         + (f" ({type(last).__name__}: {last})" if last else "")
                                         + f"; log: {self._log_tail(node)}")
            time.sleep(0.5)

    def _count_peers(self, node: Node) -> int:
        rows = self._query(node, "SELECT peer FROM system.peers_v2", "ONE").all()
        return len(rows)

    def _create_schema(self, deadline: float) -> None:
        if self._schema_ready:
            return
        first = self.nodes[0]

        def create() -> bool:
            self._query(first, f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                               f"{{'class': 'SimpleStrategy', 'replication_factor': "
                               f"{self.replication}}}", "ONE", timeout=30.0)
            for cql in TABLES.values():
                self._query(first, cql, "ONE", timeout=30.0)
            return True

        # The admin sessions do not wait for schema agreement after each statement (the
        # driver's default: up to 10 s each, ~1 s per table on a loaded 2-core machine);
        # agreement is checked once here instead: every node has every table, and every
        # node's own schema version is the same.
        self._until(deadline, first, "creating the keyspace failed", create)
        want = set(TABLES)
        for node in self.nodes:
            self._until(deadline, node, f"{node.name} does not have the schema yet",
                        lambda n=node: {r[0] for r in self._query(
                            n, "SELECT table_name FROM system_schema.tables WHERE "
                               "keyspace_name=%s", "ONE", (KEYSPACE,)).all()} >= want)
        self._until(deadline, first, "the nodes do not agree on the schema",
                    lambda: len({self._query(n, "SELECT schema_version FROM system.local",
                                             "ONE").one()[0] for n in self.nodes}) == 1)
        self._schema_ready = True

    def _probe_all(self, node: Node, i: int) -> bool:
        try:
            self._query(node, f"INSERT INTO {KEYSPACE}.probe (k, v) VALUES (%s, %s)", "ALL",
                        (i, int(time.time())), timeout=3.0)
            return True
        except Exception:
            return False

    def _pending_hints(self, node: Node) -> bool:
        try:
            rows = self._query(node, "SELECT files FROM system_views.pending_hints", "ONE",
                               timeout=2.0).all()
        except Exception:
            return False  # no such view (another version): do not wait on what we can't see
        return any((r[0] or 0) > 0 for r in rows)

    def _query(self, node: Node, cql: str, cl: str, params: tuple = (),
               timeout: float = 5.0):
        from cassandra import ConsistencyLevel
        from cassandra.query import SimpleStatement

        st = SimpleStatement(cql, consistency_level=getattr(ConsistencyLevel, cl))
        return self._session(node, "admin").session().execute(st, params or None,
                                                               timeout=timeout)

    def _session(self, node: Node, purpose: str) -> NodeSession:
        key = (node.name, purpose)
        with self._sessions_lock:
            s = self._sessions.get(key)
            if s is None:
                settings = (self.final_settings if purpose == "final" else
                            replace(self.settings, schema_agreement_wait=0)
                            if purpose == "admin" else self.settings)
                s = self._sessions[key] = NodeSession(node, settings, port=cfg.CQL_PORT)
            return s

    def _check_model(self, model):
        try:
            spec = as_spec(model)
        except ValueError as e:
            raise InputError(f"cassandra: {e}") from None
        if spec.model not in MODELS:
            raise InputError(f"cassandra has no {spec.model!r} model; models: {', '.join(MODELS)}")
        return spec

    def _index(self, node: Node) -> int:
        for i, n in enumerate(self.nodes):
            if n.name == node.name:
                return i
        raise InputError(f"{node.name} is not a node of this cluster")

    # -- internals: processes -------------------------------------------------------------

    # -- internals: files -------------------------------------------------------------------

    def _put(self, node: Node, remote_path: str, text: str) -> None:
        daemons.put_text(node, remote_path, text)

    def _copy_logs(self, node: Node) -> None:
        daemons.copy_files(node, self.log_files(node),
                           os.path.join(self.store_dir, "nodes", node.name))

    def _log_tail(self, node: Node, lines: int = 4) -> str:
        p = self.paths(node)
        out = []
        for path in (p.system_log, p.stdout):
            text = daemons.tail(node, path, lines)
            if text:
                out.append(f"{os.path.basename(path)}: {text}")
        return " ;; ".join(out) or "(no log yet)"


# -- the registered part (harness/dbs/__init__.py) ---------------------------------------

@dataclass(frozen=True)
class CassandraOptions:
    """Cassandra settings: consistency levels, who stamps writes, which jars."""

    read_consistency: str = "QUORUM"
    write_consistency: str = "QUORUM"
    timestamps: str = "server"
    version: str | None = None
    home: str | None = None
    commitlog_sync: str = "periodic"
    # txn-list-append: "lwt" (a SERIAL read, then one conditional Paxos batch: isolated) or
    # "plain" (a read at --read-consistency, then an unconditional batch: the negative
    # control, nothing isolates the read from the write) or "batch" (per-partition reads,
    # one logged multi-partition batch of list appends: not isolated, the other negative
    # control); harness/dbs/cassandra_txn.py
    txn_mode: str = "lwt"

    def validate(self, nodes: int) -> None:
        if self.txn_mode not in TXN_MODES:
            raise InputError(f"txn_mode {self.txn_mode!r}: allowed: {', '.join(TXN_MODES)}")
        if self.commitlog_sync not in cfg.COMMITLOG_SYNC:
            raise InputError(f"--cassandra-commitlog-sync {self.commitlog_sync!r}: allowed: "
                             f"{', '.join(cfg.COMMITLOG_SYNC)}")
        for name, cl in (("read", self.read_consistency), ("write", self.write_consistency)):
            if cl not in CONSISTENCY:
                raise InputError(f"--{name}-consistency {cl!r}: allowed: {', '.join(CONSISTENCY)}")
        if self.timestamps not in TIMESTAMPS:
            raise InputError(f"--timestamps {self.timestamps!r}: allowed: {', '.join(TIMESTAMPS)}")
        if not 1 <= nodes <= MAX_NODES:
            raise InputError(f"--nodes {nodes}: Cassandra runs 1 to {MAX_NODES} nodes")


def _make(nodes, ctx, opts: CassandraOptions) -> "CassandraDB":
    return CassandraDB(nodes, store_dir=ctx.store_dir, prefix=ctx.prefix,
                       extra_env_fn=ctx.node_env, read_consistency=opts.read_consistency,
                       write_consistency=opts.write_consistency, timestamps=opts.timestamps,
                       version=opts.version, home=opts.home,
                       commitlog_sync=opts.commitlog_sync, txn_mode=opts.txn_mode)


def _spec():
    from splitbrain.harness.cluster.base import BUILTIN_NEEDS
    from splitbrain.harness.dbs.base import DatastoreSpec

    return DatastoreSpec(
        name="cassandra", summary="Apache Cassandra 5 (jars from Maven Central), leaderless",
        options=CassandraOptions, needs=BUILTIN_NEEDS["cassandra"], make=_make,
        label=lambda o, workload: (f"cassandra-{o.read_consistency.lower()}-"
                                   f"{o.write_consistency.lower()}-{workload}"),
        aliases={"cassandra_version": "version", "cassandra_home": "home",
                 "cassandra_commitlog_sync": "commitlog_sync"},
        flags=("read_consistency", "write_consistency", "timestamps", "cassandra_version",
               "cassandra_home", "cassandra_commitlog_sync"),
        # equal WRITETIMEs: Cassandra keeps the greater serialised value (checkers/versions)
        check_options={"version_tiebreak": "cassandra"},
        models=MODELS,  # txn-list: harness/dbs/cassandra_txn.py
        db_class=lambda: CassandraDB)


SPEC = _spec()
