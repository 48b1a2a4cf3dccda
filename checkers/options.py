"""Options every checker receives, and parsing of the user-facing forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from splitbrain.harness.errors import InputError


@dataclass(frozen=True)
class Judged:
    """How one workload's history is judged: the single place a workload name meets the
    checkers (no alias table, no per-name special case).

    shape: the history shape the checkers read (`results.json["workload"]` names the
      workload itself); a workload may share another's shape (cas-register is a
      register, queue-group a queue).
    defaults: the checker names it runs when none are asked for (checker-spec §8).
    micro: transactional workloads only — the shape of their micro-ops, which the
      single-key families judge (what a txn wrote counts as written)."""

    shape: str
    defaults: tuple[str, ...]
    micro: str | None = None


_SESSION = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads",
            "session")
_REGISTER = ("integrity", *_SESSION, "staleness", "lost-updates", "convergence")
_QUEUE = ("queue", "queue-lag")
_PROPAGATION = ("lost-event", "orphan-effect", "duplicate-effect", "derived-regression",
                "propagation-lag", "dlq-conservation")  # not applicable without dead letters
JUDGED: dict[str, Judged] = {
    "register": Judged("register", _REGISTER),
    # a register with compare-and-set (Knossos/Jepsen cas-register): values repeat there,
    # so the linearizable checker judges it beside the register checkers
    "cas-register": Judged("register", (*_REGISTER, "linearizable")),
    "list-append": Judged("list-append", _REGISTER),
    "set": Judged("set", ("integrity", *_SESSION, "lost-updates", "convergence")),
    "counter": Judged("counter", ("lost-updates", "convergence")),
    "txn-list-append": Judged("txn-list-append", ("transactions",), micro="list-append"),
    "txn-rw-register": Judged("txn-rw-register", ("transactions",), micro="register"),
    "queue": Judged("queue", _QUEUE),
    "queue-group": Judged("queue", _QUEUE),
    "propagation": Judged("propagation", _PROPAGATION),
    "propagation-dual-write": Judged("propagation", _PROPAGATION),
    "propagation-none": Judged("propagation", _PROPAGATION),
    "mutex": Judged("mutex", ("linearizable",)),  # Knossos' lock histories
    "bank": Judged("bank", ("bank",)),  # Jepsen's bank workload (histories of other tools)
}
WORKLOADS = tuple(JUDGED)


def shape_of(workload: str) -> str:
    """The history shape `workload` is checked as (a shape is its own)."""
    j = JUDGED.get(workload)
    return j.shape if j else workload


@dataclass(frozen=True)
class CheckOptions:
    """What a checker may be told. Defaults are the safe (no-assumption) choices.

    workload: one of WORKLOADS (inferred from the ops when None).
    staleness_bound_ns / staleness_bound_versions: report reads staler than these.
    realtime_claim: the store claims real-time (single leader / consensus) ordering, so
      "converged to a superseded value" is a violation rather than a notice (§6, P10).
    continue_session_after_info: sessions continue after an info op (findings that depend
      on it are reported as suspect, §1.3).
    anomaly_cap: how many anomalies each checker lists (counts stay exact).
    version_tiebreak: the store's rule for two different values carrying one version
      ("cassandra": equal WRITETIMEs are reconciled by the greater serialised value,
      `Cells.resolveRegular`). Without it such a pair is a version-conflict.
    max_lag_ns: the `--max-lag` gate of the queue-lag checker (checkers/queue/lag.py).
    bank_total / bank_negative: the bank test's total and whether negative balances were
      allowed (`--bank-total`, `--bank-negative forbid|allow`; checkers/bank.py).
    """

    workload: str | None = None
    staleness_bound_ns: int | None = None
    staleness_bound_versions: int | None = None
    realtime_claim: bool = False
    continue_session_after_info: bool = False
    anomaly_cap: int = 32
    linearizable: Any = None  # checkers.linearizable.LinearizableOptions (None = defaults)
    version_tiebreak: str | None = None
    max_lag_ns: int | None = None  # queue-lag: polls further behind than this are anomalies
    max_propagation_lag_ns: int | None = None  # propagation-lag: the p99 gate
    # transactions (transactions.md §5.4): claimed models (empty: strict-serializable),
    # opt-in version-order assumptions (wfr), per-SCC cycle-search budget
    consistency_models: tuple[str, ...] = ()
    txn_assume: tuple[str, ...] = ()
    cycle_search_timeout_s: float = 1.0
    txn_anomalies: tuple[str, ...] = ()  # Elle's :anomalies: those and all implying them
    # (model or None, why): what the store claims for txns in its configuration (its
    # Claims "transactions" / "transactions_why"); the default when no model is given
    txn_claim: tuple[str | None, str] | None = None
    bank_total: int | float | None = None  # bank: what every read must sum to (None: unknown)
    bank_negative: str | None = None  # bank: "forbid" / "allow" negative balances (None: unknown)
    bank_accounts: tuple | None = None  # bank: the test's accounts (None: unknown)
    # set by run_checks: the workload was inferred from the ops' shapes, not named; a
    # checker whose workload a shape only suggests (bank from reads of maps) says less
    workload_inferred: bool = False
    # run_checks' forked family workers (checkers/parallel.py): None = automatic (big
    # histories, >= 2 CPUs, env SPLITBRAIN_CHECK_WORKERS), 1 = serial, N = at most N
    check_workers: int | None = None

    @classmethod
    def from_test(cls, test, *, history: str | None = None, **overrides) -> "CheckOptions":
        """The options a run is checked with, from its Test or its recorded test.json
        (a dict): the runner, `report --recheck` and the Python API all use this, so a
        recheck judges exactly what the run did (the staleness bound included).

        history: the workload's history shape (workloads know it; a test.json only
        names the workload) — otherwise the recorded workload when it is one of
        WORKLOADS, else inferred from the ops."""
        get = test.get if isinstance(test, dict) else (lambda k, d=None: getattr(test, k, d))
        workload = history or get("workload")
        if workload not in WORKLOADS:
            workload = None
        bound = get("staleness_bound")
        t_ns, k = parse_staleness_bound(bound if isinstance(bound, str) else None)
        values = dict(workload=workload, staleness_bound_ns=t_ns, staleness_bound_versions=k)
        # queue-lag / propagation-lag gates (recorded in test.json as the run's flags)
        values["max_lag_ns"] = parse_max_lag(get("max_lag"))
        values["max_propagation_lag_ns"] = parse_max_lag(get("max_propagation_lag"),
                                                       "--max-propagation-lag")
        values.update(overrides)
        return cls(**values)


_BOUND = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|v|versions?)\s*$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000}


def parse_max_lag(text: str | None, flag: str = "--max-lag") -> int | None:
    """'2s' -> 2_000_000_000 (the queue-lag gate, `--max-lag`); None -> None."""
    if not text:
        return None
    m = _BOUND.match(text)
    if not m or m.group(2).startswith("v"):
        raise InputError(f"{flag} {text!r}: expected a time like 500ms or 2s")
    return int(float(m.group(1)) * _UNIT_NS[m.group(2)])


def parse_staleness_bound(text: str | None) -> tuple[int | None, int | None]:
    """'250ms' -> (250_000_000, None); '3v' -> (None, 3); '1s,2v' -> both."""
    if not text:
        return None, None
    t_ns: int | None = None
    k: int | None = None
    for part in text.split(","):
        m = _BOUND.match(part)
        if not m:
            raise InputError(
                f"--staleness-bound {text!r}: expected a time like 250ms / 1.5s or a version "
                f"count like 3v (or both: 1s,3v)"
            )
        num, unit = m.group(1), m.group(2)
        if unit.startswith("v"):
            if "." in num:
                raise InputError(f"--staleness-bound {text!r}: a version count is a whole number")
            k = int(num)
        else:
            t_ns = int(float(num) * _UNIT_NS[unit])
    return t_ns, k
