"""The final state of every key: the ok `final` reads, per node (checker-spec §6, §5, P15).

Lost-update and convergence checks judge a key by what each node returns after the
faults healed and writes stopped. Obligations of this module:

* only `ok` reads with `final: true` count (an `info`/`fail` read carries no value, P16);
* a node's final state of a key is its *last* ok final read (by invocation), because the
  earlier ones may legitimately predate convergence (P15);
* a history without any `final` marker has no final state, except a Jepsen EDN import,
  whose workloads end with a final read phase but do not mark it: there the last ok read
  of each key stands in, and the result carries the assumption `final-read-is-last-read`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from splitbrain.harness.history import History, Op

LAST_READ_ASSUMPTION = "final-read-is-last-read"


@dataclass(frozen=True)
class FinalReads:
    """`reads[key][node]` = that node's ok final reads of key, in invocation order.

    `nodes` holds every node that served any final read (ok or not) of any key, so a node
    with no ok final read of some key can be counted as unknown for it. `attempted[key]`
    is the set of nodes with a final read attempt (any type) on that key.
    """

    reads: dict[Any, dict[Any, list[Op]]] = field(default_factory=dict)
    nodes: frozenset = frozenset()
    attempted: dict[Any, set] = field(default_factory=dict)
    assumption: str | None = None

    def covers(self, key: Any, write: Op) -> bool:
        """May the final state of `key` be held against `write`? Real final reads come
        after quiescence: yes. A stand-in (the last ordinary read of an EDN import) only
        testifies about writes that *completed before it was invoked* (issue 10 item 5);
        a write invoked after it, or still pending, is not lost."""
        if self.assumption != LAST_READ_ASSUMPTION:
            return True
        rs = [r for per in self.reads.get(key, {}).values() for r in per]
        return bool(rs) and all(write.ret_index < r.inv_index for r in rs)

    def last_per_node(self, key: Any) -> dict[Any, Op]:
        return {node: rs[-1] for node, rs in self.reads.get(key, {}).items()}

    @property
    def any(self) -> bool:
        return bool(self.reads)


def final_reads(history: History) -> FinalReads:
    """Collect the final reads of a history (see the module docstring for the rules).

    Built afresh; `Analysis.final_reads` keeps the one lost-updates and convergence
    share. Callers must treat the result as read-only."""
    return _collect(history)


def _collect(history: History) -> FinalReads:
    reads: dict[Any, dict[Any, list[Op]]] = {}
    attempted: dict[Any, set] = {}
    nodes: set = set()
    for op in filter(attrgetter("final"), history.ops):  # few ops are final: skip in C
        if op.f != "read" or isinstance(op.key, tuple):
            continue
        nodes.add(op.node)
        attempted.setdefault(op.key, set()).add(op.node)
        if op.type == "ok":
            reads.setdefault(op.key, {}).setdefault(op.node, []).append(op)
    if nodes:
        for per_node in reads.values():
            for rs in per_node.values():
                rs.sort(key=lambda o: (o.t_inv, o.inv_index))
        return FinalReads(reads, frozenset(nodes), attempted)
    if history.meta.get("format") != "edn":
        return FinalReads()
    last: dict[Any, Op] = {}
    for op in history.ops:  # ops are in invocation order, so the last one wins
        if op.f == "read" and op.type == "ok" and not isinstance(op.key, tuple):
            last[op.key] = op
    if None in last and any(op.key is not None for op in history.ops):
        del last[None]  # keyless reads in a keyed history name no object
    if not last:
        return FinalReads()
    return FinalReads({k: {op.node: [op]} for k, op in last.items()},
                      frozenset(op.node for op in last.values()),
                      {k: {op.node} for k, op in last.items()}, LAST_READ_ASSUMPTION)
