"""Acceptance (issue 11 item 7): etcd with serializable reads under a partition is not
linearizable, with a witness of real ops (linearizable reads: tests/etcd/test_etcd_runs.py,
whose register runs now include the linearizable checker)."""

from __future__ import annotations

import pytest

from tests.etcd.local_etcd import require_etcd
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(600)]


def test_serializable_reads_under_a_partition_are_not_linearizable(tmp_path):
    require_etcd()
    out = run_in(tmp_path, db="etcd", read_mode="serializable", nemesis="partition",
                 partition="n1|n2,n3", nemesis_interval=3, time_limit=12, concurrency=10,
                 rate=600, stickiness="random", seed=16,
                 checkers=("linearizable",))
    lin = out.results["checkers"]["linearizable"]
    assert lin["valid"] is False, lin.get("reason") or lin["stats"]
    a = lin["anomalies"][0]
    assert a["stuck_op"] in a["ops"] and a["witness"]["replayed"]
    assert_witnesses_are_real(out.run_dir, out.results, "linearizable")
