"""`splitbrain run --workload propagation|propagation-dual-write` on real Redis in
namespaces, with the relay and consumer as real processes in n1's namespace (issue 13
acceptance rows for the pattern, fault-free so far):

* outbox + `version` consumer -> every propagation checker valid, lag measured, the
  derived store caught up (no stale-final);
* dual-write with client crashes between the two writes -> lost-event > 0.
"""

from __future__ import annotations

import os
import random

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import assert_witnesses_are_real, run_in
from splitbrain.workloads import get_workload

RUN = dict(nemesis="none", time_limit=10, concurrency=4, rate=100, quiesce=1.0)


def test_workload_mix_writes_unique_events_and_reads_both_stores():
    wl = get_workload("propagation")
    rng = random.Random(1)
    ops = [wl.next_op(0, rng) for _ in range(400)]
    writes = [o["value"] for o in ops if o["f"] == "write-source"]
    assert len(set(writes)) == len(writes) > 100
    assert {o["f"] for o in ops} == {"write-source", "read-derived", "read-source"}


@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_outbox_with_version_consumer_is_valid_with_lag_measured(tmp_path):
    out = run_in(tmp_path, workload="propagation", **RUN)
    res = out.results
    assert res is not None
    for name in ("lost-event", "orphan-effect", "duplicate-effect", "derived-regression",
                 "propagation-lag"):
        c = res["checkers"][name]
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    lag = res["checkers"]["propagation-lag"]["stats"]
    assert lag["events_measured"] > 50 and lag["upper_p99_ms"] > 0
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert {o.process for o in hist.ops} >= {"relay", "consumer"}
    assert any(o.f == "apply" for o in hist.ops)


@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dual_write_with_client_crashes_loses_events(tmp_path):
    out = run_in(tmp_path, workload="propagation-dual-write", **RUN)
    res = out.results
    assert res is not None
    lost = res["checkers"]["lost-event"]
    assert lost["valid"] is False and lost["anomaly_count"] > 0
    assert_witnesses_are_real(out.run_dir, res, "lost-event")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    unpublished = {o.value for o in hist.ops
                   if o.f == "write-source" and (o.extra or {}).get("published") is False}
    assert {a["event"] for a in lost["anomalies"]} <= unpublished


@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_none_consumer_killed_between_apply_and_ack_duplicates_effects(tmp_path):
    out = run_in(tmp_path, workload="propagation-none", nemesis="none", time_limit=12,
                 concurrency=4, rate=150, quiesce=1.0)
    res = out.results
    assert res is not None
    dup = res["checkers"]["duplicate-effect"]
    assert dup["valid"] is False and dup["anomaly_count"] > 0
    assert_witnesses_are_real(out.run_dir, res, "duplicate-effect")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert any(e["f"] == "kill-consumer" for e in hist.nemesis)
    # nothing is lost: at-least-once redelivers what the killed consumer had not acked
    assert res["checkers"]["lost-event"]["valid"] is True


@pytest.mark.root
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_outbox_version_consumer_under_partition_and_pause_is_valid_and_converges(tmp_path):
    out = run_in(tmp_path, workload="propagation", nemesis="partition,pause",
                 nemesis_interval=4, time_limit=16, concurrency=4, rate=150, quiesce=2.0)
    res = out.results
    assert res is not None
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    lag = res["checkers"]["propagation-lag"]["stats"]
    assert lag["events_measured"] > 50
    # converged: no final derived version below the final source version (stale-final)
    assert res["checkers"]["derived-regression"]["anomaly_count"] == 0
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert {e["f"] for e in hist.nemesis} & {"start-partition", "pause"}
