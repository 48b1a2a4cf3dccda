"""Integrity anomalies: values that cannot be explained by any write (checker-spec §2.1-§2.2).

garbage-read, aborted-read, future-read, duplicate-element, incompatible-order,
version-conflict, version-mismatch, cyclic-versions and dirty-update are found while the
per-key version indexes are built (`checkers.versions`); this module collects them.

Written values that are not unique per key (two invocations writing the same value, the
same element added twice to a set) make the history unverifiable for that key: the
result is "unknown" with the reason (P1), never "false" by itself.

`corrupt_ops(history, workload)` is the helper other checkers use to skip reads with no
usable version, so one corruption is not reported five times (P17).
"""

from __future__ import annotations

from typing import Any

from checkers.options import CheckOptions
from checkers.result import Anomaly, CheckResult, result_from_anomalies
from checkers.versions import build_indexes
from harness.history import History

NAME = "integrity"


def corrupt_ops(history: History, workload: str | None = None) -> set[int]:
    """Indices of ops whose observation is corrupt on some key (garbage, aborted, ...)."""
    out: set[int] = set()
    for ix in build_indexes(history, workload).values():
        out |= ix.corrupt
    return out


def duplicate_reason(indexes: dict) -> str | None:
    """The P1 reason string when some key has a value written more than once."""
    dup_keys = [(k, ix.duplicates) for k, ix in indexes.items() if ix.duplicates]
    if not dup_keys:
        return None
    k, dups = dup_keys[0]
    v, ops = dups[0]
    n = sum(len(d) for _, d in dup_keys)
    return (f"written values are not unique: {n} value(s) on {len(dup_keys)} key(s) were written "
            f"by more than one invocation (e.g. {k!r}={v!r} by ops "
            f"{', '.join(str(o.index) for o in ops[:4])}), so reads cannot be mapped to one "
            f"write (P1)")


def check(history: History, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    indexes = build_indexes(history, options.workload)
    anomalies: list[Anomaly] = []
    by_type: dict[str, int] = {}
    reads = corrupt = 0
    for ix in indexes.values():
        reads += len(ix.reads)
        corrupt += len(ix.corrupt)
        for a in ix.anomalies:
            anomalies.append(a)
            by_type[a.type] = by_type.get(a.type, 0) + 1
    anomalies.sort(key=lambda a: (a.ops[0] if a.ops else -1, a.type))
    kept, dropped = [], 0
    by_index = history.by_index() if anomalies else {}
    for i, a in enumerate(anomalies):
        if i < REPLAY_LIMIT and not replay(a, by_index, options.workload):
            dropped += 1
            continue
        kept.append(a)
    anomalies = kept
    stats: dict[str, Any] = {"keys": len(indexes), "reads_checked": reads,
                             "replay_dropped": dropped,
                             "corrupt_ops": corrupt, "by_type": by_type,
                             "duplicate_values": sum(len(ix.duplicates) for ix in indexes.values())}
    return {NAME: result_from_anomalies(NAME, anomalies, stats=stats,
                                        assumptions=["unique-values"],
                                        unknown_reason=duplicate_reason(indexes))}


REPLAY_LIMIT = 256


def replay(a: Anomaly, by_index: dict, workload: str | None) -> bool:
    """§9 witness replay: the witness ops alone must show the same anomaly type."""
    ops = [by_index[i] for i in a.ops if i in by_index]
    if len(ops) != len(a.ops):
        return False
    ops.sort(key=lambda o: o.inv_index)
    sub = History(ops=ops, source="<witness>")
    return any(x.type == a.type for ix in build_indexes(sub, workload).values()
               for x in ix.anomalies)
