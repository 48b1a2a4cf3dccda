"""`splitbrain run --db kafka --nemesis clock --backend docker`: the clock shim (built on
the controller, uploaded into each container) preloaded into the bind-mounted JVM, its
control file rewritten by each clock fault. Under hour-long bumps of every broker,
acks=all stays valid (a forward jump expires the brokers' in-flight requests: Kafka's
NetworkClient times them by the wall clock); the history shows the clock faults applied
and healed, and the brokers' logs show their JVMs on the shim's clock."""

from __future__ import annotations

import pytest

from tests.docker.conftest import resource_counts
from tests.integration.runs import run_in
from tests.queue.kafka_backends import CLOCK_RUN, assert_clock_run

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_kafka_on_docker_acks_all_under_clock_skew(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path, backend="docker", seed=11, **CLOCK_RUN)
    done = assert_clock_run(out)
    print(f"\n[figure] kafka clock on docker: {[(e['f'], e['value']) for e in done]}")
    assert resource_counts(docker_client) == before
