"""Checker family `bank`: Jepsen's bank workload (`jepsen.tests.bank`), for histories
recorded by other tools (splitbrain's own runs have no bank workload).

Ops: `transfer` (value `{from, to, amount}`; ok, fail or info) and `read` (an ok read's
value is `{account: balance}`, a snapshot of every account). Transfers move money between
accounts and never create or destroy it, so every snapshot must sum to the same total.

Obligations, per ok read (Jepsen's error types):

* `nil-balance`: an account the read returned has no balance;
* `wrong-total`: with `bank_total` given (`--bank-total`), a read whose balances do not sum
  to it; without it, a read whose sum differs from the sum most reads agree on (ties: the
  earliest read's) — two snapshots with different sums cannot both be right, whatever the
  initial total was, so the pair is the witness. A history with no transfer at all is a
  bank only by its shape (reads of maps of numbers, also what Elle's monotonic-key tests
  record): inferred so (`--workload bank` not given), disagreeing sums are a notice and
  the verdict unknown, unless `bank_total` is given;
* `negative-value`: a negative balance — an anomaly with `bank_negative="forbid"`
  (Jepsen's default), allowed with `"allow"`; undecided (the history does not say which
  the test meant) it is a notice and the verdict is unknown;
* `unexpected-key`: with the test's accounts given (`bank_accounts`, `--bank-accounts`),
  a read naming an account not among them. Without them it is checkable only in one
  direction: a transfer's `from` / `to` were drawn from the accounts, so a read key that
  some transfer names is an account; a read key no transfer names may or may not be one,
  so it is never called unexpected, and the verdict is unknown (not valid) for it.

Verdict: INVALID on any anomaly. Valid only when every ok read was checked against a
known total (`bank_total`) and every read key is a known account. Without one, snapshots that all agree are unknown, naming
the total they agree on: the history never records the initial balances, so an equal
wrong total in every read (a lost initial write) cannot be told from a right one.
Unknown too when there is no ok read. Keys are compared by their string form (JSON
object keys are strings).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import History, Op

NAME = "bank"
NEGATIVE = ("forbid", "allow")


def check(history: History, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    if options.bank_negative not in (None, *NEGATIVE):
        raise InputError(f"--bank-negative {options.bank_negative!r}: allowed: "
                         f"{', '.join(NEGATIVE)}")
    reads = [op for op in history.ops if op.f == "read" and op.type == "ok"]
    for op in reads:
        if not isinstance(op.value, dict):
            raise InputError(f"{history.source}: op {op.index} (process {op.process}): a bank "
                             f"read's value must be a map of account -> balance, got "
                             f"{type(op.value).__name__}")
    anomalies: list[Anomaly] = []
    notices: list[Anomaly] = []
    sums: list[tuple[Op, Any]] = []
    for op in reads:
        total, nil = _balances(op, anomalies, notices, options.bank_negative)
        if not nil:
            sums.append((op, total))
    transfers = any(op.f == "transfer" for op in history.ops)
    if transfers or options.bank_total is not None or not options.workload_inferred:
        reason = _totals(sums, options.bank_total, anomalies)
    else:
        # reads of maps, no transfer, workload not named: only their shape says "bank"
        # (Elle's monotonic-key histories are reads of counter maps that grow), so two
        # sums that disagree prove nothing about a conserved total: shown, not judged
        guessed: list[Anomaly] = []
        reason = _totals(sums, None, guessed)
        notices.extend(guessed)
        if guessed:
            reason = ("the reads' balances do not all sum to one total, but the history has "
                      "no transfer: nothing says they are one bank's conserved total (reads "
                      "of growing counters look the same); --workload bank or --bank-total "
                      "decides")
    keys_why = _keys(history, reads, getattr(options, "bank_accounts", None), anomalies)
    reason = reason or keys_why
    if any(n.type == "negative-value" for n in notices) and not anomalies:
        reason = ("a read returned a negative balance: an anomaly unless the test allowed "
                  "negative balances, which the history does not say (--bank-negative "
                  "forbid|allow decides)")
    if not reads:
        reason = "no ok read: nothing to check the balances of"
    stats = {"reads": len(reads), "reads_checked": len(sums),
             "transfers": sum(1 for op in history.ops if op.f == "transfer"),
             "transfers_ok": sum(1 for op in history.ops
                                 if op.f == "transfer" and op.type == "ok"),
             "totals": {str(t): n for t, n in Counter(t for _, t in sums).most_common(8)},
             "accounts": len({str(a) for op in reads for a in op.value})}
    if options.bank_total is not None:
        stats["bank_total"] = options.bank_total
    stats["unexpected_key"] = ("checked against --bank-accounts"
                               if getattr(options, "bank_accounts", None) is not None
                               else keys_why or "every read key is named by a transfer")
    valid = False if anomalies else (UNKNOWN if reason else True)
    return {NAME: CheckResult(name=NAME, valid=valid, anomalies=anomalies, notices=notices,
                              stats=stats, reason=None if anomalies else reason)}


def _balances(op: Op, anomalies: list, notices: list, negative: str | None) -> tuple[Any, bool]:
    """The read's sum, and whether some balance was nil (then there is no sum)."""
    total, nil = 0, False
    for acct, bal in op.value.items():
        if bal is None:
            nil = True
            anomalies.append(Anomaly(
                "nil-balance", f"{op.describe()} returned account {acct!r} with no balance.",
                [op.index], key=acct, process=op.process, details={"account": acct}))
            continue
        if isinstance(bal, bool) or not isinstance(bal, (int, float)):
            raise InputError(f"op {op.index} (process {op.process}): balance {bal!r} of "
                             f"account {acct!r} is not a number")
        total += bal
        if bal < 0 and negative != "allow":
            a = Anomaly("negative-value",
                        f"{op.describe()} returned a negative balance {bal!r} for account "
                        f"{acct!r}.", [op.index], key=acct, process=op.process,
                        details={"account": acct, "balance": bal})
            (anomalies if negative == "forbid" else notices).append(a)
    return total, nil


def _keys(history: History, reads: list[Op], accounts, anomalies: list) -> str | None:
    """unexpected-key anomalies against the known accounts; without them, the reason
    the check could not be made (read keys no transfer names), or None."""
    if accounts is not None:
        known = {str(a) for a in accounts}
        for op in reads:
            bad = sorted((str(a) for a in op.value if str(a) not in known), key=_natural)
            if bad:
                anomalies.append(Anomaly(
                    "unexpected-key", f"{op.describe()} returned account(s) "
                    f"{', '.join(bad)}, which are not among the test's accounts "
                    f"({', '.join(sorted(known, key=_natural))}).", [op.index],
                    process=op.process, details={"unexpected": bad}))
        return None
    named = set()
    for op in history.ops:
        if op.f == "transfer" and isinstance(op.value, dict):
            for end in ("from", "to"):
                if end in op.value:
                    named.add(str(op.value[end]))
    unnamed = sorted({str(a) for op in reads for a in op.value} - named, key=_natural)
    if not unnamed:
        return None
    return (f"read key(s) {', '.join(unnamed[:8])}{' …' if len(unnamed) > 8 else ''} are "
            "named by no transfer, and the history does not record the test's accounts: "
            "whether they are unexpected keys is not checkable (--bank-accounts decides)")


def _natural(k: str):
    return (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k)


def _totals(sums: list[tuple[Op, Any]], known: Any, anomalies: list) -> str | None:
    """wrong-total anomalies; the reason the verdict is unknown when none was found."""
    if not sums:
        return None
    if known is not None:
        for op, total in sums:
            if total != known:
                anomalies.append(Anomaly(
                    "wrong-total", f"{op.describe()}: the balances sum to {total!r}, not the "
                    f"bank's total {known!r}; transfers neither create nor destroy money.",
                    [op.index], process=op.process, details={"total": total,
                                                             "expected": known}))
        return None
    counts = Counter(t for _, t in sums)
    first = {}
    for op, t in sums:
        first.setdefault(t, op)
    # the sum most reads agree on; a tie goes to the earliest read's
    agreed = max(counts, key=lambda t: (counts[t], -first[t].index))
    ref = first[agreed]
    for op, total in sums:
        if total != agreed:
            anomalies.append(Anomaly(
                "wrong-total", f"{op.describe()}: the balances sum to {total!r}, but "
                f"{ref.describe()} and {counts[agreed] - 1} other read(s) sum to {agreed!r}; "
                f"transfers neither create nor destroy money, so both cannot be right.",
                [ref.index, op.index], process=op.process,
                details={"total": total, "agreed_total": agreed, "agreed_by": counts[agreed]}))
    if anomalies:
        return None
    return (f"every ok read sums to {agreed!r}, but the history does not record the "
            f"initial total (--bank-total {agreed!r} decides)")
