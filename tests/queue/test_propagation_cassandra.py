"""`--source cassandra` for the propagation workloads: the source and its outbox in a real
3-node Cassandra on the same nodes (harness/dbs/cassandra_outbox.py), the relay polling
the outbox partitions and publishing to Redis Streams, the consumer applying to the
derived Redis store as with the Redis source.

* the option is refused where it cannot run (fast);
* the relay step against a real redis-server and a scripted outbox: contiguous per key,
  never past a gap, each row published once across relay restarts (redis);
* acceptance on real servers (root, slow): outbox + `version` consumer under partitions
  -> every propagation checker valid, lag measured, the derived store converged; dual
  write with client crashes -> lost-event > 0.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import read_history

CASSANDRA = pytest.mark.skipif(shutil.which("java") is None,
                               reason="Cassandra needs Java 17 (openjdk-17-jre-headless)")


# -- the option ---------------------------------------------------------------------------

def test_source_option_from_flags_and_toml(tmp_path):
    assert build_test({"workload": "propagation", "source": "cassandra"}).source == "cassandra"
    assert build_test({"workload": "propagation"}).source == "redis"
    cfg = tmp_path / "run.toml"
    cfg.write_text('workload = "propagation-dual-write"\nsource = "cassandra"\n')
    assert build_test({}, str(cfg)).source == "cassandra"


@pytest.mark.parametrize("settings, words", [
    ({"workload": "register", "source": "cassandra"}, "propagation workloads"),
    ({"workload": "propagation", "source": "cassandra", "queue": "kafka"}, "Redis Streams"),
    ({"workload": "propagation", "source": "mysql"}, "allowed: redis, cassandra"),
])
def test_source_option_refused_where_it_cannot_run(settings, words):
    with pytest.raises(InputError, match=words):
        build_test(settings)


# -- the relay step: a scripted outbox, a real Redis -------------------------------------

class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return iter(self.rows)


class _FakeCassandra:
    """The two queries relay_step makes, answered from `outbox` {key: {seq: (eid, poison)}}
    — rows a QUORUM read can see; records the consistency level of each outbox read."""

    def __init__(self):
        self.outbox: dict[int, dict[int, tuple[int, bool]]] = {}
        self.levels: list[str] = []

    def session(self):
        return self

    def execute(self, st, params=None, timeout=None):
        from cassandra import ConsistencyLevel

        if "DISTINCT" in st.query_string:
            return _Rows([(k,) for k in self.outbox])
        self.levels.append(ConsistencyLevel.value_to_name[st.consistency_level])
        k, above = params
        return _Rows([(s, e, p) for s, (e, p) in sorted(self.outbox[k].items()) if s > above])


@pytest.mark.redis
@pytest.mark.timeout(90)
def test_relay_publishes_each_outbox_row_once_in_order_and_never_past_a_gap(tmp_path):
    from splitbrain.harness.dbs import cassandra_outbox as co
    from splitbrain.harness.dbs.resp import RespConnection
    from tests.dbs.local_cluster import redis_cluster

    fake = _FakeCassandra()
    fake.outbox = {0: {1: (10, False), 2: (11, True), 4: (13, False)}, 1: {1: (20, False)}}
    emitted: list[dict] = []
    with redis_cluster(tmp_path, 1) as (db, nodes):
        conn = RespConnection(nodes[0].address, db.port, connect_timeout=1, op_timeout=2)
        state: dict = {}

        def events():
            out = []
            for _id, raw in conn.call("XRANGE", "events", "-", "+"):
                f = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
                out.append((int(f["key"]), int(f["ver"]), int(f["eid"]), f.get("poison")))
            return out

        assert co.relay_step(conn, fake, state, lambda **e: emitted.append(e))
        # key 0 stops before the gap at seq 3 (not yet visible); the poison flag travels
        assert events() == [(0, 1, 10, None), (0, 2, 11, "1"), (1, 1, 20, None)]
        assert fake.levels[0] == "SERIAL"  # the first pass completes unfinished Paxos rounds
        fake.outbox[0][3] = (12, False)
        co.relay_step(conn, fake, state, lambda **e: emitted.append(e))
        assert [e[2] for e in events()] == [10, 11, 20, 12, 13]
        # a restarted relay (fresh state) publishes nothing twice: the cursor moved with
        # each XADD in one script
        assert not co.relay_step(conn, fake, {}, lambda **e: emitted.append(e))
        assert len(events()) == 5
        assert [e["value"] for e in emitted] == [10, 11, 20, 12, 13]
        assert all(e["f"] == "relay" for e in emitted)
        # and the script itself refuses a row at or below the cursor
        assert conn.call("EVAL", co.PUBLISH, 2, "events", "relay:pos", 0, 2, 11, "0") == 0


# -- the source client's lightweight transactions, against a scripted session ------------

class _CasResult:
    def __init__(self, applied, ver=None):
        self.was_applied = applied
        self._ver = ver

    def one(self):
        from collections import namedtuple

        return namedtuple("Row", "applied ver")(self.was_applied, self._ver)


class _CasSession:
    """Answers each execute with the next scripted outcome (a _CasResult or an exception)
    and records the bound parameters."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[tuple] = []

    def session(self):
        return self

    def execute(self, st, params=None, timeout=None):
        self.calls.append((st.query_string, params))
        out = self.outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out


def _client(session):
    from types import SimpleNamespace

    from splitbrain.harness.dbs.cassandra_outbox import CassandraSourceClient

    src = SimpleNamespace(guess={})
    return src, CassandraSourceClient(src, SimpleNamespace(name="n2"), session)


def test_source_write_retries_a_lost_condition_with_the_version_cassandra_returned():
    s = _CasSession(_CasResult(False, 4), _CasResult(True))
    src, c = _client(s)
    out = c.write({"f": "write-source", "key": 7, "value": 99, "poison": True}, outbox=True)
    assert out == {"type": "ok", "value": 99, "version": 5, "node": "n2"}
    # first try: a new key (IF ver = null); then version 5 after 4, with its outbox row
    assert s.calls[0][1] == (1, 99, 7, None, 7, 1, 99, True)
    assert s.calls[1][1] == (5, 99, 7, 4, 7, 5, 99, True)
    assert "BEGIN BATCH" in s.calls[1][0] and "IF ver=" in s.calls[1][0]
    assert src.guess[7] == 5
    # dual write: the source row alone, no outbox row
    s2 = _CasSession(_CasResult(True))
    src.guess.clear()
    c.session = s2
    assert c.write({"f": "write-source", "key": 1, "value": 3}, outbox=False)["version"] == 1
    assert "BATCH" not in s2.calls[0][0] and len(s2.calls[0][1]) == 4


def test_source_write_outcomes_follow_the_error_mapping():
    from cassandra import WriteTimeout, WriteType

    from splitbrain.harness.dbs import cassandra_outbox as co
    from splitbrain.harness.dbs.cassandra_client import NoSession

    op = {"f": "write-source", "key": 1, "value": 5}
    # a Paxos round that timed out may still commit: info
    _, c = _client(_CasSession(WriteTimeout("CAS operation timed out", write_type=WriteType.name_to_value["CAS"])))
    assert c.write(op, outbox=True)["type"] == "info"
    # nothing sent: fail
    _, c = _client(_CasSession(NoSession("no connection to n2")))
    assert c.write(op, outbox=True)["type"] == "fail"
    # every condition lost (each a definite no-op): fail after CAS_ATTEMPTS tries
    s = _CasSession(*[_CasResult(False, v) for v in range(1, co.CAS_ATTEMPTS + 1)])
    _, c = _client(s)
    out = c.write(op, outbox=True)
    assert out["type"] == "fail" and "cas-contention" in out["error"]
    assert len(s.calls) == co.CAS_ATTEMPTS


# -- acceptance on real servers ----------------------------------------------------------

@pytest.fixture
def store():
    """Outside pytest's basetemp (concurrent pytest sessions prune each other's)."""
    d = tempfile.mkdtemp(prefix="sbcsrc-test-", dir="/var/tmp")
    try:
        yield __import__("pathlib").Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _run(store, **settings):
    from tests.integration.runs import run_in

    return run_in(store, source="cassandra", concurrency=4, quiesce=2.0, **settings)


@CASSANDRA
@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_cassandra_outbox_with_version_consumer_under_partitions_is_valid_and_converges(store):
    # partitions cut Cassandra, Redis and the relay's coordinator alike; a killed relay
    # restarts from its cursors in Redis
    out = _run(store, workload="propagation", nemesis="partition,kill-relay",
               nemesis_interval=4, time_limit=16, rate=60)
    res = out.results
    assert res is not None
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    assert res["nemesis"]["applied"].get("partition", 0) >= 1, res["nemesis"]
    lag = res["checkers"]["propagation-lag"]["stats"]
    assert lag["events_measured"] > 30 and lag["upper_p50_ms"] > 0, lag
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    ops = hist.ops
    writes = [o for o in ops if o.f == "write-source" and o.type == "ok"]
    # the source was Cassandra: dense per-key versions, as the Redis source's
    by_key: dict = {}
    for w in writes:
        by_key.setdefault(w.key, []).append(w.version)
    for k, vs in by_key.items():
        assert len(set(vs)) == len(vs) and min(vs) >= 1, (k, sorted(vs))
    # every committed outbox row went out and was applied (a relay killed between its
    # publish and its report may leave a relay op unreported, so count the applies)
    applied = {o.value for o in ops if o.f == "apply" and o.type == "ok"}
    assert {w.value for w in writes} <= applied
    assert any(o.f == "relay" for o in ops)
    # converged: no queue left, and on every key the most advanced final derived read is
    # at the most advanced final source version
    assert [o.value for o in ops if o.f == "queue-backlog" and o.type == "ok"] == [False]
    src, der = {}, {}
    for o in ops:
        if o.final and o.type == "ok" and o.f in ("read-source", "read-derived"):
            d = src if o.f == "read-source" else der
            d[o.key] = max(d.get(o.key, 0), (o.value or {}).get("version") or 0)
    assert src and all(der.get(k, 0) >= v for k, v in src.items()), (src, der)
    with open(os.path.join(out.run_dir, "results.json")) as fh:
        assert json.load(fh)["checkers"]["lost-event"]["stats"]["events_checked"] > 30
    print(f"cassandra outbox: {len(writes)} events ok, lag p50 {lag['upper_p50_ms']} ms "
          f"p99 {lag['upper_p99_ms']} ms, faults {res['nemesis']['applied']}")


@CASSANDRA
@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_cassandra_source_dual_write_with_client_crashes_loses_events(store):
    from tests.integration.runs import assert_witnesses_are_real

    out = _run(store, workload="propagation-dual-write", nemesis="none", time_limit=6,
               rate=60)
    res = out.results
    assert res is not None
    lost = res["checkers"]["lost-event"]
    assert lost["valid"] is False and lost["anomaly_count"] > 0
    assert_witnesses_are_real(out.run_dir, res, "lost-event")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    unpublished = {o.value for o in hist.ops
                   if o.f == "write-source" and (o.extra or {}).get("published") is False}
    assert {a["event"] for a in lost["anomalies"]} <= unpublished
