"""txn-list-append on a real 3-node Cassandra (transactions.md §7.2 row C2; positive
control): every txn is one conditional (Paxos) batch on one partition after a SERIAL read,
which Cassandra claims is linearizable, so the run is judged strict-serializable (the
store's claim) and must be clean — under partitions too (Paxos safety needs no clock).
The negative control runs the same txns without Paxos (`txn_mode=plain`) and must show
the read-modify-write race. The multi-partition control (C3, `txn_mode=batch`) spreads a
txn's keys over partitions, reads them one by one and appends in one logged batch: it must
show the read skew a non-isolated batch permits, and nothing a store that never loses or
invents an append could show."""

from __future__ import annotations

import collections
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


# What a logged multi-partition batch of commutative appends, read partition by partition,
# may show (cassandra_txn.py, txn_mode=batch): read skew and fractured reads (G-single), write
# skew (G2, G-nonadjacent), two txns reading one state and both appending (Elle's
# lost-update; both appends survive, checked below), a txn's own view (read + own append) or
# a TimeUUID cell order disagreeing with later reads (incompatible-order), stale final reads
# (-realtime). G0/G1c are not expected (a txn's reads precede its batch), but reorders make
# the inferred version order differ from the apply order, so they are not ruled out here.
BATCH_PERMITS = ("G-single-item", "G-nonadjacent-item", "G2-item", "G0", "G1c")
BATCH_PERMITS_OTHER = {"incompatible-order", "lost-update"}
# What it must never show: reads of aborted, intermediate, invented or duplicated appends,
# a txn not seeing its own appends, and witnesses that do not replay.
BATCH_FORBIDS = {"G1a", "G1b", "dirty-update", "garbage-read", "duplicate-elements",
                 "internal", "future-read", "witness-replay-failed"}


def _batch_permits(cls: str) -> bool:
    base = cls.removesuffix("-realtime").removesuffix("-process")
    return base in BATCH_PERMITS or cls in BATCH_PERMITS_OTHER


def _fractured_reads(hist) -> int:
    """Read-only ok txns that saw a multi-key txn's append on one key and, reading a second
    key of it LATER, missed it there: the batch was visible on one partition only."""
    writer = {}
    for o in hist.ops:
        if o.f == "txn" and o.type in ("ok", "info"):
            for f, k, v in o.value:
                if f == "append":
                    writer[(k, v)] = o.index
    keys_of = collections.defaultdict(set)
    for (k, _v), w in writer.items():
        keys_of[w].add(k)
    n = 0
    for o in hist.ops:
        if o.f != "txn" or o.type != "ok" or o.final or any(m[0] != "r" for m in o.value):
            continue
        seen_at = {}  # writer -> first mop position where one of its appends was seen
        for i, (_f, k, x) in enumerate(o.value):
            for v in x or ():
                seen_at.setdefault(writer.get((k, v)), i)
        for i, (_f, k, x) in enumerate(o.value):
            for w, j in seen_at.items():
                if w is not None and j < i and k in keys_of[w] and not any(
                        writer.get((k, v)) == w for v in x or ()):
                    n += 1
    return n


def test_multi_partition_logged_batches_read_mid_flight_show_read_skew(tmp_path):  # noqa: F811
    """Negative control C3: `txn_mode=batch`, no faults. Invalid under the default model
    (the store claims none), every class found is one such a batch permits, the cycles'
    witnesses replay, and no acknowledged append is missing from the final reads."""
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check

    out = _run(tmp_path, workload="txn-list-append", nemesis="none", time_limit=10,
               concurrency=6, rate=200, db_options={"txn_mode": "batch"})
    t = out.results["checkers"]["transactions"]
    assert t["claim_source"] == "default" and "txn_mode=batch" in t["claim_reason"], t
    assert t["valid"] is False, t["stats"]
    assert t["stats"]["ok"] >= 200, t["stats"]
    assert all(_batch_permits(c) for c in t["anomaly_types"]), t["anomaly_types"]
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    indices = {o.index for o in hist.ops} | {o.inv_index for o in hist.ops}
    for a in t["anomalies"]:
        assert a["ops"] and set(a["ops"]) <= indices, a
    # the reported list is capped (incompatible-orders sort first): re-check in-process for
    # every finding and its replay status
    full = check(hist, CheckOptions(workload="txn-list-append"))["transactions"]
    types = collections.Counter(a.type for a in full.anomalies + full.notices)
    assert not BATCH_FORBIDS & set(types), types
    cycles = [a for a in full.anomalies if a.type.startswith(("G-single", "G2", "G-nonadj"))]
    assert cycles, types
    replayed = [a.details.get("witness_replay") for a in cycles]
    assert "confirmed" in replayed and "not reproduced" not in replayed, types
    # commutative appends are never lost: each acknowledged one is in its key's final read
    final = collections.defaultdict(set)
    for o in hist.ops:
        if o.final and o.type == "ok" and o.f == "read":
            final[o.key] |= set(o.value or ())
    acked = {(k, v) for o in hist.ops if o.f == "txn" and o.type == "ok"
             for f, k, v in o.value if f == "append"}
    assert acked and all(v in final[k] for k, v in acked), sorted(
        (k, v) for k, v in acked if v not in final[k])[:5]
    print(f"batch control: {dict(types)}; fractured reads: {_fractured_reads(hist)}")
