"""etcd over the ssh backend: real sshd per netns host (tests/ssh), etcd started through
SSH, partitions by iptables on the hosts. The same acceptance results as on netns."""

from __future__ import annotations

import os

import pytest

from tests.etcd.local_etcd import require_etcd
from tests.ssh.test_ssh_backend import _only_sshd_left, _run, home, hosts  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(600)]


def test_ssh_linearizable_valid_then_serializable_stale(hosts, home, tmp_path):  # noqa: F811
    require_etcd()
    nodes, farm = hosts
    out = _run(tmp_path / "lin", nodes, farm, db="etcd", nemesis="partition,kill",
               nemesis_interval=2.5, time_limit=12, concurrency=8, rate=400,
               stickiness="random", seed=3)
    res = out.results
    assert res is not None and res["valid"] is True, res and {
        n: r["valid"] for n, r in res["checkers"].items()}
    assert res["stats"]["ok"] > 200, res["stats"]
    for n in ("n1", "n2", "n3"):  # the member logs came back over ssh
        assert os.path.getsize(os.path.join(out.run_dir, "nodes", n, "etcd.log")) > 0
    print(f"\n[figure] etcd over ssh: {out.figures}")

    out = _run(tmp_path / "ser", nodes, farm, db="etcd", read_mode="serializable",
               nemesis="partition", partition="n1|n2,n3", nemesis_interval=3, time_limit=12,
               concurrency=8, rate=400, stickiness="random", staleness_bound="500ms", seed=3)
    res = out.results
    assert res is not None
    found = [n for n in ("read-your-writes", "monotonic-reads", "staleness")
             if res["checkers"][n]["valid"] is False]
    assert found and out.exit_code == 1, {n: r["valid"] for n, r in res["checkers"].items()}
    assert _only_sshd_left(nodes) == []
