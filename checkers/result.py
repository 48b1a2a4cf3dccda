"""Result types shared by every checker (architecture §5, checker-spec §9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Validity = bool | str  # True, False or "unknown"
UNKNOWN = "unknown"
DEFAULT_CAP = 32


@dataclass
class Anomaly:
    """One finding with its minimal witness.

    `ops` are history `index` values (completion index; invocation index for ops that
    never completed). `explanation` is one sentence a user can check by hand; it may be
    given as a zero-argument callable, built only when the anomaly is kept and shown
    (issue 15: a read with 10,000 garbage elements must not stringify itself 10,000 times).
    `details` holds roles, observed/expected values, confidence, severity...
    """

    type: str
    explanation: Any
    ops: list[int]
    key: Any = None
    process: Any = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        if self.key is not None:
            out["key"] = list(self.key) if isinstance(self.key, tuple) else self.key
        if self.process is not None:
            out["process"] = self.process
        out["ops"] = list(self.ops)
        out["explanation"] = self.text()
        out.update(self.details)
        return out

    def text(self) -> str:
        """The explanation sentence (built now if it was given lazily)."""
        e = self.explanation
        if callable(e):
            e = self.explanation = e()
        return e


@dataclass
class CheckResult:
    """What one named checker concluded.

    valid: True (no anomaly), False (anomalies found) or "unknown" (a precondition failed;
    `reason` says which). `anomaly_count` stays exact when the list is capped.
    """

    name: str
    valid: Validity
    anomalies: list[Anomaly] = field(default_factory=list)
    anomaly_count: int | None = None
    stats: dict = field(default_factory=dict)
    reason: str | None = None
    assumptions: list[str] = field(default_factory=list)
    notices: list[Anomaly] = field(default_factory=list)
    # False: the property cannot be measured on this kind of history at all (staleness of
    # a plain register). Still "unknown" with the reason, but a default run's overall
    # verdict is merged over the applicable checkers only.
    applicable: bool = True
    details: dict = field(default_factory=dict)  # family-specific verdict data, merged into to_json

    def __post_init__(self) -> None:
        if self.anomaly_count is None:
            self.anomaly_count = len(self.anomalies)

    def to_json(self, cap: int = DEFAULT_CAP) -> dict:
        out: dict[str, Any] = {
            "valid": self.valid,
            "anomaly_count": self.anomaly_count,
            "anomalies": [a.to_json() for a in self.anomalies[:cap]],
            "stats": self.stats,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.assumptions:
            out["assumptions"] = list(self.assumptions)
        if self.notices:
            out["notices"] = [a.to_json() for a in self.notices[:cap]]
        if not self.applicable:
            out["applicable"] = False
        if self.details:
            out.update(self.details)
        return out


def merge_valid(values: list[Validity]) -> Validity:
    """Jepsen's priority: false > unknown > true."""
    if any(v is False for v in values):
        return False
    if any(v == UNKNOWN for v in values):
        return UNKNOWN
    return True


def result_from_anomalies(name: str, anomalies: list[Anomaly], *, stats: dict | None = None,
                          assumptions: list[str] | None = None,
                          unknown_reason: str | None = None) -> CheckResult:
    """valid=False if any anomaly; else "unknown" when a reason is given; else True."""
    if anomalies:
        valid: Validity = False
    elif unknown_reason:
        valid = UNKNOWN
    else:
        valid = True
    return CheckResult(name=name, valid=valid, anomalies=anomalies, stats=stats or {},
                       reason=unknown_reason, assumptions=assumptions or [])


def nothing_checked_reason(history, what: str) -> str:
    """Why a checker that examined nothing is unknown (issue 10 item 6), naming what
    the history does hold so a user can tell a wrong workload from an empty run."""
    from collections import Counter

    fs = Counter(op.f for op in history.ops)
    n_txn = fs.pop("txn", 0)
    shown = ", ".join(f"{f} x{n}" for f, n in fs.most_common(4)) or "no operations"
    extra = (f"; {n_txn} transaction(s) are left to the transactional checker"
             if n_txn else "")
    return (f"nothing to check: no {what} this checker can judge (the history has "
            f"{shown}{extra})")
