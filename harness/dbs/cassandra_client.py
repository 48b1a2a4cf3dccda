"""Cassandra clients: one worker's CQL ops through one pinned coordinator.

    sessions = NodeSession(node, settings)            # one driver Cluster per node, shared
    c = CassandraClient(sessions, "register", process=3, settings=settings)
    c.invoke({"f": "write", "key": 1, "value": 17})   # {"type": "ok", "version": 1719…, …}
    c.invoke({"f": "read", "key": 1})                 # {"type": "ok", "value": 17, "version": …}

Routing: every request of a NodeSession goes to its node and nowhere else
(WhiteListRoundRobinPolicy with that one address, no retries on other hosts, token-aware
routing off), so the node is the coordinator the history names. Sessions are shared by all
workers pinned to that node; a client is a thin, stateless wrapper, so opening one
changes nothing (harness/dbs/base.py).

Versions: reads fetch `WRITETIME(col)`, the last-write-wins arbitration order, and record
it as `version`. A write records the timestamp it was applied with when it can be known
exactly: with `timestamps="client"` the client picks it (`USING TIMESTAMP`); with
`timestamps="server"` the coordinator picks it, so a register write also inserts
`(k, v)` into a log table *in the same single-partition batch* (one mutation, one
timestamp) and reads that row's WRITETIME back — never overwritten, so exact. When that
read-back fails the write is still `ok`, just without a version.

Completion types (checker-spec §1.4, P3): `fail` only when the op certainly had no
effect: any read error (reads change nothing); for writes Unavailable, InvalidRequest and
other request-validation errors, Overloaded/IsBootstrapping rejections, NoHostAvailable
when no host was even tried, and a CAS whose condition did not hold. Everything else —
WriteTimeout (including CAS timeouts), WriteFailure, client-side OperationTimedOut,
connection loss — is `info`. An Unavailable from an LWT is `info` too: Paxos can raise it
at commit time, after the proposal was accepted. Nothing is ever retried (increments and
list appends are not idempotent).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from splitbrain.harness.models import OpSpec, as_spec
from splitbrain.harness.cluster.base import Node

KEYSPACE = "splitbrain"

# One table per workload, all in one keyspace, so several workloads can share a cluster.
# speculative_retry NONE: a CL ONE read must not quietly ask a second replica (final reads
# per node depend on reading the coordinator's own data).
_TABLE_OPTS = "WITH speculative_retry = 'NONE'"
TABLES = {
    "reg": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.reg (k int PRIMARY KEY, v int) {_TABLE_OPTS}",
    "reg_log": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.reg_log (k int, v int, w boolean, "
               f"PRIMARY KEY (k, v)) {_TABLE_OPTS}",
    "cas_reg": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.cas_reg (k int PRIMARY KEY, v int) "
               f"{_TABLE_OPTS}",
    "ctr": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.ctr (k int PRIMARY KEY, c counter) "
           f"{_TABLE_OPTS}",
    "sets": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.sets (k int PRIMARY KEY, s set<int>) "
            f"{_TABLE_OPTS}",
    "lists": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.lists (k int PRIMARY KEY, l list<int>) "
             f"{_TABLE_OPTS}",
    "probe": f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.probe (k int PRIMARY KEY, v int)",
}
from splitbrain.harness.dbs import cassandra_txn as _txn  # noqa: E402 (needs KEYSPACE)

TABLES[_txn.TABLE] = _txn.schema(KEYSPACE, _TABLE_OPTS)
TABLES[_txn.BATCH_TABLE] = _txn.batch_schema(KEYSPACE, _TABLE_OPTS)

# The data models this client speaks (harness/models.py).
MODELS = ("register", "counter", "set", "list", "txn-list")

REQUEST_TIMEOUT_S = 6.0    # above the server's 2 s request timeouts (cassandra_config)
VERSION_LOOKUP_TIMEOUT_S = 1.0
CONNECT_TIMEOUT_S = 2.0
RECONNECT_EVERY_S = 1.0
# An op refused without being sent (coordinator killed or not yet restarted) returns after
# this pause: otherwise the workers pinned to a dead node spin through the run's shared
# rate budget (~900 refusals/s observed), starving the workers on live coordinators.
NOT_SENT_BACKOFF_S = 0.1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSettings:
    read_consistency: str = "QUORUM"
    write_consistency: str = "QUORUM"
    timestamps: str = "server"  # "server": coordinators pick; "client": we do
    request_timeout: float = REQUEST_TIMEOUT_S
    txn_mode: str = "lwt"  # txn-list-append: lwt, plain or batch (harness/dbs/cassandra_txn.py)
    # seconds the driver waits for schema agreement after each DDL (its default is 10);
    # 0: none, for a caller that checks agreement itself once after all its DDL
    schema_agreement_wait: float = 10.0


class TimestampSource:
    """Client-side write timestamps: wall-clock µs, strictly increasing across all workers of
    this controller (like the driver's MonotonicTimestampGenerator), so they are unique."""

    def __init__(self, clock=time.time_ns):
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = self._clock() // 1000
            self._last = max(now, self._last + 1)
            return self._last


# -- error mapping -------------------------------------------------------------------

def classify(exc: BaseException, *, write: bool, lwt: bool = False) -> str:
    """"fail" if the op certainly had no effect, else "info" (see the module docstring)."""
    import cassandra
    from cassandra import protocol
    from cassandra.cluster import NoHostAvailable

    if not write:
        return "fail"  # a read changes nothing, whatever happened to it
    if isinstance(exc, NoHostAvailable):
        # Empty `errors`: the query plan had no usable host, nothing was sent. Otherwise a
        # host was tried and the request may have gone out before the connection broke.
        errs = list((getattr(exc, "errors", None) or {}).values())
        if all(_never_sent(e) for e in errs):
            return "fail"
        return "info"
    if isinstance(exc, cassandra.Unavailable):
        return "info" if lwt else "fail"
    if isinstance(exc, (cassandra.RequestValidationException, cassandra.InvalidRequest,
                        cassandra.Unauthorized, cassandra.ConfigurationException)):
        return "fail"
    if isinstance(exc, (protocol.OverloadedErrorMessage, protocol.IsBootstrappingErrorMessage,
                        protocol.InvalidRequest, protocol.SyntaxException,
                        protocol.UnauthorizedErrorMessage)):
        return "fail"
    return "info"


def _no_host_tried(exc: BaseException) -> bool:
    """NoHostAvailable with nothing tried: the driver holds the node down."""
    from cassandra.cluster import NoHostAvailable

    return isinstance(exc, NoHostAvailable) and not getattr(exc, "errors", None)


def _never_sent(e: Any) -> bool:
    from cassandra.cluster import NoConnectionsAvailable

    if isinstance(e, NoConnectionsAvailable):
        return True
    text = str(e).lower()
    return "pool is shutdown" in text or "pool for" in text and "shut" in text


def describe_error(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}"


# -- sessions --------------------------------------------------------------------------

class NoSession(Exception):
    """No connection to the node right now; nothing was sent."""


class NodeSession:
    """A driver Cluster + Session whose every request goes to `node` only. Thread-safe;
    connects lazily and reconnects at most every RECONNECT_EVERY_S seconds.

    Once connected, the driver itself reconnects to a node that was killed and restarted
    or paused and resumed (ConstantReconnectionPolicy); meanwhile requests fail fast with
    NoHostAvailable (nothing sent). Before a first connect the CQL port is probed with a
    plain TCP connect, so a node that is down (or still replaying its commit log) costs a
    refused connect instead of a driver Cluster that times out and logs a traceback."""

    def __init__(self, node: Node, settings: ClientSettings, port: int = 9042):
        self.node = node
        self.settings = settings
        self.port = port
        self._lock = threading.Lock()
        self._cluster = None
        self._session = None
        self._last_try = 0.0
        self._closed = False

    def session(self):
        s = self._session
        if s is not None:
            return s
        with self._lock:
            if self._session is not None:
                return self._session
            if self._closed:
                raise NoSession(f"session to {self.node.name} is closed")
            now = time.monotonic()
            if now - self._last_try < RECONNECT_EVERY_S:
                raise NoSession(f"no connection to {self.node.name} (retrying shortly)")
            self._last_try = now
            try:
                socket.create_connection((self.node.address, self.port),
                                         timeout=CONNECT_TIMEOUT_S).close()
            except OSError as e:
                raise NoSession(f"cannot connect to {self.node.name}: CQL port "
                                f"{self.port}: {e}") from None
            try:
                self._cluster, self._session = _connect(self.node.address, self.port,
                                                        self.settings)
            except Exception as e:
                raise NoSession(f"cannot connect to {self.node.name}: "
                                f"{describe_error(e)}") from None
            return self._session

    def close(self) -> None:
        with self._lock:
            self._closed = True
            cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            try:
                cluster.shutdown()
            except Exception:
                pass


def _connect(address: str, port: int, settings: ClientSettings):
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import (ConstantReconnectionPolicy, FallthroughRetryPolicy,
                                    WhiteListRoundRobinPolicy)

    logging.getLogger("cassandra").setLevel(logging.ERROR)
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               retry_policy=FallthroughRetryPolicy(),
                               request_timeout=settings.request_timeout)
    cluster = Cluster([address], port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                      reconnection_policy=ConstantReconnectionPolicy(0.5, None),
                      connect_timeout=CONNECT_TIMEOUT_S,
                      control_connection_timeout=CONNECT_TIMEOUT_S,
                      schema_metadata_enabled=False, token_metadata_enabled=False,
                      protocol_version=5, executor_threads=2, idle_heartbeat_interval=5,
                      idle_heartbeat_timeout=5,
                      max_schema_agreement_wait=settings.schema_agreement_wait)
    try:
        session = cluster.connect()
    except BaseException:
        cluster.shutdown()
        raise
    # design/cassandra.md §5: the driver stamps writes itself by default, which would make
    # server clocks irrelevant. We always send our own timestamps explicitly (client
    # mode) or none (server mode).
    session.use_client_timestamp = False
    return cluster, session


# -- the client -------------------------------------------------------------------------

class CassandraClient:
    """One logical process's ops on one pinned coordinator (harness/dbs/base.py Client).

    `final=True` makes every read CL ONE: the coordinator's own replica (final reads per
    node, checker-spec P15). Not thread-safe beyond what the shared session is."""

    def __init__(self, sessions: NodeSession, workload: OpSpec | str, process: int, *,
                 settings: ClientSettings, timestamps: TimestampSource | None = None,
                 final: bool = False):
        self.spec = as_spec(workload)
        if self.spec.model not in MODELS:
            raise ValueError(f"cassandra has no {self.spec.model!r} model; models: "
                             f"{', '.join(MODELS)}")
        self.sessions = sessions
        self.node = sessions.node
        self.workload = workload
        # A linearizable register: every op a lightweight transaction (Paxos), reads
        # SERIAL, on its own table (never mixed with plain writes).
        self.lwt = self.spec.model == "register" and self.spec.linearizable
        self.process = process
        self.settings = settings
        self.ts = timestamps or TimestampSource()
        self.final = final

    def close(self) -> None:
        pass  # the session belongs to the DB (shared by the node's workers)

    # -- plumbing ------------------------------------------------------------------------

    def _stmt(self, cql: str, cl: str, serial: bool = False, timeout: float | None = None):
        from cassandra import ConsistencyLevel
        from cassandra.query import SimpleStatement

        st = SimpleStatement(cql, consistency_level=getattr(ConsistencyLevel, cl))
        if serial:
            st.serial_consistency_level = ConsistencyLevel.SERIAL
        return st, (timeout or self.settings.request_timeout)

    def _run(self, cql: str, params: tuple, cl: str, *, serial: bool = False,
             timeout: float | None = None):
        st, t = self._stmt(cql, cl, serial, timeout)
        return self.sessions.session().execute(st, params, timeout=t)

    @property
    def read_cl(self) -> str:
        if self.final:
            return "ONE"
        if self.lwt:
            return "SERIAL"
        return self.settings.read_consistency

    @property
    def write_cl(self) -> str:
        return self.settings.write_consistency

    # -- invoke --------------------------------------------------------------------------

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        value = op.get("value")
        if f not in self.spec.ops:
            return {"type": "fail", "value": value, "node": self.node.name,
                    "error": f"unsupported op {f!r} for the {self.spec.model} model"}
        write = f != "read"
        lwt = f == "cas" or (self.lwt and write)
        try:
            if self.spec.model == "txn-list":  # harness/dbs/cassandra_txn.py
                if f == "txn":
                    return _txn.invoke_txn(self, op, KEYSPACE)
                out = _txn.plain_read(self, op.get("key"), KEYSPACE)
                out.setdefault("node", self.node.name)
                return out
            out = self._execute(f, op.get("key"), value)
        except NoSession as e:
            time.sleep(NOT_SENT_BACKOFF_S)
            return self._done("fail", op, f"not-sent: {e}")
        except Exception as e:
            if _no_host_tried(e):
                time.sleep(NOT_SENT_BACKOFF_S)
            return self._done(classify(e, write=write, lwt=lwt), op, describe_error(e))
        out.setdefault("node", self.node.name)
        return out

    def _done(self, kind: str, op: dict, error: str) -> dict:
        value = None if op.get("f") == "read" else op.get("value")
        return {"type": kind, "value": value, "node": self.node.name, "error": error}

    def _execute(self, f: str, key: Any, value: Any) -> dict:
        k = int(key)
        w = self.spec.model
        if w == "register":
            table = "cas_reg" if self.lwt else "reg"
            if f == "read":
                row = self._run(f"SELECT v, WRITETIME(v) FROM {KEYSPACE}.{table} WHERE k=%s",
                                (k,), self.read_cl).one()
                if row is None or row[0] is None:
                    return {"type": "ok", "value": None}
                return {"type": "ok", "value": row[0], "version": row[1]}
            if f == "cas":
                return self._cas(table, k, value)
            if self.lwt:
                return self._lwt_write(table, k, value)
            return self._register_write(k, value)
        if w == "counter":
            if f == "read":
                row = self._run(f"SELECT c FROM {KEYSPACE}.ctr WHERE k=%s", (k,),
                                self.read_cl).one()
                return {"type": "ok", "value": 0 if row is None or row[0] is None else row[0]}
            self._run(f"UPDATE {KEYSPACE}.ctr SET c = c + %s WHERE k=%s", (int(value), k),
                      self.write_cl)
            return {"type": "ok", "value": value}
        table, col, lit = ("sets", "s", "{%s}") if w == "set" else ("lists", "l", "[%s]")
        if f == "read":
            row = self._run(f"SELECT {col} FROM {KEYSPACE}.{table} WHERE k=%s", (k,),
                            self.read_cl).one()
            items = list(row[0]) if row is not None and row[0] is not None else []
            return {"type": "ok", "value": sorted(items) if w == "set" else items}
        if self.settings.timestamps == "client":
            ts = self.ts()
            self._run(f"UPDATE {KEYSPACE}.{table} USING TIMESTAMP %s SET {col} = {col} + "
                      f"{lit} WHERE k=%s", (ts, int(value), k), self.write_cl)
        else:
            self._run(f"UPDATE {KEYSPACE}.{table} SET {col} = {col} + {lit} WHERE k=%s",
                      (int(value), k), self.write_cl)
        return {"type": "ok", "value": value}

    def _register_write(self, k: int, value: Any) -> dict:
        v = int(value)
        if self.settings.timestamps == "client":
            ts = self.ts()
            self._run(f"UPDATE {KEYSPACE}.reg USING TIMESTAMP %s SET v=%s WHERE k=%s",
                      (ts, v, k), self.write_cl)
            return {"type": "ok", "value": value, "version": ts}
        # One partition key, one batch: a single mutation with one coordinator timestamp
        # for both tables; reg_log's row is never overwritten, so its WRITETIME is exact.
        self._run(f"BEGIN UNLOGGED BATCH "
                  f"UPDATE {KEYSPACE}.reg SET v=%s WHERE k=%s; "
                  f"INSERT INTO {KEYSPACE}.reg_log (k, v, w) VALUES (%s, %s, true); "
                  f"APPLY BATCH", (v, k, k, v), self.write_cl)
        out = {"type": "ok", "value": value}
        ver = self._logged_version(k, v)
        if ver is not None:
            out["version"] = ver
        return out

    def _logged_version(self, k: int, v: int) -> int | None:
        """The WRITETIME of an acknowledged server-stamped write, or None if unreadable."""
        levels = ["ONE"] + ([self.write_cl] if self.write_cl != "ONE" else [])
        for cl in levels:
            try:
                row = self._run(f"SELECT WRITETIME(w) FROM {KEYSPACE}.reg_log "
                                f"WHERE k=%s AND v=%s", (k, v), cl,
                                timeout=VERSION_LOOKUP_TIMEOUT_S).one()
            except Exception:
                continue
            if row is not None and row[0] is not None:
                return int(row[0])
        return None

    def _cas(self, table: str, k: int, value: Any) -> dict:
        expected, new = value
        if expected is None:
            rs = self._run(f"INSERT INTO {KEYSPACE}.{table} (k, v) VALUES (%s, %s) "
                           f"IF NOT EXISTS", (k, int(new)), self.write_cl, serial=True)
        else:
            rs = self._run(f"UPDATE {KEYSPACE}.{table} SET v=%s WHERE k=%s IF v=%s",
                           (int(new), k, int(expected)), self.write_cl, serial=True)
        if not rs.was_applied:
            return {"type": "fail", "value": value, "error": "cas-mismatch"}
        return {"type": "ok", "value": value}

    def _lwt_write(self, table: str, k: int, value: Any) -> dict:
        """A blind write through Paxos (never mixed with plain writes on cas_reg): update if
        the row exists, else insert if it does not. Each not-applied answer is a definite
        no-op, so two of them are a `fail`."""
        v = int(value)
        rs = self._run(f"UPDATE {KEYSPACE}.{table} SET v=%s WHERE k=%s IF EXISTS", (v, k),
                       self.write_cl, serial=True)
        if rs.was_applied:
            return {"type": "ok", "value": value}
        rs = self._run(f"INSERT INTO {KEYSPACE}.{table} (k, v) VALUES (%s, %s) IF NOT EXISTS",
                       (k, v), self.write_cl, serial=True)
        if rs.was_applied:
            return {"type": "ok", "value": value}
        return {"type": "fail", "value": value, "error": "lwt-write-raced"}
