"""Kafka over the ssh backend: a real sshd per netns host (tests/ssh), three KRaft JVMs
started through SSH, the jars uploaded over SFTP into the hosts' cache, kills by pid on
the hosts and restarts (partitions by iptables on the hosts work as for etcd). The same acceptance result as on netns (issue 13:
acks=all, min.insync 2, idempotence -> nothing acknowledged lost or reordered), under
kills and under clock skew (the shim uploaded to the hosts and preloaded into the JVM);
and `--workload propagation --queue kafka` over ssh (relay and consumer on the controller)."""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.dbs.kafka import db as kafka_db
from splitbrain.harness.dbs.kafka.install import ensure_installed
from tests.queue.kafka_backends import (CLOCK_RUN, PROPAGATION_RUN, assert_clock_run,
                                        assert_faults_applied,
                                        assert_only_duplicates,
                                        assert_propagation_through_kafka)
from tests.ssh.test_ssh_backend import _only_sshd_left, _run, home, hosts  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]


def test_kafka_over_ssh_acks_all_under_kills(hosts, home, tmp_path,  # noqa: F811
                                                         monkeypatch):
    nodes, farm = hosts
    # A cache of our own, so this run uploads the jars (a host's cache outlives runs).
    cache = tmp_path / "host-cache"
    monkeypatch.setattr(kafka_db, "remote_cache", lambda node: str(cache))
    # kill one broker at 4 s, restart it at 8 s (from the uploaded jars), kill one at 12 s
    out = _run(tmp_path / "run", nodes, farm, db="kafka", workload="queue",
               nemesis="kill", nemesis_interval=4, time_limit=14,
               nemesis_options={"kill": {"targets": ["one"]}},
               kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True,
               concurrency=6, rate=200, quiesce=5.0, seed=4)
    res = out.results
    assert res is not None, out
    q = res["checkers"]["queue"]
    assert q["stats"]["sends_ok"] >= 5 and q["stats"]["messages_read"] > 0, q["stats"]
    assert_only_duplicates(out, q)
    assert assert_faults_applied(res, 1) == {"kill"}  # by pid on the hosts, over ssh
    # the jars went over SFTP, once, into the content-addressed cache
    dist = ensure_installed()
    (entry,) = list((cache / "kafka").iterdir())
    assert entry.name == f"{dist.version}-{dist.fingerprint()}"
    assert sorted(os.listdir(entry / "lib")) == dist.jars()
    for n in ("n1", "n2", "n3"):  # broker logs came back over ssh
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "server.log")) > 0
    print(f"\n[figure] kafka over ssh: {out.figures}")
    assert _only_sshd_left(nodes) == []


def test_kafka_over_ssh_acks_all_under_clock_skew(hosts, home, tmp_path):  # noqa: F811
    nodes, farm = hosts
    # the shim goes over SFTP to the hosts and into their JVMs
    done = assert_clock_run(_run(tmp_path / "run", nodes, farm, seed=12, **CLOCK_RUN))
    print(f"\n[figure] kafka clock over ssh: {[(e['f'], e['value']) for e in done]}")
    assert _only_sshd_left(nodes) == []


@pytest.mark.redis
def test_outbox_through_kafka_over_ssh_under_a_partition_is_valid(hosts, home,  # noqa: F811
                                                                   tmp_path):
    nodes, farm = hosts
    out = _run(tmp_path / "run", nodes, farm, seed=7, **PROPAGATION_RUN)
    assert_propagation_through_kafka(out, {"partition"})
    assert _only_sshd_left(nodes) == []
