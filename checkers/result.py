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
    never completed). `explanation` is one sentence a user can check by hand.
    `details` holds roles, observed/expected values, confidence, severity...
    """

    type: str
    explanation: str
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
        out["explanation"] = self.explanation
        out.update(self.details)
        return out


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
