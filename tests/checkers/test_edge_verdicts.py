"""Where a checker says `valid`, it examined something (a verdict must never lie): the
edge shapes of other projects' histories, each with what Jepsen / Elle / Knossos make of
it. Histories that carry nothing to judge (only info ops, only failed reads, no reads,
only failed or indeterminate transactions, only nil reads) get no `valid` from any
checker; the shapes those projects call valid (an info write later observed, an info
read's values ignored, an indeterminate enqueue dequeued) are valid here too.

Fixed by these cases: the session checkers said valid (monotonic-writes,
writes-follow-reads, session) on writes alone; a lone `cas [0 1]` was read as a
jepsen.independent `[key value]` tuple (key 0, a cas "of 1": the linearizable checker
errored)."""

from __future__ import annotations

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

H = {
    "all-reads-fail": """{:type :invoke, :f :write, :value 1, :process 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :fail, :f :read, :value nil, :process 1, :index 3}
""",
    "cas-only": """{:type :invoke, :f :cas, :value [0 1], :process 0, :index 0}
{:type :ok, :f :cas, :value [0 1], :process 0, :index 1}
""",
    "cas-write-cas-fail-read": """{:type :invoke, :f :write, :value 1, :process 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :index 1}
{:type :invoke, :f :cas, :value [1 2], :process 0, :index 2}
{:type :fail, :f :cas, :value [1 2], :process 0, :index 3}
{:type :invoke, :f :read, :value nil, :process 0, :index 4}
{:type :ok, :f :read, :value 1, :process 0, :index 5}
""",
    "counter-info-only-read0": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :info, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :ok, :f :read, :value 0, :process 1, :index 3}
""",
    "counter-no-reads": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
""",
    "info-only-writes": """{:type :invoke, :f :write, :value 1, :process 0, :index 0}
{:type :info, :f :write, :value 1, :process 0, :index 1}
{:type :invoke, :f :write, :value 2, :process 1, :index 2}
{:type :info, :f :write, :value 2, :process 1, :index 3}
""",
    "queue-dup-dequeue": """{:type :invoke, :f :enqueue, :value 1, :process 0, :index 0}
{:type :ok, :f :enqueue, :value 1, :process 0, :index 1}
{:type :invoke, :f :dequeue, :value nil, :process 1, :index 2}
{:type :ok, :f :dequeue, :value 1, :process 1, :index 3}
{:type :invoke, :f :dequeue, :value nil, :process 1, :index 4}
{:type :ok, :f :dequeue, :value 1, :process 1, :index 5}
""",
    "queue-info-enqueue-dequeued": """{:type :invoke, :f :enqueue, :value 1, :process 0, :index 0}
{:type :info, :f :enqueue, :value 1, :process 0, :index 1}
{:type :invoke, :f :dequeue, :value nil, :process 1, :index 2}
{:type :ok, :f :dequeue, :value 1, :process 1, :index 3}
""",
    "reg-dup-values-stale": """{:type :invoke, :f :write, :value 1, :process 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :index 1}
{:type :invoke, :f :write, :value 2, :process 0, :index 2}
{:type :ok, :f :write, :value 2, :process 0, :index 3}
{:type :invoke, :f :write, :value 1, :process 0, :index 4}
{:type :ok, :f :write, :value 1, :process 0, :index 5}
{:type :invoke, :f :read, :value nil, :process 0, :index 6}
{:type :ok, :f :read, :value 1, :process 0, :index 7}
""",
    "reg-ryw-violation": """{:type :invoke, :f :write, :value 1, :process 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :index 1}
{:type :invoke, :f :write, :value 2, :process 0, :index 2}
{:type :ok, :f :write, :value 2, :process 0, :index 3}
{:type :invoke, :f :read, :value nil, :process 0, :index 4}
{:type :ok, :f :read, :value 1, :process 0, :index 5}
""",
    "rw-dup-values": """{:type :invoke, :f :txn, :value [[:w :x 1]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:w :x 1]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:w :x 1]], :process 1, :index 2}
{:type :ok, :f :txn, :value [[:w :x 1]], :process 1, :index 3}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 2, :index 4}
{:type :ok, :f :txn, :value [[:r :x 1]], :process 2, :index 5}
""",
    "set-all-reads-fail": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :fail, :f :read, :value nil, :process 1, :index 3}
""",
    "set-dup-add-read": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :add, :value 1, :process 1, :index 2}
{:type :ok, :f :add, :value 1, :process 1, :index 3}
{:type :invoke, :f :read, :value nil, :process 2, :index 4}
{:type :ok, :f :read, :value #{}, :process 2, :index 5}
""",
    "set-info-read": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :read, :value nil, :process 1, :index 2}
{:type :info, :f :read, :value nil, :process 1, :index 3}
""",
    "set-no-reads": """{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :add, :value 2, :process 0, :index 2}
{:type :ok, :f :add, :value 2, :process 0, :index 3}
""",
    "txn-all-fail": """{:type :invoke, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 0}
{:type :fail, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:append :x 2] [:r :x nil]], :process 1, :index 2}
{:type :fail, :f :txn, :value [[:append :x 2] [:r :x nil]], :process 1, :index 3}
""",
    "txn-info-only": """{:type :invoke, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 0}
{:type :info, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 1}
""",
    "txn-info-read-seen": """{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :index 0}
{:type :info, :f :txn, :value [[:append :x 1]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 1, :index 2}
{:type :ok, :f :txn, :value [[:r :x [1]]], :process 1, :index 3}
""",
    "txn-info-read-values-ignored": """{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append :x 1]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 1, :index 2}
{:type :info, :f :txn, :value [[:r :x [7 8]]], :process 1, :index 3}
""",
    "txn-only-reads-nil": """{:type :invoke, :f :txn, :value [[:r :x nil]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:r :x nil]], :process 0, :index 1}
""",
}

# nothing to judge: no checker may say valid, and the verdict is unknown
NOTHING = ["all-reads-fail", "info-only-writes", "set-all-reads-fail", "set-info-read",
           "set-no-reads", "counter-no-reads", "txn-all-fail", "txn-info-only",
           "txn-only-reads-nil"]

# (verdict, {checker: verdict}) where the upstream semantics decide
JUDGED = {
    # Elle: an info append that a read observed took effect; nothing else to find
    "txn-info-read-seen": (True, {"transactions": True}),
    # Elle: an info transaction's reads are not observations (list_append graph-test
    # "info reads"): its [7 8] is no garbage read
    "txn-info-read-values-ignored": (True, {"transactions": True}),
    # Jepsen total-queue: an indeterminate enqueue that is dequeued is recovered
    "queue-info-enqueue-dequeued": (True, {"queue": True}),
    # Jepsen total-queue: duplicates are counted, not invalid (at-least-once delivery)
    "queue-dup-dequeue": (True, {"queue": True}),
    # Jepsen counter: the info add may or may not have happened; 0 is within [0, 1]
    "counter-info-only-read0": (True, {"lost-updates": True}),
    # a failed cas changed nothing: the read of 1 after it is linearizable
    "cas-write-cas-fail-read": (True, {"linearizable": True}),
    # Knossos' cas-register starts at 0, splitbrain's register absent (README of
    # data/upstream-unit, "Initial 0"): an ok cas from 0 that nothing wrote is a garbage
    # read here (Knossos, with (cas-register 0): valid)
    "cas-only": (False, {"integrity": False, "linearizable": False}),
    # process 0 wrote 1, then 2, then read 1: monotonic writes and read-your-writes
    # cannot both hold (each alone can: the store may have ordered 2 before 1)
    "reg-ryw-violation": (False, {"session": False, "read-your-writes": True}),
    # repeated written values (P1): the value-mapping checkers cannot judge
    "reg-dup-values-stale": ("unknown", {"integrity": "unknown", "lost-updates": "unknown"}),
    "set-dup-add-read": ("unknown", {"integrity": "unknown", "lost-updates": "unknown"}),
    # Elle cannot order equal writes: checked without them, a notice says so
    "rw-dup-values": (True, {"transactions": True}),
}


def _check(tmp_path, name):
    p = tmp_path / f"{name}.edn"
    p.write_text(H[name])
    return run_checks(read_history(str(p)), CheckOptions())


@pytest.mark.parametrize("name", NOTHING)
def test_nothing_to_judge_is_never_valid(tmp_path, name):
    res = _check(tmp_path, name)
    assert res["valid"] == "unknown", res["valid"]
    said = {n: c["valid"] for n, c in res["checkers"].items() if c["valid"] != "unknown"}
    assert not said, said
    for n, c in res["checkers"].items():
        assert c.get("reason"), n  # every unknown says why


@pytest.mark.parametrize("name", sorted(JUDGED))
def test_judged_edges(tmp_path, name):
    verdict, per = JUDGED[name]
    res = _check(tmp_path, name)
    assert res["valid"] == verdict, {n: (c["valid"], c.get("reason")) for n, c in
                                     res["checkers"].items()}
    for n, v in per.items():
        assert res["checkers"][n]["valid"] == v, (n, res["checkers"][n])


def test_a_lone_cas_pair_is_no_independent_tuple(tmp_path):
    h = read_history(str(_write(tmp_path, H["cas-only"])))
    assert h.meta["independent"] is False
    assert [(o.f, o.key, o.value) for o in h.ops] == [("cas", None, [0, 1])]
    tup = _write(tmp_path, H["cas-only"].replace("[0 1]", "[7 [0 1]]"))
    h = read_history(str(tup))  # an independent cas: [key [old new]]
    assert h.meta["independent"] is True
    assert [(o.f, o.key, o.value) for o in h.ops] == [("cas", 7, [0, 1])]


def _write(tmp_path, text, n=[0]):
    n[0] += 1
    p = tmp_path / f"h{n[0]}.edn"
    p.write_text(text)
    return p
