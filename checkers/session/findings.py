"""What the session passes found, the guarantee names, and session order (checker-spec §1.3, §3).

Shared by every session pass: `SessionFindings` collects anomalies, notices and counters;
`_steps` walks one session in ≺s order (an op is judged at its invocation against what
completed before it, §3.5).
"""

from __future__ import annotations

from itertools import chain, cycle, islice
from operator import attrgetter, itemgetter, lt
from typing import Any

from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import BOTTOM, VersionIndex
from splitbrain.harness.history import Op

RYW, MR, MW, WFR = ("read-your-writes", "monotonic-reads", "monotonic-writes",
                    "writes-follow-reads")
NAMES = (RYW, MR, MW, WFR)
# The conjunction: a cycle mixing guarantees proves at least one of them is broken even
# when no single one provably is (issue 10 item 7): INVALID, never a mere notice.
SESSION = "session"
ALL_NAMES = (*NAMES, SESSION)
SHORT = {RYW: "RYW", MR: "MR", MW: "MW", WFR: "WFR"}


class SessionFindings:
    """Anomalies and counters of one analysis run."""

    def __init__(self) -> None:
        self.anoms: dict[str, list[Anomaly]] = {n: [] for n in ALL_NAMES}
        self.notices: dict[str, list[Anomaly]] = {n: [] for n in ALL_NAMES}
        self.stats: dict[str, dict] = {n: {"reads_checked": 0, "writes_checked": 0,
                                           "unverifiable": 0} for n in ALL_NAMES}
        self.sessions: set = set()
        self.skipped_keys: list = []
        self.flagged: set[int] = set()  # ops already reported by a floor rule (plain keys)
        self.plain_edges: dict = {}     # key -> §3.6 session edges (va, vb, ka, kb, a, b)

    def add(self, name: str, a: Anomaly, suspect: bool = False) -> None:
        if suspect:
            a.details["confidence"] = "suspect:info-session"
            self.notices[name].append(a)
        else:
            a.details.setdefault("confidence", "definite")
            self.anoms[name].append(a)



_Found = SessionFindings


_inv = _INV = attrgetter("inv_index")
_SECOND = itemgetter(1)
_RET = attrgetter("ret_index")


def _sequential(ops: list[Op]) -> bool:
    """Every op completes before the next one is invoked (C-level pairwise check)."""
    return all(map(lt, map(_RET, ops), map(_INV, islice(ops, 1, None))))


def _steps(ops: list[Op]) -> list[tuple[Op, bool]]:
    """(op, is_completion) in ≺s order: an op is judged at its invocation against what
    completed before it (§3.5 pipelined sessions); sequential sessions interleave."""
    if _sequential(ops):
        # each op twice: judged at its invocation, then its completion raises the floors
        return zip(chain.from_iterable(zip(ops, ops)), cycle((False, True)))
    ev = []
    for op in ops:
        ev.append((op.inv_index, 1, op))
        ev.append((op.ret_index, 0, op))
    ev.sort(key=lambda e: (e[0], e[1]))
    return [(op, kind == 0) for _, kind, op in ev]


def _suspect(*ops: Op | None) -> bool:
    sess = {o.session for o in ops if o is not None}
    return len(sess) > 1


def _uniq(xs) -> list[int]:
    out: list[int] = []
    for x in xs:
        if x is not None and x not in out:
            out.append(x)
    return out


def _fmt(ix: VersionIndex, v: Any) -> str:
    if v is None:
        return "unknown version"
    if v is BOTTOM or v == 0 and ix.total:
        return "⊥"
    if ix.kind == "list":
        return f"position {v}"
    if ix.kind == "versioned":
        return f"version rank {v}"
    return repr(v)


def _val(ix: VersionIndex, op: Op, observed: bool) -> Any:
    if observed:
        return ix.observed(op)
    if op.f == "cas":
        v = op.value
        return v[1] if isinstance(v, (list, tuple)) and len(v) == 2 else None
    return op.value



def _short(v: Any) -> str:
    s = repr(list(v) if isinstance(v, tuple) else v)
    return s if len(s) < 60 else s[:57] + "..."


def _j(v: Any) -> Any:
    return None if v is BOTTOM else v


