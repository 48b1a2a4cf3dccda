"""txn-list-append on a real 3-node Cassandra (transactions.md §7.2 row C2; positive
control): every txn is one conditional (Paxos) batch on one partition after a SERIAL read,
which Cassandra claims is linearizable, so the run is judged strict-serializable (the
store's claim) and must be clean — under partitions too (Paxos safety needs no clock).
The negative control runs the same txns without Paxos (`txn_mode=plain`) and must show
the read-modify-write race. (The design note's multi-partition-batch control, C3, is not
shipped.)"""

from __future__ import annotations

import os
import shutil

import pytest

from splitbrain.harness.history import read_history
from tests.cassandra.test_cassandra_runs import PARTITIONS, _run, tmp_path  # noqa: F401 (fixture)

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("java") is None,
                                 reason="Cassandra needs Java 17 (openjdk-17-jre-headless)")]


def test_lwt_list_append_txns_are_strict_serializable_under_partitions(tmp_path):  # noqa: F811
    out = _run(tmp_path, workload="txn-list-append", nemesis="partition",
               nemesis_interval=3, time_limit=15, concurrency=4, rate=100,
               nemesis_options=PARTITIONS)
    t = out.results["checkers"]["transactions"]
    assert t["consistency_model"] == ["strict-serializable"], t
    assert t["claim_source"] == "store", t
    assert t["valid"] is True, (t["anomaly_types"], t.get("reason"), t["anomalies"][:2])
    assert t["stats"]["ok"] >= 30 and sum(t["stats"]["edges"].values()) >= 30, t["stats"]
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    txns = [o for o in hist.ops if o.f == "txn" and o.type == "ok" and not o.final]
    # the checker had multi-key txns with appends and non-empty reads to judge
    assert any(len({m[1] for m in o.value}) > 1 and any(m[0] == "append" for m in o.value)
               for o in txns)
    assert any(m[0] == "r" and m[2] for o in txns for m in o.value)
    assert {o.node for o in hist.ops if o.final and o.type == "ok"} == {"n1", "n2", "n3"}


def test_plain_read_then_write_txns_lose_updates(tmp_path):  # noqa: F811
    """Negative control: `txn_mode=plain` runs the same txns as a QUORUM read and an
    unconditional batch. The store claims no model for that, so they are judged
    strict-serializable, and concurrent read-modify-writes of the hot keys must show their
    race: two txns appending on top of one state (lost-update) or reads that disagree on
    the order (incompatible-order), with real witnesses."""
    out = _run(tmp_path, workload="txn-list-append", nemesis="none", time_limit=10,
               concurrency=6, rate=200, db_options={"txn_mode": "plain"})
    t = out.results["checkers"]["transactions"]
    assert t["claim_source"] == "default" and "txn_mode=plain" in t["claim_reason"], t
    assert t["valid"] is False, t["stats"]
    assert {"lost-update", "incompatible-order"} & set(t["anomaly_types"]), t["anomaly_types"]
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    indices = {o.index for o in hist.ops} | {o.inv_index for o in hist.ops}
    for a in t["anomalies"]:
        assert a["ops"] and set(a["ops"]) <= indices, a
