"""CassandraDB's kill / restart / pause book-keeping without a cluster: the process and
gossip probes are replaced by a scripted fake (the live behaviour is
test_cassandra_faults.py's)."""

from __future__ import annotations

import itertools
import time

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon
from splitbrain.harness.dbs.cassandra import CassandraDB
from splitbrain.harness.dbs.cassandra_install import CassandraDist
from splitbrain.harness.errors import EnvironmentProblem

NODES = [Node(f"n{i}", f"10.9.0.{i}", None, "/nonexistent") for i in (1, 2, 3)]


class FakeProcs:
    """Pids that live until SIGKILL (unless `unkillable`), and a gossip view per node."""

    def __init__(self):
        self.pids = itertools.count(100)
        self.alive: set[int] = set()
        self.unkillable: set[int] = set()
        self.signals: list[tuple[str, int, str]] = []
        self.gens = {n.address: 1 for n in NODES}            # each node's own generation
        self.views = {n.address: dict(self.gens) for n in NODES}  # what each node knows
        self.cql_down: set[str] = set()

    def install(self, db: CassandraDB) -> None:
        db.dist = lambda: CassandraDist("5.0.8", "/c/lib", "/c/lib/jamm.jar", "maven")
        db._java = "/usr/bin/java"
        # the process primitives live in the shared Supervisor (harness/dbs/daemons.py)
        db.procs._spawn = lambda node, argv, log_path, env, what: self.spawn(node, argv,
                                                                             log_path, env)
        db.procs._alive = lambda node, d: d.pid in self.alive
        db.procs._signal = self.signal
        db.procs._wait_gone = lambda node, d, timeout: d.pid not in self.alive
        db.procs._unregister = lambda d: None
        db._gossip_rows = self.rows
        db._log_tail = lambda node, lines=4: "(fake)"

    def spawn(self, node, argv, stdout_path, env):
        pid = next(self.pids)
        self.alive.add(pid)
        self.gens[node.address] += 1
        self.views[node.address] = {}        # knows nobody's current state yet
        self.cql_down.add(node.address)
        return Daemon(pid=pid, argv=tuple(argv), log_path=stdout_path)

    def signal(self, node, d, sig):
        self.signals.append((node.name, d.pid, sig))
        if sig == "KILL" and d.pid not in self.unkillable:
            self.alive.discard(d.pid)
        return True

    def rows(self, node):
        if node.address in self.cql_down:
            raise ConnectionError("CQL not up")
        return dict(self.views[node.address])

    def gossip(self, a: Node, b: Node) -> None:
        """a and b exchange gossip: each learns the other's current generation."""
        self.views[a.address][b.address] = self.gens[b.address]
        self.views[b.address][a.address] = self.gens[a.address]
        self.views[a.address][a.address] = self.gens[a.address]
        self.views[b.address][b.address] = self.gens[b.address]


def _db(fake: FakeProcs, **kw) -> CassandraDB:
    db = CassandraDB(NODES, store_dir="/nonexistent", prefix="sbunit", home="/c", **kw)
    fake.install(db)
    for n in NODES:
        db.start(n)                       # first start: returns at once
    for st in db._state.values():         # what wait_ready concludes on a live cluster
        st.ready = True
    fake.cql_down.clear()
    for a, b in itertools.combinations(NODES, 2):
        fake.gossip(a, b)
    return db


def _later(delay: float, fn) -> None:
    import threading

    threading.Timer(delay, fn).start()


def test_first_start_does_not_wait_and_restart_waits_for_gossip_both_ways():
    fake = FakeProcs()
    db = _db(fake)
    n1, n2, n3 = NODES
    old = db._state["n2"].daemon.pid
    db.kill(n2)
    assert ("n2", old, "KILL") in fake.signals and db._state["n2"].daemon is None

    def rejoin():
        fake.cql_down.discard(n2.address)
        fake.views[n2.address][n2.address] = fake.gens[n2.address]
        time.sleep(0.3)
        fake.gossip(n2, n1)   # n3 still has the old generation: start must keep waiting
        time.sleep(0.3)
        fake.gossip(n2, n3)

    _later(0.2, rejoin)
    t0 = time.monotonic()
    db.start(n2)
    took = time.monotonic() - t0
    assert took >= 0.75, took             # not before both peers agreed
    (rec,) = db.restarts
    assert rec["node"] == "n2" and rec["old_pid"] == old and rec["pid"] != old
    assert rec["cql_s"] < rec["rejoined_s"] and db._state["n2"].ready
    db.start(n2)                          # running and rejoined: a no-op
    assert len(db.restarts) == 1


def test_paused_and_dead_peers_are_not_waited_for():
    fake = FakeProcs()
    db = _db(fake)
    n1, n2, n3 = NODES
    db.pause(n3)
    db.kill(n1)
    db.kill(n2)

    def up():  # n2 answers CQL; it never hears from n1 (dead) or n3 (stopped)
        fake.views[n2.address][n2.address] = fake.gens[n2.address]
        fake.cql_down.discard(n2.address)

    _later(0.1, up)
    db.start(n2)
    assert db.restarts[-1]["node"] == "n2"


def test_a_restart_that_never_rejoins_is_an_environment_problem_naming_the_node():
    fake = FakeProcs()
    db = _db(fake)
    db.restart_timeout = 0.6
    db.kill(NODES[1])
    with pytest.raises(EnvironmentProblem, match="n2 did not rejoin .*no CQL answer"):
        db.start(NODES[1])
    assert not db._state["n2"].ready and db.restarts == []


def test_a_restart_gives_up_when_its_jvm_dies():
    fake = FakeProcs()
    db = _db(fake)
    db.kill(NODES[0])
    _later(0.2, lambda: fake.alive.discard(db._state["n1"].daemon.pid))
    with pytest.raises(EnvironmentProblem, match="n1 exited while restarting"):
        db.start(NODES[0])


def test_kill_that_does_not_end_the_process_keeps_the_pid_recorded():
    fake = FakeProcs()
    db = _db(fake)
    d = db._state["n1"].daemon
    fake.unkillable.add(d.pid)
    with pytest.raises(EnvironmentProblem, match="still runs"):
        db.kill(NODES[0])
    assert db._state["n1"].daemon is d    # teardown will signal it again


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def all(self):
        return self.rows

    def one(self):
        return self.rows[0]


def test_schema_is_ready_only_once_every_node_has_every_table_and_one_version(monkeypatch):
    """The readiness DDL skips the driver's per-statement agreement wait (admin sessions
    only); _create_schema itself waits until every node has the tables and every node's
    own schema_version is the same."""
    from splitbrain.harness.dbs import cassandra as mod
    from splitbrain.harness.dbs.cassandra_client import TABLES

    db = CassandraDB(NODES, store_dir="/nonexistent", prefix="sbunit", home="/c")
    assert db._session(NODES[0], "admin").settings.schema_agreement_wait == 0
    assert db._session(NODES[0], "run").settings.schema_agreement_wait > 0
    assert db._session(NODES[0], "final").settings.schema_agreement_wait > 0
    versions = {"n1": "v2", "n2": "v1", "n3": "v2"}  # n2 has not applied the last change
    asked = []

    def query(node, cql, cl, params=(), timeout=5.0):
        if cql.startswith("SELECT table_name"):
            return _Rows([(t,) for t in TABLES])
        if "schema_version" in cql:
            asked.append(node.name)
            if len(asked) == 6:  # the second round: n2 caught up
                versions["n2"] = "v2"
            return _Rows([(versions[node.name],)])
        return _Rows([])

    monkeypatch.setattr(db, "_query", query)
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    db._create_schema(time.monotonic() + 5)
    assert db._schema_ready and len(asked) >= 6

    db2 = CassandraDB(NODES, store_dir="/nonexistent", prefix="sbunit", home="/c")
    db2._log_tail = lambda node, lines=4: "(fake)"
    versions["n2"] = "v1"
    asked.clear()
    asked.extend(range(100))  # never catches up
    monkeypatch.setattr(db2, "_query", query)
    with pytest.raises(EnvironmentProblem, match="do not agree on the schema"):
        db2._create_schema(time.monotonic() + 0.2)
    assert not db2._schema_ready
