"""`splitbrain run --workload queue|queue-group` end to end on real Redis in namespaces.

Acceptance (issue 13): Sentinel + partition-primary + failover loses acknowledged stream
entries, and the queue checker names them (`lost-write` or `unseen`) with real witness
ops; a fault-free run of the group workload is valid with both checkers examining data.
"""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]


def test_sentinel_partitioned_primary_loses_acknowledged_entries(tmp_path):
    out = run_in(tmp_path, topology="sentinel", workload="queue", nemesis="partition-primary",
                 nemesis_interval=8, time_limit=18, concurrency=6, rate=300,
                 read_from="primary", quiesce=3.0)
    res = out.results
    assert res is not None and res["valid"] is False, res and res["checkers"]["queue"]["stats"]
    q = res["checkers"]["queue"]
    kinds = {a["type"] for a in q["anomalies"]}
    assert kinds & {"lost-write", "unseen"}, kinds
    assert_witnesses_are_real(out.run_dir, res, "queue")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    sends = [o for o in hist.ops if o.f == "send" and o.type == "ok"]
    assert sends and all("-" in o.extra["offset"] for o in sends)
    assert any(o.f == "poll" and o.final for o in hist.ops)


def test_group_workload_without_faults_is_valid(tmp_path):
    out = run_in(tmp_path, topology="replication", workload="queue-group", nemesis="none",
                 time_limit=8, concurrency=6, rate=300, quiesce=1.0)
    res = out.results
    assert res is not None
    q, lag = res["checkers"]["queue"], res["checkers"]["queue-lag"]
    assert q["valid"] is True, q
    assert q["stats"]["messages_read"] > 0 and q["stats"]["unordered"]["drained"] is True
    assert q["stats"]["unordered"]["dequeued"] >= q["stats"]["unordered"]["enqueued"] > 0
    assert lag["valid"] is True and lag["stats"]["polls_measured"] > 0
    assert res["valid"] is True
