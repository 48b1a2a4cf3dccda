"""`splitbrain run --db kafka --nemesis clock --backend docker`: the clock shim (built on
the controller, uploaded into each container) preloaded into the bind-mounted JVM, its
control file rewritten by each clock fault. Kafka's guarantees do not rest on wall
clocks (KRaft leases and ISR timeouts use monotonic time), so acks=all stays valid under
hour-long bumps; the history shows the clock faults applied and healed, and the bumped
brokers' own log lines carry the skewed time (the JVM really runs on the shim's clock)."""

from __future__ import annotations

import pytest

from tests.docker.conftest import resource_counts
from tests.integration.runs import run_in
from tests.queue.kafka_backends import (HOUR_MS, assert_clock_faults_applied,
                                        assert_faults_applied, assert_jvm_clock_moved,
                                        assert_only_duplicates)

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.kafka, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_kafka_on_docker_acks_all_under_clock_skew(tmp_path, docker_client, node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path, backend="docker", db="kafka", workload="queue",
                 nemesis="clock-bump", nemesis_interval=4, time_limit=15,
                 nemesis_options={"clock": {"min_bump_ms": HOUR_MS, "max_bump_ms": HOUR_MS,
                                            "targets": ["all"]}},
                 kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True,
                 concurrency=6, rate=200, quiesce=3.0, seed=11)
    res = out.results
    assert res is not None, out
    q = res["checkers"]["queue"]
    assert q["stats"]["sends_ok"] >= 5 and q["stats"]["messages_read"] > 0, q["stats"]
    assert_only_duplicates(out, q)
    assert assert_faults_applied(res, 1) == {"clock"}
    done = assert_clock_faults_applied(out)
    assert_jvm_clock_moved(out, done)
    print(f"\n[figure] kafka clock on docker: {[(e['f'], e['value']) for e in done]}")
    assert resource_counts(docker_client) == before
