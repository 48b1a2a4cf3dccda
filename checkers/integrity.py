"""Integrity anomalies: values that cannot be explained by any write (checker-spec §2.1-§2.2).

garbage-read, aborted-read, future-read, duplicate-element, incompatible-order,
version-conflict, version-mismatch, cyclic-versions and dirty-update are found while the
per-key version indexes are built (`checkers.versions`); this module collects them.

Written values that are not unique per key (two invocations writing the same value, the
same element added twice to a set) make the history unverifiable for that key: the
result is "unknown" with the reason (P1), never "false" by itself.

A checker that read nothing is unknown ("nothing to check"), never valid. Ties of equal
versions under a store tie-break are counted (`version_ties`) and listed as notices.
Witness replay: one-value findings are re-checked by definition against every write of
the key; the others on their witness ops plus every write of what those ops read (one
replay per distinct witness), so a garbage flood stays linear.

`corrupt_ops(history, workload)` is the helper other checkers use to skip reads with no
usable version, so one corruption is not reported five times (P17).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, nothing_checked_reason, result_from_anomalies
from splitbrain.harness.history import _short
from splitbrain.checkers.analysis import Analysis
from splitbrain.checkers.versions import WRITE_FS, build_indexes
from splitbrain.checkers.versions import frozen as _fz
from splitbrain.harness.history import History

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis

NAME = "integrity"
_TYPE = attrgetter("type")


def corrupt_ops(history: History, workload: str | None = None, *,
                analysis: "Analysis | None" = None) -> set[int]:
    """Indices of ops whose observation is corrupt on some key (garbage, aborted, ...)."""
    out: set[int] = set()
    indexes = analysis.indexes if analysis is not None else build_indexes(history, workload)
    for ix in indexes.values():
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


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    analysis = Analysis.of(history, options, analysis)
    indexes = analysis.indexes
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
    by_index = _by_index(analysis.single_key_ops) if anomalies else {}
    cache: dict = {}  # witness op set -> anomaly types its sub-history shows
    for i, a in enumerate(anomalies):
        if i < REPLAY_LIMIT and not replay(a, by_index, options.workload, cache,
                                           options.version_tiebreak, indexes):
            dropped += 1
            continue
        kept.append(a)
    anomalies = kept
    writes = sum(map(_nonfail_writes, indexes.values()))
    stats: dict[str, Any] = {"keys": len(indexes), "reads_checked": reads,
                             "writes_checked": writes,
                             "replay_dropped": dropped,
                             "corrupt_ops": corrupt, "by_type": by_type,
                             "duplicate_values": sum(len(ix.duplicates) for ix in indexes.values())}
    n_txn = analysis.txn_count
    if n_txn:
        stats["transactions"] = n_txn
    notices = _tie_notices(indexes, stats)
    reason = duplicate_reason(indexes)
    if reason is None and reads == 0:
        reason = nothing_checked_reason(history, "reads")
    assumptions = ["unique-values"]
    if stats.get("version_ties"):
        assumptions.append(f"tiebreak:{options.version_tiebreak}")
    res = result_from_anomalies(NAME, anomalies, stats=stats, assumptions=assumptions,
                                unknown_reason=reason)
    res.notices = notices
    return {NAME: res}


def _nonfail_writes(ix) -> int:
    """How many of the key's writes did not fail (the Rust-built indexes counted them)."""
    if ix.native is not None:
        return ix.native.nonfail_writes
    if ix.set_facts is not None:
        return ix.set_facts.nonfail_writes
    return sum(map("fail".__ne__, map(_TYPE, ix.writes)))


def _tie_notices(indexes: dict, stats: dict) -> list[Anomaly]:
    """Equal versions of different values under the store's tie-break: a statistic and a
    notice (issue 10 item 1), never an anomaly on their own."""
    out: list[Anomaly] = []
    n = 0
    for ix in indexes.values():
        for ver, ops in ix.ties:
            n += 1
            if len(out) < 32:
                vals = ", ".join(_short(o.value) for o in ops[:3])
                out.append(Anomaly(
                    "version-tie",
                    f"{_short(ix.key)} version {ver} was stamped on {len(ops)} different values "
                    f"({vals}); the store orders them by its tie-break rule "
                    f"({ix.tiebreak}: the greater serialised value wins)",
                    sorted(o.index for o in ops), key=ix.key, details={"version": ver}))
    if n:
        stats["version_ties"] = n
    return out



REPLAY_LIMIT = 256


_VALUE_TYPES = frozenset(("garbage-read", "aborted-read", "future-read"))


def _written(by_index: dict, cache: dict) -> dict:
    """(key, frozen value or element) -> every op that wrote it (any type); cached."""
    written = cache.get("_written")
    if written is None:
        written = cache["_written"] = {}
        for ops in by_index.values():
            for o in ops if isinstance(ops, list) else [ops]:
                if o.f in WRITE_FS:
                    v = o.value
                    if o.f == "cas":
                        v = v[1] if isinstance(v, (list, tuple)) and len(v) == 2 else None
                    if v is not None:
                        written.setdefault((o.key, _fz(v)), []).append(o)
    return written


def _recheck_value(a: Anomaly, by_index: dict, cache: dict) -> bool:
    """Replay of a one-value finding by its definition, over every write of the key (a
    different code path than the indexes): O(1) per finding after one pass, where a
    sub-history replay of a read holding 10,000 garbage elements re-found all 10,000."""
    written = _written(by_index, cache)
    r = by_index.get(a.details.get("roles", {}).get("read"))
    if not r:
        return False
    r = r[0] if isinstance(r, list) else r
    ws = written.get((a.key, _fz(a.details.get("value"))), [])
    if a.type == "garbage-read":
        return not ws
    if a.type == "aborted-read":
        return bool(ws) and all(w.type == "fail" for w in ws)
    return bool(ws) and all(r.ret_index < w.inv_index for w in ws)  # future-read


def _by_index(ops: list) -> dict:
    """index -> op, over the single-key view `ops` (a transaction's write micro-ops share
    its index, so a witness naming it replays all of them)."""
    out: dict = {}
    for op in ops:
        out.setdefault(op.index, []).append(op)
    return out


def replay(a: Anomaly, by_index: dict, workload: str | None, cache: dict | None = None,
           tiebreak: str | None = None, indexes: dict | None = None) -> bool:
    """§9 witness replay: the witness ops alone must show the same anomaly type.

    `cache` shares one sub-history analysis between anomalies with the same witness (a
    read holding 10,000 garbage elements is replayed once, not 10,000 times)."""
    if a.type in _VALUE_TYPES and cache is not None:
        return _recheck_value(a, by_index, cache)
    ck = tuple(a.ops)
    types = cache.get(ck) if cache is not None else None
    if types is None:
        ops = []
        for i in a.ops:
            got = by_index.get(i)
            if got is None:
                types = frozenset()
                break
            ops.extend(got if isinstance(got, list) else [got])
        if types is None and indexes is not None and cache is not None:
            # plus every write of what the witness reads observed (a version-conflict
            # between a read and a write needs the read value's writer; a list read
            # replayed alone would make each of its elements a garbage read)
            written = _written(by_index, cache)
            have = {id(o) for o in ops}
            for o in list(ops):
                ix = indexes.get(o.key)
                if o.f != "read" or ix is None:
                    continue
                seen = ix.observed(o)
                vals = (seen if ix.kind in ("list", "set") and isinstance(seen, (list, tuple))
                        else [seen])
                for v in vals:
                    if v is None:
                        continue
                    for w in written.get((o.key, _fz(v)), ()):
                        if id(w) not in have:
                            have.add(id(w))
                            ops.append(w)
        if types is None:
            ops.sort(key=lambda o: o.inv_index)
            sub = History(ops=ops, source="<witness>")
            types = frozenset(x.type for ix in build_indexes(sub, workload, tiebreak).values()
                              for x in ix.anomalies)
        if cache is not None:
            cache[ck] = types
    return a.type in types
