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

import re

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

# each op: `process completion-type f value` (its invocation carries the same value,
# reads nil), ops separated by `;`
OPS = {
    'all-reads-fail': '0 ok write 1; 1 fail read nil',
    'cas-only': '0 ok cas [0 1]',
    'cas-write-cas-fail-read': '0 ok write 1; 0 fail cas [1 2]; 0 ok read 1',
    'counter-info-only-read0': '0 info add 1; 1 ok read 0',
    'counter-no-reads': '0 ok add 1',
    'info-only-writes': '0 info write 1; 1 info write 2',
    'queue-dup-dequeue': '0 ok enqueue 1; 1 ok dequeue 1; 1 ok dequeue 1',
    'queue-info-enqueue-dequeued': '0 info enqueue 1; 1 ok dequeue 1',
    'reg-dup-values-stale': '0 ok write 1; 0 ok write 2; 0 ok write 1; 0 ok read 1',
    'reg-ryw-violation': '0 ok write 1; 0 ok write 2; 0 ok read 1',
    'rw-dup-values': '0 ok txn [[:w :x 1]]; 1 ok txn [[:w :x 1]]; 2 ok txn [[:r :x 1]]',
    'set-all-reads-fail': '0 ok add 1; 1 fail read nil',
    'set-dup-add-read': '0 ok add 1; 1 ok add 1; 2 ok read #{}',
    'set-info-read': '0 ok add 1; 1 info read nil',
    'set-no-reads': '0 ok add 1; 0 ok add 2',
    'txn-all-fail': ('0 fail txn [[:append :x 1] [:r :x nil]]; '
                     '1 fail txn [[:append :x 2] [:r :x nil]]'),
    'txn-info-only': '0 info txn [[:append :x 1] [:r :x nil]]',
    'txn-info-read-seen': '0 info txn [[:append :x 1]]; 1 ok txn [[:r :x [1]]]',
    'txn-info-read-values-ignored': '0 ok txn [[:append :x 1]]; 1 info txn [[:r :x [7 8]]]',
    'txn-only-reads-nil': '0 ok txn [[:r :x nil]]',
}


def _invocation_value(f: str, v: str) -> str:
    if f in ("read", "dequeue"):
        return "nil"
    if f == "txn":  # a read micro-op's value is what it returned
        return re.sub(r"\[:r (\S+) (?:\[[^\]]*\]|[^\[\]\s]+)\]", r"[:r \1 nil]", v)
    return v


def _edn(ops: str) -> str:
    rows = []
    for op in ops.split("; "):
        p, t, f, v = op.split(" ", 3)
        rows += [(p, "invoke", f, _invocation_value(f, v)), (p, t, f, v)]
    return "".join(f"{{:type :{t}, :f :{f}, :value {v}, :process {p}, :index {i}}}\n"
                   for i, (p, t, f, v) in enumerate(rows))


H = {name: _edn(ops) for name, ops in OPS.items()}

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
