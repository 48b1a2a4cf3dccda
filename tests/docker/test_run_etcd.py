"""`splitbrain run --db etcd --backend docker`: the etcd acceptance cases on containers
(Debian's etcd-server inside the node image, iptables partitions inside the containers).
Container and network counts must return to what they were."""

from __future__ import annotations

import os

import pytest

from tests.docker.conftest import resource_counts
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.etcd, pytest.mark.slow,
              pytest.mark.timeout(600)]


def test_etcd_linearizable_valid_under_faults_serializable_stale(tmp_path, docker_client,
                                                                  node_image):
    before = resource_counts(docker_client)
    out = run_in(tmp_path / "lin", backend="docker", db="etcd", nemesis="partition,kill,pause",
                 nemesis_interval=2.5, time_limit=14, concurrency=8, rate=400,
                 stickiness="random", seed=5)
    res = out.results
    assert res is not None and res["valid"] is True, res and {
        n: r["valid"] for n, r in res["checkers"].items()}
    assert res["stats"]["ok"] > 200, res["stats"]
    for n in ("n1", "n2", "n3"):  # member logs fetched from the containers
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "etcd.log")) > 0
    print(f"\n[figure] etcd on docker: {out.figures}")
    assert resource_counts(docker_client) == before

    out = run_in(tmp_path / "ser", backend="docker", db="etcd", read_mode="serializable",
                 nemesis="partition", partition="n1|n2,n3", nemesis_interval=3,
                 time_limit=12, concurrency=8, rate=400, stickiness="random",
                 staleness_bound="500ms", seed=5)
    res = out.results
    assert res is not None
    found = [n for n in ("read-your-writes", "monotonic-reads", "staleness")
             if res["checkers"][n]["valid"] is False]
    assert found and out.exit_code == 1, {n: r["valid"] for n, r in res["checkers"].items()}
    for name in found:
        assert_witnesses_are_real(out.run_dir, res, name)
    assert resource_counts(docker_client) == before
