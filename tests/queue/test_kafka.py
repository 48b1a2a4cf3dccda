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
* acks=1 and killed nodes (each leads about a third of the partitions) -> lost-write.
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


@pytest.mark.parametrize("flags,needle", [
    ({"db": "kafka", "workload": "register"}, "queue workload"),
    ({"db": "kafka", "workload": "queue", "kafka_min_insync": 4}, "--kafka-min-insync"),
    ({"db": "kafka", "workload": "queue", "kafka_acks": "2"}, "--kafka-acks"),
    ({"db": "cassandra", "workload": "queue"}, "its queue model"),
])
def test_bad_kafka_settings_are_input_errors(flags, needle):
    with pytest.raises(InputError, match=needle):
        build_test(flags)


def test_test_name_says_acks_and_isr():
    t = build_test({"db": "kafka", "workload": "queue", "kafka_acks": "1"})
    assert t.test_name == "kafka-acks1-isr2-queue"


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
@pytest.mark.timeout(1500)
@pytest.mark.xfail(strict=False, reason="probabilistic: a leader kill does not always land "
                   "between an acks=1 ack and replication on a short run (here: lost-write "
                   "in 3 of 4 single runs, 2026-12-02)")
def test_acks_1_with_leader_kills_loses_acknowledged_writes(tmp_path):
    """A leader acknowledges at acks=1 before its followers have the record; when it is
    killed a follower takes over without it, and the restarted old leader truncates. The
    window is the replication lag, so a run can miss it: up to two runs."""
    kinds: set = set()
    for attempt in range(2):
        out = run_in(tmp_path / f"a{attempt}", nemesis="kill", nemesis_interval=4,
                     time_limit=30, nemesis_options={"kill": {"targets": ["one"]}},
                     kafka_acks="1", kafka_idempotence=False, **_RUN)
        res = out.results
        assert res is not None
        q = res["checkers"]["queue"]
        kinds = {a["type"] for a in q["anomalies"]}
        if "lost-write" in kinds:
            assert q["valid"] is False
            assert_witnesses_are_real(out.run_dir, res, "queue")
            return
    pytest.fail(f"no lost-write in two acks=1 runs with leader kills; found {kinds}")


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
