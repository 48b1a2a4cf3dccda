"""Acceptance (issue 11): the linearizable checker on real Redis cas-register runs."""

import pytest

from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.redis]


def test_cas_register_with_replica_reads_is_not_linearizable_with_a_witness(tmp_path):
    out = run_in(tmp_path, workload="cas-register", nemesis="partition", nemesis_interval=2,
                 time_limit=8, read_from="replicas", concurrency=6, rate=400, quiesce=0.5)
    lin = out.results["checkers"]["linearizable"]
    assert lin["valid"] is False, lin.get("reason")
    assert lin["stats"]["engine"] in ("native", "python")
    a = lin["anomalies"][0]
    assert a["type"] == "nonlinearizable" and a["stuck_op"] in a["ops"]
    # usually a write and the stale read; a single read is seen now and then (a read of a
    # value whose only writer was dropped from the search) — noted in the session notes
    assert a["witness"]["replayed"] is True and len(a["ops"]) >= 1
    assert_witnesses_are_real(out.run_dir, out.results, "linearizable")
