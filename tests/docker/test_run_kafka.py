"""`splitbrain run --db kafka --backend docker`: three KRaft JVMs in containers of the
standard node image, which bind-mount this machine's cached Kafka jars and its Java 17
read-only (NodeNeeds.host_dirs; no Java image is built); partitions by iptables inside the
containers (kills and pauses go by pid through docker exec, as for etcd). The acks=all acceptance result
of issue 13 on docker; container and network counts must return to what they were."""

from __future__ import annotations

import os

import pytest

from tests.docker.conftest import resource_counts
from tests.integration.runs import run_in
from tests.queue.kafka_backends import assert_faults_applied, assert_only_duplicates

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_kafka_on_docker_acks_all_under_a_partition(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    # One partition (5 s to 10 s), then 5 s healed: with faults closer together every
    # send here times out while the cluster recovers (10 s each), and nothing is learnt.
    out = run_in(tmp_path, backend="docker", db="kafka", workload="queue",
                 nemesis="partition", nemesis_interval=5, time_limit=15,
                 nemesis_options={"partition": {"shapes": ["one"]}},
                 kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True,
                 concurrency=6, rate=200, quiesce=5.0, seed=6)
    res = out.results
    assert res is not None, out
    q = res["checkers"]["queue"]
    assert q["stats"]["sends_ok"] >= 5 and q["stats"]["messages_read"] > 0, q["stats"]
    assert_only_duplicates(out, q)
    ran = assert_faults_applied(res, 1)
    for n in ("n1", "n2", "n3"):  # broker logs fetched from the containers
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "server.log")) > 0
    print(f"\n[figure] kafka on docker: faults {sorted(ran)}, {out.figures}")
    assert resource_counts(docker_client) == before
