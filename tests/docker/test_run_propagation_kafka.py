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

from tests.docker.conftest import resource_counts
from tests.integration.runs import run_in
from tests.queue.kafka_backends import PROPAGATION_RUN, assert_propagation_through_kafka

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_outbox_through_kafka_on_docker_under_a_partition_is_valid(tmp_path, docker_client,
                                                                    node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path, backend="docker", seed=7, **PROPAGATION_RUN)
    assert_propagation_through_kafka(out, {"partition"})
    for n in ("n1", "n2", "n3"):  # broker logs fetched from the containers
        assert os.path.getsize(os.path.join(out.run_dir, "kafka", "nodes", n,
                                            "server.log")) > 0
    print(f"\n[figure] propagation + kafka on docker: {out.figures}")
    assert resource_counts(docker_client) == before
