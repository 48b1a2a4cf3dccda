"""Cassandra as the source store of the propagation workloads (`--source cassandra`).

The events queue and the derived store stay on Redis (the run's `--db redis`); a 3-node
Cassandra cluster runs on the same nodes (their namespaces: the partition faults cut it
too) and holds the source and the outbox:

    CREATE TABLE splitbrain.prop_src (k int, seq int, eid int, poison boolean,
                                      ver int static, val int static,
                                      PRIMARY KEY (k, seq))

* the source of key k is the partition's static columns: `ver` (the per-key version,
  1, 2, 3, … like the Redis source's HINCRBY) and `val` (the event id written last);
* the outbox entry of version n is the clustering row `seq = n` of the same partition.

Source write (`CassandraSourceClient.write`), outbox mode: one conditional batch

    BEGIN BATCH
      UPDATE prop_src SET ver = n, val = eid WHERE k = ? IF ver = n-1
      INSERT INTO prop_src (k, seq, eid, poison) VALUES (?, n, eid, ?)
    APPLY BATCH

A batch with a condition must stay in one partition (Cassandra refuses it otherwise); it
runs as ONE lightweight transaction — a Paxos round at serial consistency SERIAL whose
commit is written at QUORUM. So the source row and the outbox row are atomic (one
mutation: both or neither, on every replica) and isolated (a partition's update is
applied as a whole), and versions are linearizable per key: version n is committed only
after n-1 was, exactly once. (A batch without a condition on one partition is also one
mutation — Cassandra skips the batchlog of a LOGGED batch that touches one partition — but
it could not allocate the dense version.) A condition that does not hold is a definite
no-op: the client retries with the version Cassandra returned (≤ CAS_ATTEMPTS), then
fails; a timeout (WriteTimeout of type CAS, unavailable at commit, lost connection) is
`info` — the Paxos proposal may still be committed later by the next round on that key.
Dual-write mode writes the UPDATE alone (the client then XADDs to Redis itself).

Relay (`relay_step`, run by the relay process): poll every partition (`SELECT DISTINCT k`,
a range scan at QUORUM), read each key's outbox rows above the relay's cursor (`seq >
pos[k]`, QUORUM), and publish them in seq order with one Redis script that XADDs the event
to `events` and advances `relay:pos[k]` — publication and cursor move atomically, so each
outbox row is published exactly once even when the relay is killed. Why no entry is
missed: seq values are dense per key, and a Paxos round for version n+1 first completes
any earlier accepted round and makes sure the last commit reached a quorum, so once row
n+1 is visible at QUORUM every row below it is too; the relay publishes only the
contiguous run from pos[k]+1 and stops at a gap. A round that was accepted but whose
commit never reached a quorum (the writer timed out, `info`) becomes visible only through
the next Paxos round on its key: the relay reads each key at SERIAL every SERIAL_EVERY_S
(that read is itself such a round), and the final drain does too. Published rows are not
deleted (no tombstones to scan); a long run re-reads only rows above the cursor.

Readers: `read-source` reads the static `ver` at QUORUM (final reads: CL ONE on the node
itself, as the Cassandra final reads do).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

log = logging.getLogger("splitbrain")

KEYSPACE = "splitbrain"
TABLE = "prop_src"
SCHEMA = (f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} (k int, seq int, eid int, "
          f"poison boolean, ver int static, val int static, PRIMARY KEY (k, seq)) "
          f"WITH speculative_retry = 'NONE'")
CAS_ATTEMPTS = 8          # conditions that did not hold (another writer won) before `fail`
SERIAL_EVERY_S = 2.0      # the relay's SERIAL pass over every key (see the module docstring)
RELAY_BATCH = 200         # outbox rows read per key per poll

# KEYS: events, relay:pos; ARGV: key, seq, eid, poison. 1: published; 0: that row was
# published before (a relay restarted after publishing it)
PUBLISH = """#!lua
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) <= cur then return 0 end
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[1], '*', 'eid', ARGV[3], 'key', ARGV[1], 'ver', ARGV[2], 'poison', '1')
else
  redis.call('XADD', KEYS[1], '*', 'eid', ARGV[3], 'key', ARGV[1], 'ver', ARGV[2])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


def _stmt(cql: str, cl: str, serial: bool = False):
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    st = SimpleStatement(cql, consistency_level=getattr(ConsistencyLevel, cl))
    if serial:
        st.serial_consistency_level = ConsistencyLevel.SERIAL
    return st


def _row_dict(row) -> dict:
    if row is None:
        return {}
    if isinstance(row, dict):
        return row
    return row._asdict() if hasattr(row, "_asdict") else {}


class CassandraSource:
    """The co-hosted Cassandra of one propagation run: start, clients, drain, stop.

    Obligations: `start` returns only with the cluster ready and `prop_src` on every node
    (or raises, having torn down what it started); `stop` tears every node down (SIGKILL by
    recorded pid, logs into `<run_dir>/cassandra/nodes/…`) and never raises."""

    def __init__(self, nodes, prefix: str, run_dir: str):
        from splitbrain.harness.dbs.cassandra import CassandraDB

        self.nodes = list(nodes)
        self.db = CassandraDB(self.nodes, store_dir=os.path.join(run_dir, "cassandra"),
                              prefix=prefix, read_consistency="QUORUM",
                              write_consistency="QUORUM", timestamps="server")
        self._sessions: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        self.guess: dict[int, int] = {}  # last version seen per key (a CAS hint only)

    def start(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        try:
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as ex:
                list(ex.map(self.db.setup, self.nodes))
                list(ex.map(self.db.start, self.nodes))
            self.db.wait_ready(self.db.ready_timeout)
            self._create_table()
        except BaseException:
            self.stop()
            raise

    def _create_table(self) -> None:
        deadline = time.monotonic() + 60.0
        first = self.nodes[0]
        last: Exception | None = None
        while True:
            try:
                self._session(first, False).session().execute(_stmt(SCHEMA, "ONE"),
                                                              timeout=30.0)
                break
            except Exception as e:  # a schema change on a loaded cluster can time out
                last = e
                if time.monotonic() > deadline:
                    raise _problem(f"creating {TABLE} failed: {e}") from None
                time.sleep(0.5)
        for n in self.nodes:  # schema agreement: every coordinator knows the table
            while True:
                try:
                    rows = self._session(n, False).session().execute(_stmt(
                        "SELECT table_name FROM system_schema.tables WHERE keyspace_name=%s "
                        "AND table_name=%s", "ONE"), (KEYSPACE, TABLE), timeout=5.0).all()
                    if rows:
                        break
                except Exception as e:
                    last = e
                if time.monotonic() > deadline:
                    raise _problem(f"{n.name} does not know {TABLE} ({last})")
                time.sleep(0.3)

    def _session(self, node, final: bool):
        from splitbrain.harness.dbs.cassandra_client import NodeSession

        key = (node.name, final)
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = self._sessions[key] = NodeSession(
                    node, self.db.final_settings if final else self.db.settings,
                    port=self.db.port)
            return s

    def client(self, node, process: int, *, final: bool = False) -> "CassandraSourceClient":
        return CassandraSourceClient(self, node, self._session(node, final), final=final)

    def settle(self, timeout: float) -> str | None:
        """After the heal: every coordinator reaches every replica and hints are delivered
        (CassandraDB.settle)."""
        try:
            return self.db.settle(timeout)
        except Exception as e:
            return f"{type(e).__name__}: {e}"

    def relay_behind(self, redis_conn) -> bool:
        """True while some key's source version (read at SERIAL through n1, which also
        completes a Paxos round left uncommitted) is above the relay's cursor, or it
        cannot be told."""
        try:
            s = self._session(self.nodes[0], False).session()
            keys = [r[0] for r in s.execute(_stmt(f"SELECT DISTINCT k FROM {KEYSPACE}.{TABLE}",
                                                  "QUORUM"), timeout=5.0)]
            raw = redis_conn.call("HGETALL", "relay:pos") or []
            pos = {int(raw[i]): int(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}
            for k in keys:
                row = s.execute(_stmt(f"SELECT ver FROM {KEYSPACE}.{TABLE} WHERE k=%s LIMIT 1",
                                      "SERIAL"), (k,), timeout=5.0).one()
                ver = row[0] if row is not None and row[0] is not None else 0
                if ver > pos.get(k, 0):
                    return True
        except Exception:
            return True
        return False

    def stop(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.close()
        for n in self.nodes:
            try:
                self.db.teardown(n)
            except Exception as e:  # the others still go; cleanup finds recorded pids
                log.warning("cassandra teardown on %s failed: %s", n.name, e)


def _problem(msg: str):
    from splitbrain.harness.errors import EnvironmentProblem

    return EnvironmentProblem(f"propagation --source cassandra: {msg}")


class CassandraSourceClient:
    """write-source / read-source of one worker on one pinned coordinator (the worker's
    node). Error mapping as harness/dbs/cassandra_client.classify (writes are LWTs)."""

    def __init__(self, source: CassandraSource, node, session, *, final: bool = False):
        self.source = source
        self.node = node
        self.session = session
        self.final = final

    def read(self, op: dict) -> dict:
        from splitbrain.harness.dbs.cassandra_client import NoSession, describe_error

        cl = "ONE" if self.final else "QUORUM"
        try:
            row = self.session.session().execute(
                _stmt(f"SELECT ver FROM {KEYSPACE}.{TABLE} WHERE k=%s LIMIT 1", cl),
                (int(op["key"]),), timeout=6.0).one()
        except NoSession as e:
            time.sleep(0.1)
            return {"type": "fail", "error": f"not-sent: {e}", "node": self.node.name}
        except Exception as e:
            return {"type": "fail", "error": describe_error(e), "node": self.node.name}
        ver = row[0] if row is not None and row[0] is not None else 0
        return {"type": "ok", "value": {"version": int(ver)}, "node": self.node.name}

    def write(self, op: dict, *, outbox: bool) -> dict:
        """One source write (+ its outbox row when `outbox`): ok with the version it
        committed, fail (certainly no effect), or info."""
        from splitbrain.harness.dbs.cassandra_client import NoSession, classify, describe_error

        k, eid = int(op["key"]), int(op["value"])
        poison = bool(op.get("poison"))
        upd = f"UPDATE {KEYSPACE}.{TABLE} SET ver=%s, val=%s WHERE k=%s IF ver=%s"
        cql = (f"BEGIN BATCH {upd}; INSERT INTO {KEYSPACE}.{TABLE} (k, seq, eid, poison) "
               f"VALUES (%s, %s, %s, %s); APPLY BATCH") if outbox else upd
        st = _stmt(cql, "QUORUM", serial=True)
        cur = self.source.guess.get(k, 0)
        for _ in range(CAS_ATTEMPTS):
            n = cur + 1
            params = (n, eid, k, cur or None) + ((k, n, eid, poison) if outbox else ())
            try:
                rs = self.session.session().execute(st, params, timeout=8.0)
            except NoSession as e:
                time.sleep(0.1)
                return {"type": "fail", "value": eid, "node": self.node.name,
                        "error": f"not-sent: {e}"}
            except Exception as e:
                return {"type": classify(e, write=True, lwt=True), "value": eid,
                        "node": self.node.name, "error": describe_error(e)}
            if rs.was_applied:
                self.source.guess[k] = max(self.source.guess.get(k, 0), n)
                return {"type": "ok", "value": eid, "version": n, "node": self.node.name}
            got = _row_dict(rs.one()).get("ver")
            cur = int(got) if got is not None else 0
            self.source.guess[k] = max(self.source.guess.get(k, 0), cur)
        return {"type": "fail", "value": eid, "node": self.node.name,
                "error": f"cas-contention: the version moved {CAS_ATTEMPTS} times"}


# -- the relay process's side (workloads/propagation_agent.py) ---------------------------

def relay_session(host: str, port: int = 9042):
    """The relay's session: every request through the Cassandra node at `host`."""
    from splitbrain.harness.dbs.cassandra_client import ClientSettings, NodeSession

    return NodeSession(SimpleNamespace(name=host, address=host), ClientSettings(), port=port)


def relay_step(conn, session, state: dict, emit) -> bool:
    """One poll of every key's outbox (module docstring); True if it published."""
    now = time.monotonic()
    serial = now - state.get("serial_at", 0.0) >= SERIAL_EVERY_S
    s = session.session()
    keys = sorted(r[0] for r in s.execute(_stmt(f"SELECT DISTINCT k FROM {KEYSPACE}.{TABLE}",
                                                "QUORUM"), timeout=6.0))
    raw = conn.call("HGETALL", "relay:pos") or []
    pos = {int(raw[i]): int(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}
    sel = _stmt(f"SELECT seq, eid, poison FROM {KEYSPACE}.{TABLE} WHERE k=%s AND seq > %s "
                f"LIMIT {RELAY_BATCH}", "SERIAL" if serial else "QUORUM")
    published = False
    for k in keys:
        c = pos.get(k, 0)
        for seq, eid, poison in s.execute(sel, (k, c), timeout=6.0):
            if seq is None or eid is None:
                continue  # the static-only row of a partition without outbox rows
            if seq != c + 1:
                break  # not visible yet below it: never skip (module docstring)
            if int(conn.call("EVAL", PUBLISH, 2, "events", "relay:pos", k, seq, eid,
                             "1" if poison else "0")):
                emit(f="relay", value=int(eid), key=int(k))
                published = True
            c = seq
    if serial:
        state["serial_at"] = now
    return published
