"""Transactional workloads on real Redis (transactions.md §7.1, §7.3): Lua-script txns on
the primary must check strict-serializable (positive control); read-only txns served by
partitioned replicas are judged against what Redis claims for them (serializable) and are
clean, while the same history checked as strict-serializable must show stale-read cycles,
and only those (negative control); with Sentinel failover, acknowledged txns of the
demoted primary show as anomalies (negative control)."""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]

# what replica reads of a prefix of the one commit order can show (never G0 / G1 / G-single
# without an order edge)
STALE = {f"{b}-{s}" for b in ("G-single-item", "G2-item", "G-nonadjacent-item")
         for s in ("process", "realtime")}


@pytest.mark.parametrize("workload", ["txn-list-append", "txn-rw-register"])
def test_txns_on_the_primary_are_strict_serializable(tmp_path, workload):
    out = run_in(tmp_path, workload=workload, read_from="primary", nemesis="none",
                 time_limit=6, concurrency=5, rate=300)
    assert out.results is not None, out
    t = out.results["checkers"]["transactions"]
    assert t["valid"] is True, (t["anomaly_types"], t.get("reason"))
    assert t["consistency_model"] == ["strict-serializable"]
    assert t["claim_source"] == "store", t  # Redis's claim with every txn on the primary
    assert t["stats"]["ok"] > 300 and sum(t["stats"]["edges"].values()) > 300, t["stats"]
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    txns = [o for o in hist.ops if o.f == "txn" and o.type == "ok"]
    assert any(len(o.value) > 1 for o in txns)
    if workload == "txn-rw-register":
        assert all(o.extra and len(o.extra["versions"]) == len(o.value) for o in txns)
    assert out.exit_code == 0


@pytest.mark.parametrize("workload", ["txn-list-append", "txn-rw-register"])
def test_replica_reads_under_partitions_show_stale_cycles(tmp_path, workload):
    out = run_in(tmp_path, workload=workload, read_from="replicas",
                 nemesis="partition", nemesis_interval=2, time_limit=10, concurrency=8,
                 rate=500)
    assert out.results is not None, out
    t = out.results["checkers"]["transactions"]
    # judged against Redis's claim with replica reads: a prefix of the primary's order
    assert t["consistency_model"] == ["serializable"] and t["claim_source"] == "store", t
    assert t["valid"] is True, (t["anomaly_types"], t.get("reason"))
    # checked as strict-serializable, the same history shows the stale reads, and only them
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check

    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    strict = check(hist, CheckOptions(consistency_models=("strict-serializable",)))
    s = strict["transactions"].to_json()
    assert s["valid"] is False, s
    types = set(s["anomaly_types"]) - {"cycle-search-timeout"}
    assert types and types <= STALE, types
    assert "strict-serializable" in s["not"] + s["also_not"]
    assert_witnesses_are_real(out.run_dir, {"checkers": {"transactions": s}}, "transactions")


# A failover discards the old primary's acknowledged txns, and clients may have read them
# first: reads from the discarded timeline disagree with later ones (incompatible-order,
# garbage-read of appends no surviving state holds), and the survivors' reads miss appends
# that finished earlier (the -realtime cycles). Lists are appended with RPUSH inside the
# script, so a store that never failed over could show none of these.
FAILOVER = {"incompatible-order", "lost-update", "G1a", "G1b", "garbage-read",
            "duplicate-elements", "dirty-update"} | {
    f"{b}{s}" for b in ("G0", "G1c", "G-single-item", "G2-item", "G-nonadjacent-item")
    for s in ("", "-process", "-realtime")}


def test_sentinel_failover_loses_acknowledged_txns(tmp_path):
    """Negative control (transactions.md §7.1): txn-list-append on Sentinel, partitioning
    the primary away. Redis claims nothing across a failover, so the run is judged
    strict-serializable (the default), and acknowledged txns of the demoted primary must
    show as anomalies with witnesses that replay."""
    out = run_in(tmp_path, topology="sentinel", workload="txn-list-append",
                 nemesis="partition-primary", nemesis_interval=8, time_limit=18,
                 concurrency=6, rate=300, read_from="primary", quiesce=3.0)
    assert out.results is not None, out
    t = out.results["checkers"]["transactions"]
    assert t["claim_source"] == "default" and "Sentinel" in t["claim_reason"], t
    assert t["valid"] is False, (t["stats"], t.get("reason"))
    types = set(t["anomaly_types"]) - {"cycle-search-timeout"}
    assert types and types <= FAILOVER, types
    assert "strict-serializable" in t["not"] + t["also_not"]
    assert_witnesses_are_real(out.run_dir, out.results, "transactions")
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    assert any(e["f"] == "start-partition" for e in hist.nemesis)
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check

    full = check(hist, CheckOptions(workload="txn-list-append"))["transactions"]
    replay = [a.details.get("witness_replay") for a in full.anomalies
              if a.type.startswith("G")]
    assert "witness-replay-failed" not in {a.type for a in full.anomalies + full.notices}
    if replay:  # cycles found: their witnesses re-check on their own
        assert "confirmed" in replay and "not reproduced" not in replay, replay
    print("sentinel txn control:", sorted({a.type for a in full.anomalies}))
