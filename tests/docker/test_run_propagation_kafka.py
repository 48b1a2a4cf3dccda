"""`splitbrain run --workload propagation --queue kafka --backend docker`: Redis and a
KRaft Kafka in the containers of the standard node image (the Kafka jars and this
machine's Java bind-mounted read-only: Kafka's NodeNeeds.host_dirs, added for the queue),
the relay and consumer on the controller (the containers have no splitbrain), partitions
by iptables inside the containers cutting Redis and Kafka alike. The verdict the netns
run gives (tests/queue/test_propagation_kafka.py): every checker valid, the events
through Kafka; container and network counts return to what they were."""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.docker.conftest import resource_counts
from tests.integration.runs import run_in
from tests.queue.kafka_backends import assert_faults_applied

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_outbox_through_kafka_on_docker_under_a_partition_is_valid(tmp_path, docker_client,
                                                                    node_image):
    before = resource_counts(docker_client)
    # one partition (5 s to 10 s), then healed
    out = run_in(tmp_path, backend="docker", workload="propagation", queue="kafka",
                 nemesis="partition", nemesis_interval=5, time_limit=15,
                 nemesis_options={"partition": {"shapes": ["one"]}},
                 concurrency=4, rate=100, quiesce=2.0, seed=7)
    res = out.results
    assert res is not None, out
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    assert res["checkers"]["propagation-lag"]["stats"]["events_measured"] > 20
    assert assert_faults_applied(res, 1) == {"partition"}
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    applies = [o for o in hist.ops if o.f == "apply" and o.type == "ok"]
    # the events came through Kafka: every apply names its topic offset
    assert applies and all(isinstance((o.extra or {}).get("offset"), int) for o in applies)
    for n in ("n1", "n2", "n3"):  # broker logs fetched from the containers
        assert os.path.getsize(os.path.join(out.run_dir, "kafka", "nodes", n,
                                            "server.log")) > 0
    print(f"\n[figure] propagation + kafka on docker: {res['nemesis']['applied']}, "
          f"{out.figures}")
    assert resource_counts(docker_client) == before
