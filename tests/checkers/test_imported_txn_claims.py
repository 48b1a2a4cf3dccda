"""Jepsen/Elle `:txn` histories of one micro-op each are judged as transactions, as Jepsen
and elle-cli judge them (strict-serializable by default), and a file whose :index values
repeat gives no real-time order to convict on (transactions.md §1.4 amended; README).

Regressions: as plain register ops such files came out `valid` where Elle proves an
anomaly (the G0-realtime below); elle-cli's rwregister-ok.edn came out INVALID under
`--workload txn-rw-register` through an order its author did not mean."""

from __future__ import annotations

import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "elle-cli")


def _edn(tmp_path, lines: list[str]) -> str:
    p = tmp_path / "history.edn"
    p.write_text("".join(f"{{{ln}, :index {i}}}\n" for i, ln in enumerate(lines)))
    return str(p)


# Each a history Elle rejects under its default strict-serializable claim.
PROVEN = {
    # two appends in real-time order, read in the other order: G0-realtime
    "G0-realtime": ["txn-list-append", [
        ":type :invoke, :f :txn, :value [[:append :x 1]], :process 0",
        ":type :ok, :f :txn, :value [[:append :x 1]], :process 0",
        ":type :invoke, :f :txn, :value [[:append :x 2]], :process 1",
        ":type :ok, :f :txn, :value [[:append :x 2]], :process 1",
        ":type :invoke, :f :txn, :value [[:r :x nil]], :process 2",
        ":type :ok, :f :txn, :value [[:r :x [2 1]]], :process 2"]],
    # a read begun after a write completed sees the initial state: G-single-item-realtime
    "G-single-item-realtime": ["txn-rw-register", [
        ":type :invoke, :f :txn, :value [[:w :x 1]], :process 0",
        ":type :ok, :f :txn, :value [[:w :x 1]], :process 0",
        ":type :invoke, :f :txn, :value [[:r :x nil]], :process 1",
        ":type :ok, :f :txn, :value [[:r :x nil]], :process 1"]],
}


@pytest.mark.parametrize("anomaly", sorted(PROVEN))
def test_one_micro_op_txns_are_judged_as_transactions(anomaly, tmp_path):
    workload, lines = PROVEN[anomaly]
    h = read_history(_edn(tmp_path, lines))
    res = run_checks(h)  # as a user runs `splitbrain check history.edn`
    assert res["workload"] == workload
    t = res["checkers"]["transactions"]
    assert res["valid"] is False and t["anomaly_types"] == [anomaly], t


def test_the_concurrent_form_stays_valid(tmp_path):
    # the same ops with the read overlapping the write: Elle finds nothing
    lines = PROVEN["G-single-item-realtime"][1]
    h = read_history(_edn(tmp_path, [lines[0], lines[2], lines[3], lines[1]]))
    assert run_checks(h)["valid"] is True


@pytest.mark.parametrize("name", ["rwregister-ok.edn"])
@pytest.mark.parametrize("workload", [None, "txn-rw-register"])
def test_repeated_indices_give_no_real_time_order_to_convict_on(name, workload):
    # elle-cli's samples number each process's events 1..6: line order is not real time
    # (rwregister-ok.edn, named ok, is not strict-serializable in line order)
    h = read_history(os.path.join(DATA, name))
    assert "renumbered" in h.meta["reindexed"]
    res = run_checks(h, CheckOptions(workload=workload))
    t = res["checkers"]["transactions"]
    assert res["valid"] == "unknown", t
    assert t["reason"].startswith("realtime-order-assumed")
    assert "strict-serializability-violation" in {a["type"] for a in t["notices"]}


@pytest.mark.parametrize("workload", [None, "txn-rw-register"])
def test_repeated_indices_still_convict_on_each_process_order(workload):
    # rwregister-fail.edn: each process reads the other's write after its own; no serial
    # order keeps both processes' orders, real time or not: not strong-session-
    # serializable, so not strict-serializable (the default claim) either
    res = run_checks(read_history(os.path.join(DATA, "rwregister-fail.edn")),
                     CheckOptions(workload=workload))
    t = res["checkers"]["transactions"]
    assert res["valid"] is False, t
    assert [a["type"] for a in t["anomalies"]] == ["strong-session-serializability-violation"]
    # the real-time finding stays a notice, and says it was only assumed
    assert "realtime-order-assumed" in t["anomaly_types"]
    assert "strict-serializability-violation" in {a["type"] for a in t["notices"]}


def test_repeated_indices_still_convict_without_real_time(tmp_path):
    # list-fail.edn: incompatible read orders need no real-time order: still INVALID
    res = run_checks(read_history(os.path.join(DATA, "list-fail.edn")))
    t = res["checkers"]["transactions"]
    assert res["valid"] is False and "incompatible-order" in t["anomaly_types"]
    assert not any(a["type"].endswith("-realtime") for a in t["anomalies"])  # notices now


def test_repeated_indices_with_duplicate_writes(tmp_path):
    # the duplicate-writes path (judged by linearizability) rests on real time too
    p = tmp_path / "h.edn"
    rows = [(1, 1, "invoke", "[:w x 1]"), (1, 2, "ok", "[:w x 1]"),
            (2, 1, "invoke", "[:w x 1]"), (2, 2, "ok", "[:w x 1]"),
            (1, 3, "invoke", "[:w x 2]"), (1, 4, "ok", "[:w x 2]"),
            (2, 3, "invoke", "[:r x]"), (2, 4, "ok", "[:r x 1]")]
    text = "".join(f"{{:process {p_}, :index {i}, :type :{t}, :f :txn, :value [{m}]}}\n"
                   for p_, i, t, m in rows)
    p.write_text(text)
    t = run_checks(read_history(str(p)))["checkers"]["transactions"]
    assert t["valid"] == "unknown" and t["reason"].startswith("realtime-order-assumed"), t
    # the same file with unique indices (line order is real time): INVALID
    p.write_text(text.replace(":index", ":i"))
    assert run_checks(read_history(str(p)))["checkers"]["transactions"]["valid"] is False
