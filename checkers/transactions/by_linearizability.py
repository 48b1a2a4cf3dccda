"""rw-register histories whose writes repeat, judged by linearizability (transactions.md).

Elle's rw-register inference needs each (key, value) written once; Knossos' and many
hand-made register histories write 0, 1, 2 over and over. Such a history can still be
judged for *strict serializability*: that is exactly linearizability of the committed
transactions as atomic operations on a map of registers (info txns may or may not have
taken effect, failed ones did not), which the linearizable checker's multi-register
model searches. Obligations:

* linearizable => `valid` for every claimed model (strict serializability implies them
  all), with what was searched in `stats`;
* not linearizable => INVALID only when strict-serializable is claimed; for a weaker
  claim `unknown` (a real-time order that fails says nothing about serializability);
* a search over budget, or a history that passes only from initial values it does not
  record, => `unknown` with the linearizable checker's reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from splitbrain.checkers.result import Anomaly, CheckResult

STRICT = "PL-SS"  # canonical name of strict-serializable (models.py)
BUDGET = 400_000  # configurations per partition: the Python engine ends in seconds


def check(history: Any, txns: Any, options: Any, claim: tuple, details: dict, stats: dict,
          why: str, name: str) -> CheckResult:
    from splitbrain.checkers.linearizable import LinearizableOptions, _lin_options, \
        check_linearizable
    from splitbrain.harness.history import History

    ops = sorted((op._replace(f="txn") for op in (*txns.vertices, *txns.fails)),
                 key=lambda o: o.index)
    sub = History(ops=ops, source=history.source, meta=dict(history.meta or {}))
    lo = _lin_options(options)
    default_budget = LinearizableOptions().max_configs
    # Elle's semantics: a nil read saw the initial (absent) value; the default budget is
    # the native engine's, and this model runs on the Python one
    lo = replace(lo, model="multi-register", nil_read="absent",
                 max_configs=BUDGET if lo.max_configs == default_budget else lo.max_configs)
    lin = check_linearizable(sub, lo, "txn-rw-register", getattr(options, "anomaly_cap", 32))
    stats = dict(stats, judged_by="linearizability (multi-register)", duplicate_writes=why,
                 linearizable=lin.stats)
    details = dict(details, anomaly_types=[], method="linearizability",
                   assumptions=list(lin.assumptions or []))
    note = Anomaly(type="duplicate-writes", ops=[], explanation=(
        f"{why}; Elle's inference cannot order such writes, so the transactions were "
        "checked as atomic operations on a multi-register for linearizability (strict "
        "serializability)"))
    if lin.valid is True:
        return CheckResult(name=name, valid=True, stats=stats, details=details,
                           notices=[note, *lin.notices])
    if lin.valid is False:
        anomalies = []
        for a in lin.anomalies:
            anomalies.append(Anomaly(
                type="strict-serializability-violation", ops=list(a.ops), key=a.key,
                process=a.process, explanation=(
                    "no real-time-respecting order of the committed transactions explains "
                    f"their reads: {a.explanation}"), details=dict(a.details or {})))
        if STRICT in claim:
            details["anomaly_types"] = ["strict-serializability-violation"]
            return CheckResult(name=name, valid=False, anomalies=anomalies, stats=stats,
                               details=details, notices=[note])
        return CheckResult(name=name, valid="unknown", stats=stats, details=details,
                           notices=[note, *anomalies], reason=(
                               f"duplicate-writes: {why}; the transactions are not "
                               "linearizable (not strict-serializable), which does not "
                               f"decide {', '.join(details.get('consistency_model') or ['the claim'])}"))
    return CheckResult(name=name, valid="unknown", stats=stats, details=details,
                       notices=[note], reason=f"duplicate-writes: {why}; by linearizability: "
                       f"{lin.reason}")


COMPLETE_MAX_TXNS = 64  # small histories only: the search is exponential in concurrency
COMPLETE_BUDGET = 20_000  # configurations; over it the graph's verdict stands


def completeness(history: Any, txns: Any, options: Any) -> tuple[list[Anomaly], dict]:
    """Elle's rw-register inference is sound but incomplete: without a known version
    order it cannot see that two sessions each read the other's write after their own
    (elle-cli's rwregister-fail.edn). On a small history whose graph showed no cycle, a
    strict-serializable claim is decided exactly by searching real-time orders of the
    committed transactions (linearizability of a multi-register). Returns the
    violations found (empty when linearizable, undecided or too large) and what was
    searched. Only called under a strict-serializable claim."""
    from splitbrain.checkers.linearizable import _lin_options, check_linearizable
    from splitbrain.harness.history import History

    n = len(txns.vertices) + len(txns.fails)
    if n > COMPLETE_MAX_TXNS:
        return [], {"searched": False, "why": f"{n} txns > {COMPLETE_MAX_TXNS}"}
    ops = sorted((op._replace(f="txn") for op in (*txns.vertices, *txns.fails)),
                 key=lambda o: o.index)
    sub = History(ops=ops, source=history.source, meta=dict(history.meta or {}))
    lo = replace(_lin_options(options), model="multi-register", nil_read="absent",
                 max_configs=COMPLETE_BUDGET)
    lin = check_linearizable(sub, lo, "txn-rw-register", getattr(options, "anomaly_cap", 32))
    info = {"searched": True, "linearizable": lin.valid}
    if lin.valid is not False:
        return [], info
    return [Anomaly(type="strict-serializability-violation", ops=list(a.ops), key=a.key,
                    process=a.process, explanation=(
                        "no cycle in the dependency graph, but no real-time-respecting order "
                        f"of the committed transactions explains their reads: {a.explanation}"),
                    details=dict(a.details or {})) for a in lin.anomalies], info
