"""`--queue kafka` for the propagation workload: the outbox relay publishes to a KRaft
Kafka on the same nodes (topic `queue`, one partition, RF 3, acks=all, idempotent), the
consumer (static group member) applies and then commits — under kill-consumer,
kill-relay, replay (the consumer seeks back) and poison (attempts counted in Redis, then
dead-lettered), on real Redis + real Kafka in namespaces."""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import run_in


@pytest.mark.root
@pytest.mark.redis
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_outbox_through_kafka_under_pipeline_faults_is_valid(tmp_path):
    out = run_in(tmp_path, workload="propagation", queue="kafka",
                 nemesis="kill-consumer,kill-relay,replay,poison", nemesis_interval=2,
                 time_limit=16, concurrency=4, rate=100, quiesce=2.0)
    res = out.results
    assert res is not None
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    assert res["checkers"]["propagation-lag"]["stats"]["events_measured"] > 50
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    applies = [o for o in hist.ops if o.f == "apply" and o.type == "ok"]
    # the events came through Kafka: every apply names its topic offset
    assert applies and all(isinstance((o.extra or {}).get("offset"), int) for o in applies)
    assert {"kill-consumer", "kill-relay", "replay", "start-poison"} <= {e["f"] for e in hist.nemesis}
    assert any(o.f == "replayed" for o in hist.ops)  # the consumer answered the replay
    d = res["checkers"]["dlq-conservation"]["stats"]
    assert d["dead_lettered"] > 0 and d["dead_lettered"] == d["poisoned_committed"]
