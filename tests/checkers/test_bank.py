"""checkers/bank: Jepsen's bank workload. Spec examples, a simulated serializable bank
that must give zero anomalies, injected torn transfers with known witnesses, and
Jepsen's own check-op formula (jepsen.tests.bank) as the reference on small histories."""

from __future__ import annotations

import os
import random
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from splitbrain.checkers import infer_workload, run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BANK_MINI = os.path.join(ROOT, "tests", "checkers", "data", "peers", "bank-mini.edn")


def history(ops):
    """ops: (process, f, value, type) -> events, each op invoked and completed in turn."""
    ev, i = [], 0
    for p, f, value, typ in ops:
        ev.append({"index": i, "time": i, "process": p, "type": "invoke", "f": f,
                   "value": value if f == "transfer" else None})
        i += 1
        if typ is not None:
            ev.append({"index": i, "time": i, "process": p, "type": typ, "f": f, "value": value})
            i += 1
    return history_from_events(ev)


def bank(ops, **opts):
    # named: a history of reads alone is no recognisable bank (inference needs a transfer)
    res = run_checks(history(ops), CheckOptions(workload="bank", **opts))
    assert res["workload"] == "bank"
    return res["checkers"]["bank"]


T = {"from": 0, "to": 1, "amount": 3}


def test_consistent_snapshots_are_valid_against_the_known_total_and_unknown_without():
    ops = [(0, "read", {"0": 10, "1": 10}, "ok"), (1, "transfer", T, "ok"),
           (0, "read", {"0": 7, "1": 13}, "ok")]
    assert bank(ops, bank_total=20)["valid"] is True
    r = bank(ops)
    assert r["valid"] == "unknown" and "--bank-total 20" in r["reason"]


def test_snapshots_that_disagree_are_invalid_with_the_pair_as_witness():
    ops = [(0, "read", {"0": 10, "1": 10}, "ok"), (1, "transfer", T, "ok"),
           (2, "read", {"0": 7, "1": 10}, "ok"),  # the debit without the credit
           (0, "read", {"0": 7, "1": 13}, "ok")]
    r = bank(ops)
    assert r["valid"] is False
    [a] = r["anomalies"]
    assert a["type"] == "wrong-total" and a["ops"] == [1, 5] and a["total"] == 17
    assert bank(ops, bank_total=17)["anomaly_count"] == 2  # then the other two are wrong


def test_nil_balance_and_negative_values():
    assert bank([(0, "read", {"0": None, "1": 20}, "ok")])["anomalies"][0]["type"] == "nil-balance"
    neg = [(0, "read", {"0": -1, "1": 21}, "ok")]
    assert bank(neg, bank_total=20, bank_negative="forbid")["valid"] is False
    assert bank(neg, bank_total=20, bank_negative="allow", bank_accounts=("0", "1"))["valid"] is True
    undecided = bank(neg, bank_total=20)
    assert undecided["valid"] == "unknown" and undecided["notices"][0]["type"] == "negative-value"


def test_no_ok_read_is_unknown_and_failed_reads_do_not_count():
    r = bank([(1, "transfer", T, "ok"), (0, "read", {"0": 1, "1": 1}, "fail")], bank_total=20)
    assert r["valid"] == "unknown" and "no ok read" in r["reason"]


def test_transfers_infer_the_bank_workload():
    assert infer_workload(history([(1, "transfer", T, "info")])) == "bank"


def test_check_cli_bank_flags():
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "splitbrain", "check", BANK_MINI, "-q", *argv],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": ROOT})
    assert run().returncode == 2  # the total is not in the history
    assert run("--bank-total", "20").returncode == 0
    assert run("--bank-total", "21").returncode == 1
    bad = run("--bank-negative", "sometimes")
    assert bad.returncode == 254 and "forbid" in bad.stderr and "Traceback" not in bad.stderr


# --- a simulated bank, Jepsen's formula as the reference ----------------------------------

@st.composite
def bank_histories(draw):
    """A serializable bank of 3 accounts (total 30): transfers apply atomically (ok),
    not at all (fail), or either way (info); reads are snapshots. `torn` reads, when
    drawn, see a transfer's debit without its credit: the injected anomaly."""
    bal = {"0": 10, "1": 10, "2": 10}
    ops, torn = [], []
    crashed = 0
    for _ in range(draw(st.integers(1, 12))):
        p = draw(st.integers(0, 2)) + 10 * crashed
        if draw(st.booleans()):
            a, b = draw(st.permutations(["0", "1", "2"]))[:2]
            amt = draw(st.integers(1, 12))
            outcome = draw(st.sampled_from(["ok", "fail", "info"]))
            applies = outcome == "ok" or (outcome == "info" and draw(st.booleans()))
            if applies:
                bal[a] -= amt
                bal[b] += amt
            ops.append((p, "transfer", {"from": a, "to": b, "amount": amt},
                        None if outcome == "info" else outcome))
            crashed += outcome == "info"
        else:
            snap = dict(bal)
            if draw(st.integers(0, 5)) == 0:
                snap[draw(st.sampled_from(sorted(snap)))] -= draw(st.integers(1, 5))
                torn.append(len(ops))
            ops.append((p, "read", snap, "ok"))
    return ops, torn


def completion_index(ops, pos):
    """The event index of op `pos`'s completion, as `history` numbers them."""
    i = 0
    for j, (_, _, _, typ) in enumerate(ops):
        i += 1 + (typ is not None)
        if j == pos:
            return i - 1


def jepsen_valid(ops, total, negative_ok, accounts=("0", "1", "2")):
    """jepsen.tests.bank/check-op over every ok read."""
    for _, f, v, typ in ops:
        if f != "read" or typ != "ok":
            continue
        if not set(v) <= set(accounts):
            return False
        if any(b is None for b in v.values()) or sum(v.values()) != total:
            return False
        if not negative_ok and any(b < 0 for b in v.values()):
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(bank_histories(), st.sampled_from(["forbid", "allow"]))
def test_matches_jepsens_check_op_when_the_test_is_known(h, negative):
    ops, torn = h
    r = bank(ops, bank_total=30, bank_negative=negative, bank_accounts=("0", "1", "2"))
    expect = jepsen_valid(ops, 30, negative == "allow")
    if not any(f == "read" for _, f, _, _ in ops):
        assert r["valid"] == "unknown"
        return
    assert r["valid"] == expect
    if torn:
        assert r["valid"] is False
        assert {completion_index(ops, t) for t in torn} & {o for a in r["anomalies"] for o in a["ops"]}


@settings(max_examples=300, deadline=None)
@given(bank_histories())
def test_without_the_total_invalid_only_when_every_total_would_be(h):
    ops, _ = h
    r = bank(ops, bank_negative="allow")
    sums = {sum(v.values()) for _, f, v, t in ops if f == "read" and t == "ok"}
    if r["valid"] is False:  # INVALID must hold whatever the test's total was
        assert all(not jepsen_valid(ops, t, True) for t in sums | {30})
    else:
        assert len(sums) <= 1


def test_simulated_bank_without_faults_has_no_anomalies():
    rng = random.Random(7)
    for _ in range(50):
        bal = {str(a): 25 for a in range(4)}
        ops = []
        for _ in range(200):
            if rng.random() < 0.5:
                a, b = rng.sample(sorted(bal), 2)
                amt = rng.randint(1, 5)
                if bal[a] >= amt:
                    bal[a] -= amt
                    bal[b] += amt
                    ops.append((rng.randint(0, 4), "transfer", {"from": a, "to": b, "amount": amt}, "ok"))
                else:
                    ops.append((rng.randint(0, 4), "transfer", {"from": a, "to": b, "amount": amt}, "fail"))
            else:
                ops.append((rng.randint(0, 4), "read", dict(bal), "ok"))
        r = bank(ops, bank_total=100, bank_negative="forbid", bank_accounts=tuple(bal))
        assert r["valid"] is True and not r.get("anomalies")


# --- unexpected-key (jepsen.tests.bank/check-op's first case) -----------------------------

def test_unexpected_key_against_the_known_accounts():
    # Jepsen: {:accounts [0 1]} and a read naming account 2 is :unexpected-key, even when
    # the balances sum to the total
    ops = [(1, "transfer", T, "ok"), (0, "read", {"0": 7, "1": 13, "2": 0}, "ok")]
    r = bank(ops, bank_total=20, bank_negative="forbid", bank_accounts=("0", "1"))
    assert r["valid"] is False
    [a] = r["anomalies"]
    assert a["type"] == "unexpected-key" and a["unexpected"] == ["2"] and a["ops"] == [3]
    assert bank(ops, bank_total=20, bank_negative="forbid",
                bank_accounts=("0", "1", "2"))["valid"] is True


def test_unexpected_key_not_checkable_without_the_accounts():
    # account 2 is named by no transfer: it may be an account the test never moved money
    # through, or a key that should not be there; never an anomaly, but never valid either
    ops = [(1, "transfer", T, "ok"), (0, "read", {"0": 7, "1": 13, "2": 0}, "ok")]
    r = bank(ops, bank_total=20, bank_negative="forbid")
    assert r["valid"] == "unknown" and not r["anomalies"]
    assert "2" in r["reason"] and "--bank-accounts" in r["reason"]
    # every read key named by some transfer (from/to are drawn from the accounts): valid
    ops2 = [(1, "transfer", T, "ok"), (0, "read", {"0": 7, "1": 13}, "ok")]
    r2 = bank(ops2, bank_total=20, bank_negative="forbid")
    assert r2["valid"] is True
    assert r2["stats"]["unexpected_key"] == "every read key is named by a transfer"


def test_check_cli_bank_accounts_flag():
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "splitbrain", "check", BANK_MINI, "-q",
                               "--bank-total", "20", *argv], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert run("--bank-accounts", "0,1").returncode == 0
    assert run("--bank-accounts", "0").returncode == 1  # the reads name account 1


# --- reads of maps and no transfer: the bank workload is a guess from their shape -----

ELLE_MONOTONIC_KEY = [  # elle core_test.clj checker-test "invalid": reads of two counters
    (0, "read", {"x": 0, "y": 0}, "ok"), (0, "read", {"x": 1, "y": 0}, "ok"),
    (0, "read", {"x": 1, "y": 1}, "ok"), (0, "read", {"x": 0, "y": 1}, "ok")]


def test_reads_of_maps_without_transfers_are_not_a_wrong_total():
    """Elle's monotonic-key histories (core_test.clj) are reads of {key: counter} maps and
    nothing else, the shape of a bank test's snapshot reads: inferred as bank, they came
    out INVALID wrong-total ("transfers neither create nor destroy money"), though no
    transfer exists. The first three reads are a valid monotonic-key history (counters
    only grow, no cycle; Elle's graph has none). With no transfer recorded, nothing says
    the reads are one bank's conserved total: unknown, naming --bank-total; with it, with
    --workload bank, or with a transfer in the history the totals are judged as before."""
    h = history(ELLE_MONOTONIC_KEY[:3])
    res = run_checks(h)
    assert res["workload"] == "bank"
    b = res["checkers"]["bank"]
    assert b["valid"] == "unknown" and b["anomaly_count"] == 0, b
    assert "transfer" in b["reason"] and "--bank-total" in b["reason"]
    assert {n["type"] for n in b["notices"]} == {"wrong-total"}  # still shown
    # Elle: invalid (a monotonic-key cycle); splitbrain cannot tell which semantics
    assert run_checks(history(ELLE_MONOTONIC_KEY))["checkers"]["bank"]["valid"] == "unknown"
    # the user names the workload, or states the total: judged as before
    assert bank(ELLE_MONOTONIC_KEY[:3])["valid"] is False
    assert run_checks(h, CheckOptions(bank_total=0))["checkers"]["bank"]["valid"] is False
    # one transfer in the history makes it a bank test: disagreeing sums are INVALID
    ops = ELLE_MONOTONIC_KEY[:2] + [(1, "transfer", T, "fail")]
    assert bank(ops)["valid"] is False
