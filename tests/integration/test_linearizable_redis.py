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
    assert a["witness"]["replayed"] is True and len(a["ops"]) >= 1
    if len(a["ops"]) == 1:
        # a stale read alone: the witness was cut at a quiescent point whose state every
        # order of the earlier ops agrees on (e.g. "holds 1497 after op 5041"), and from
        # that state the read is impossible on its own
        assert "from_state" in a["witness"] and "after_index" in a["witness"], a["witness"]
    else:  # usually a write and the stale read
        assert any(i != a["stuck_op"] for i in a["ops"])
    assert_witnesses_are_real(out.run_dir, out.results, "linearizable")
