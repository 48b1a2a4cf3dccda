"""Kafka 4.x (KRaft, Maven Central jars) with the queue workload.

Units need no JVM; the runs start 3 real broker+controller JVMs in network namespaces
(issue 13 acceptance rows):

* acks=all, min.insync.replicas 2, idempotence, under kill/pause/partition -> nothing
  acknowledged lost or reordered; valid except for `duplicate` (one send stored twice
  despite idempotence), which this machine showed in 2 of 4 runs and which is reported.
  A `nonmonotonic-poll` seen once here came from the consumer, not the log: librdkafka
  re-seeks a partition by itself after a leader change (KIP-320 validation) and the
  client did not record it; it now records the poll's `reset` (client.py), which the
  checker honours, so this run is no longer xfail;
* acks=1 and one partition leader cut off from its followers until a follower replaces
  it (`partition-one-primary`) -> lost-write, every run (a plain kill: 3 of 4);
* acks=1 and a SIGKILL of one partition leader (`kill`, target `one-primary`) with
  followers that fetch once per 1.5 s (`--db-opt follower-fetch-wait-ms=1500`) ->
  lost-write, every run; the same with acks=all + min.insync.replicas 2 loses nothing
  (the loss is acks=1's, not the lagging followers').
"""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.dbs.kafka import config as cfg
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import read_history
from tests.integration.runs import assert_witnesses_are_real, run_in


def test_server_properties_static_quorum_and_safety_settings():
    p = cfg.NodePaths("/r/n2/kafka")
    text = cfg.render_properties(node_id=2, address="10.0.0.3",
                                 voters=[(1, "10.0.0.2"), (2, "10.0.0.3"), (3, "10.0.0.4")],
                                 paths=p, replication=3, min_insync=2)
    assert "controller.quorum.voters=1@10.0.0.2:9093,2@10.0.0.3:9093,3@10.0.0.4:9093" in text
    assert "advertised.listeners=PLAINTEXT://10.0.0.3:9092" in text
    assert "min.insync.replicas=2" in text and "unclean.leader.election.enable=false" in text
    assert "log.dirs=/r/n2/kafka/data" in text and "node.id=2" in text
    cid = cfg.cluster_id()
    assert len(cid) == 22 and "=" not in cid


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # A leading '-' made kafka-storage read the id as an option (one CI run in 64).
    import uuid
    dashed = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
    plain = uuid.UUID(bytes=bytes([0x10]) + bytes(15))
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(cfg.uuid, "uuid4", lambda: next(draws))
    cid = cfg.cluster_id()
    assert cid.startswith("E") and len(cid) == 22
    assert next(draws, None) is None


def test_follower_fetch_wait_renders_replica_fetch_settings_only_when_set():
    p = cfg.NodePaths("/r/n1/kafka")
    kw = dict(node_id=1, address="10.0.0.2", voters=[(1, "10.0.0.2")], paths=p,
              replication=1, min_insync=1)
    assert "replica.fetch" not in cfg.render_properties(**kw)
    text = cfg.render_properties(**kw, follower_fetch_wait_ms=1500)
    assert "replica.fetch.wait.max.ms=1500" in text
    assert "replica.fetch.min.bytes=1048576" in text
    # the wait stays under the ISR lag limit, or the followers would leave the ISR
    assert 1500 <= cfg.MAX_FOLLOWER_FETCH_WAIT_MS < cfg.REPLICA_LAG_TIME_MAX_MS
    assert f"replica.lag.time.max.ms={cfg.REPLICA_LAG_TIME_MAX_MS}" in text
    t = build_test({"db": "kafka", "workload": "queue",
                    "db_options": {"follower-fetch-wait-ms": "1500"}})
    assert t.db_settings.follower_fetch_wait_ms == 1500


@pytest.mark.parametrize("flags,needle", [
    ({"db": "kafka", "workload": "register"}, "queue workload"),
    ({"db": "kafka", "workload": "queue", "kafka_min_insync": 4}, "--kafka-min-insync"),
    ({"db": "kafka", "workload": "queue", "kafka_acks": "2"}, "--kafka-acks"),
    ({"db": "cassandra", "workload": "queue"}, "its queue model"),
    ({"db": "kafka", "workload": "queue", "db_options": {"follower-fetch-wait-ms": "9000"}},
     "follower-fetch-wait-ms"),
])
def test_bad_kafka_settings_are_input_errors(flags, needle):
    with pytest.raises(InputError, match=needle):
        build_test(flags)


def test_test_name_says_acks_and_isr():
    t = build_test({"db": "kafka", "workload": "queue", "kafka_acks": "1"})
    assert t.test_name == "kafka-acks1-isr2-queue"


def test_primaries_asks_again_when_metadata_times_out(monkeypatch):
    """`partition-one-primary` needs a leader: a metadata request that timed out on a
    loaded machine is retried, not taken as "no leader" (which skips the fault)."""
    from types import SimpleNamespace as NS

    from splitbrain.harness.dbs.kafka.client import TOPIC
    from splitbrain.harness.dbs.kafka.db import KafkaDB

    nodes = [NS(name=f"n{i}", address=f"10.9.0.{i}") for i in (1, 2, 3)]
    db = KafkaDB(nodes, store_dir="/nonexistent", prefix="sbtest")
    parts = {0: NS(leader=2), 1: NS(leader=3), 2: NS(leader=-1)}
    answers = [None, None, NS(topics={TOPIC: NS(partitions=parts)})]
    monkeypatch.setattr(db, "_metadata", lambda timeout=3.0: answers.pop(0))
    monkeypatch.setattr("splitbrain.harness.dbs.kafka.db.time.sleep", lambda s: None)
    assert [n.name for n in db.primaries()] == ["n2", "n3"]
    answers[:] = [None] * 3
    assert db.primaries() == []


_RUN = dict(db="kafka", workload="queue", concurrency=8, rate=400, quiesce=5.0)


@pytest.mark.root
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_acks_all_min_insync_2_idempotent_under_faults_is_valid(tmp_path):
    out = run_in(tmp_path, nemesis="kill,pause,partition", nemesis_interval=6, time_limit=40,
                 nemesis_options={"kill": {"targets": ["one"]}, "pause": {"targets": ["one"]},
                                  "partition": {"shapes": ["one"]}},
                 kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True, **_RUN)
    res = out.results
    assert res is not None
    q = res["checkers"]["queue"]
    # (throughput on a shared 2-core machine with three JVMs is low: tens of sends)
    assert q["stats"]["sends_ok"] >= 10 and q["stats"]["messages_read"] > 0
    # Nothing acknowledged is lost or reordered. The one finding this setup has shown
    # here (2 of 4 runs) is `duplicate`: one send stored at two or three offsets although
    # the producer is idempotent (librdkafka 2.16 + Kafka 4.4 under partitions/pauses,
    # cf. librdkafka#4953). It is a real finding and stays one (the run is invalid); the
    # test pins down that it is the only kind, each naming the single send.
    kinds = {a["type"] for a in q["anomalies"]}
    assert kinds <= {"duplicate"}, q["anomalies"][:3]
    if kinds:
        hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
        sends = {o.index: o for o in hist.ops if o.f == "send"}
        for a in q["anomalies"]:
            assert a["writer"] in sends and sends[a["writer"]].value == a["value"]
            assert a["count"] >= 2
    else:
        assert q["valid"] is True
    # the schedule picks families at random (seeded): at least two of the three ran
    assert len({"kill", "pause", "start-partition"} & {o["f"] for o in _nemesis(out.run_dir)}) >= 2


@pytest.mark.root
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_acks_1_with_an_isolated_leader_replaced_loses_acknowledged_writes(tmp_path):
    """acks=1: a partition leader acknowledges a send once it is in its own log, before
    any follower has fetched it. When leadership moves to a follower, the old leader
    truncates to the new leader's log and those acknowledged sends are gone.

    A plain leader kill only loses what the followers had not fetched yet (milliseconds
    of sends): lost-write in 3 of 4 runs here, so the failure is made certain instead.
    `partition-one-primary` cuts one current leader off from the other two nodes (the
    client still reaches every node). It keeps acknowledging acks=1 sends that its
    followers never get (its ISR cannot shrink: that needs the controller quorum, which
    is on the other side). The majority's controller fences it after
    `broker.session.timeout.ms` (6 s) and elects a follower, a clean election from the
    ISR. On heal the old leader truncates. The producer keeps sending to the old leader
    throughout, because it gets no error. Its high watermark never moves, so no consumer
    read those sends, and the final re-read finds them gone. The 12 s isolation leaves
    6 s of margin for the election on a loaded machine. From the CLI:
    `splitbrain run --db kafka --workload queue --kafka-acks 1 --no-kafka-idempotence
    --nemesis partition-one-primary --nemesis-interval 12 --time-limit 27`."""
    out = run_in(tmp_path, nemesis="partition-one-primary", nemesis_interval=12,
                 time_limit=27, kafka_acks="1", kafka_idempotence=False, **_RUN)
    lost, sends = _acknowledged_sends_lost(out)
    # the fault ran once, on a node that led a partition, and healed
    nem = _nemesis(out.run_dir)
    started = [o for o in nem if o["f"] == "start-partition" and o["type"] == "info"]
    assert len(started) == 1 and "error" not in started[0], started
    assert started[0]["value"]["shape"] == "one-primary"
    assert any(o["f"] == "stop-partition" and o["type"] == "info" for o in nem)
    # the loss is this fault's: some lost send was acknowledged while the leader was cut off
    t0 = min(o["time"] for o in nem if o["f"] == "start-partition")
    t1 = max(o["time"] for o in nem if o["f"] == "stop-partition")
    assert any(t0 <= sends[a["writer"]].t_ret <= t1 for a in lost)


@pytest.mark.root
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_acks_1_with_the_leader_killed_loses_acknowledged_writes(tmp_path):
    """acks=1 + a SIGKILL of a partition leader -> lost-write, every run.

    With Kafka's default follower fetching (a fetch returns as soon as one byte is
    there) followers are milliseconds behind, so a kill loses only the in-flight tail:
    3 of 4 runs here. `follower-fetch-wait-ms=1500` (`replica.fetch.min.bytes` 1 MiB,
    `replica.fetch.wait.max.ms` 1500) makes followers fetch once per 1.5 s, a lagging
    follower as on a busy or distant replica: an acks=1 leader has then always
    acknowledged up to 1.5 s of sends its followers lack. Each kill (at ~8, ~24 and
    ~40 s, a restart 8 s after each) takes one
    broker that leads partitions down (`one-primary`: with 8 partitions every broker
    leads some, and `primaries` would kill all three); the followers are still in the ISR
    (the wait is under replica.lag.time.max.ms, 5 s), so the controller elects one
    cleanly once the killed broker's session lapses (6 s), and the restarted broker
    truncates to the new leader's log. The final re-read of each partition no longer
    holds the acknowledged tail: 4 to 65 lost sends per run here. One kill finds none
    when the killed broker leads none of the (at most 4) partitions being written, or
    a fetch had just returned: 2 of 12 kills here, none of them a first kill; hence
    three. From the CLI (kill-leader.toml holds
    `[nemesis_options.kill] targets = ["one-primary"]`):
    `splitbrain run --db kafka --workload queue --kafka-acks 1 --no-kafka-idempotence
    --db-opt follower-fetch-wait-ms=1500 --nemesis kill --nemesis-interval 8
    --time-limit 42 --config kill-leader.toml`."""
    out = run_in(tmp_path, nemesis="kill", nemesis_interval=8, time_limit=42,
                 nemesis_options={"kill": {"targets": ["one-primary"]}},
                 db_options={"follower-fetch-wait-ms": 1500},
                 kafka_acks="1", kafka_idempotence=False, **_RUN)
    lost, sends = _acknowledged_sends_lost(out)
    # two or three kills ran (the third lands near the end), each of one partition
    # leader, and the nodes were restarted
    nem = _nemesis(out.run_dir)
    kills = [o for o in nem if o["f"] == "kill" and o["type"] == "info"]
    assert len(kills) >= 2 and all("error" not in o for o in kills), kills
    assert all(o["value"]["targets"] == "one-primary" and len(o["value"]["nodes"]) == 1
               for o in kills), kills
    assert any(o["f"] == "start" and o["type"] == "info" for o in nem)
    # some lost send was acknowledged in the last 2 s before a kill (the tail only the
    # dead leader had; times in ns)
    assert any(o["time"] - 2e9 <= sends[a["writer"]].t_ret <= o["time"]
               for a in lost for o in kills)


@pytest.mark.root
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_acks_all_with_lagging_followers_and_the_leader_killed_loses_nothing(tmp_path):
    """The control of the test above: the same lagging followers and leader kill, but
    acks=all with min.insync.replicas 2, so a send is acknowledged only once a follower
    has it. Nothing acknowledged is lost, so the lost-write above is acks=1's. Each ack
    waits for a follower fetch (up to 1.5 s), so throughput is low (30-50 sends here).
    The one finding allowed is the known idempotent-producer `duplicate` (see
    test_acks_all_min_insync_2_idempotent_under_faults_is_valid; 1 of 2 runs here)."""
    out = run_in(tmp_path, nemesis="kill", nemesis_interval=8, time_limit=18,
                 nemesis_options={"kill": {"targets": ["one-primary"]}},
                 db_options={"follower-fetch-wait-ms": 1500},
                 kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True, **_RUN)
    res = out.results
    assert res is not None
    q = res["checkers"]["queue"]
    assert q["stats"]["sends_ok"] >= 10 and q["stats"]["messages_read"] > 0
    kinds = {a["type"] for a in q["anomalies"]}
    assert kinds <= {"duplicate"}, q["anomalies"][:3]
    if not kinds:
        assert q["valid"] is True
    kills = [o for o in _nemesis(out.run_dir) if o["f"] == "kill" and o["type"] == "info"]
    assert len(kills) == 1, kills
    assert all("error" not in o and len(o["value"]["nodes"]) == 1 for o in kills), kills


def _nemesis(run_dir):
    from splitbrain.harness.history import read_history

    return read_history(os.path.join(run_dir, "history.jsonl")).nemesis


def test_send_error_mapping_fail_only_before_append():
    from confluent_kafka import KafkaError

    from splitbrain.harness.dbs.kafka.client import _fail_codes

    codes = _fail_codes()
    assert KafkaError._QUEUE_FULL in codes and KafkaError.MSG_SIZE_TOO_LARGE in codes
    # NOT_ENOUGH_REPLICAS is the last retry's answer: an earlier attempt may have landed
    for maybe_committed in (KafkaError._MSG_TIMED_OUT, KafkaError.REQUEST_TIMED_OUT,
                            KafkaError.NOT_ENOUGH_REPLICAS,
                            KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                            KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError._TRANSPORT):
        assert maybe_committed not in codes


def _acknowledged_sends_lost(out):
    """The run is INVALID with lost-writes whose witnesses are real ops, each the
    acknowledged send of that key and value. Returns (the lost-writes, sends by index)."""
    res = out.results
    assert res is not None
    q = res["checkers"]["queue"]
    lost = [a for a in q["anomalies"] if a["type"] == "lost-write"]
    assert lost, f"no lost-write; found {sorted({a['type'] for a in q['anomalies']})}"
    assert q["valid"] is False and res["valid"] is False
    assert_witnesses_are_real(out.run_dir, res, "queue")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    sends = {o.index: o for o in hist.ops if o.f == "send"}
    for a in lost:
        w = sends[a["writer"]]
        assert w.type == "ok" and w.value == a["value"] and w.key == a["key"]
    return lost, sends
