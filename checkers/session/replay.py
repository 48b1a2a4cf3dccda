"""Results of the session family and witness replay (checker-spec §9): every reported
anomaly is re-checked on its witness sub-history; failures are dropped and counted.
"""

from __future__ import annotations


from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, nothing_checked_reason, result_from_anomalies
from splitbrain.checkers.versions import build_indexes, txn_count
from splitbrain.harness.history import History
from splitbrain.checkers.session.findings import ALL_NAMES, NAMES, SESSION, _Found
from splitbrain.checkers.session.passes import analyse

REPLAY_LIMIT = 256  # per checker; beyond it findings are kept unreplayed (counted)


def _results(history: History, options: CheckOptions, found: _Found,
             analysis=None) -> dict[str, CheckResult]:
    """The family's results from `found`; `analysis`: the indexes and counts it came from
    (else rebuilt)."""
    by_index = None
    out: dict[str, CheckResult] = {}
    reason = None
    if found.skipped_keys:
        reason = (f"{len(found.skipped_keys)} key(s) skipped because written values are not "
                  f"unique (P1), e.g. {found.skipped_keys[0]}")
    n_txn = analysis.txn_count if analysis is not None else txn_count(history)
    indexes = analysis.indexes if analysis is not None else None
    st_all = found.stats[SESSION]
    for name in NAMES:
        for k in ("reads_checked", "writes_checked", "unverifiable"):
            st_all[k] = max(st_all[k], found.stats[name][k])
    for name in ALL_NAMES:
        anoms = found.anoms[name]
        kept, dropped, unreplayed = [], 0, 0
        for i, a in enumerate(anoms):
            if i >= REPLAY_LIMIT:
                unreplayed += 1
                kept.append(a)
                continue
            if by_index is None:
                by_index = history.by_index()
            if indexes is None:
                indexes = build_indexes(history, options.workload, options.version_tiebreak)
            if replay(history, options, name, a, by_index, indexes):
                kept.append(a)
            else:
                dropped += 1
        kept.sort(key=lambda a: a.ops[0] if a.ops else -1)
        stats = dict(found.stats[name])
        stats["sessions"] = len(found.sessions)
        stats["replay_dropped"] = dropped
        if unreplayed:
            stats["unreplayed"] = unreplayed
        if found.skipped_keys:
            stats["keys_skipped"] = len(found.skipped_keys)
        total_groups = sum(a.details.get("count", 1) for a in kept)
        if total_groups != len(kept):
            stats["violating_ops"] = total_groups
        why = reason
        if why is None and n_txn:
            stats["transactions"] = n_txn
            why = (f"{n_txn} transaction(s) are not judged by the session checkers (they "
                   f"check single-key ops; transactions are the transactional checker's)")
        if why is None and stats["reads_checked"] + stats["writes_checked"] == 0:
            why = nothing_checked_reason(history, "reads or writes with a known version")
        if why is None and not stats["reads_checked"] and not _observed(history):
            # writes alone order nothing: without an ok read (or a version the store
            # returned) no guarantee of the four can fail, so none was examined
            why = ("nothing to check: no ok read and no versioned write in the history; "
                   "the session guarantees are observed only through what reads return")
        res = result_from_anomalies(name, kept, stats=stats, assumptions=_assumptions(found, name),
                                    unknown_reason=why)
        res.notices = found.notices[name]
        out[name] = res
    return out


def _observed(history: History) -> bool:
    """Whether any op shows the store's state: an ok read or cas, or a version the store
    returned with a write (versioned registers order writes without reads)."""
    return any((o.type == "ok" and o.f in ("read", "cas")) or o.version is not None
               for o in history.ops)


def _assumptions(found: _Found, name: str) -> list[str]:
    a = ["unique-values", "session-ends-on-info"]
    if any(x.details.get("confidence") == "assumption:lww-register" for x in found.anoms[name]):
        a.append("lww-register")
    return a


def replay(history: History, options: CheckOptions, name: str, a: Anomaly,
           by_index: dict | None = None, indexes: dict | None = None) -> bool:
    """Does the anomaly's witness sub-history alone still violate `name`? (§9)
    `indexes`: the history's version indexes (built when not given)."""
    by_index = by_index if by_index is not None else history.by_index()
    sub = [by_index[i] for i in a.ops if i in by_index]
    if len(sub) != len(a.ops):
        return False
    # plus the writers the witness references: those of every value its reads observed
    if indexes is None:
        indexes = build_indexes(history, options.workload, options.version_tiebreak)
    have = {o.index for o in sub}
    for op in list(sub):
        if op.f not in ("read", "cas") or op.type != "ok":
            continue
        for k in (op.key if type(op.key) is tuple else (op.key,)):
            ix = indexes.get(k)
            if ix is None:
                continue
            seen = ix.observed(op)
            vals = seen if ix.kind in ("list", "set") and isinstance(seen, (list, tuple)) else [seen]
            for v in vals:
                w = ix.writer(v) if v is not None else None
                if w is not None and w.index not in have:
                    have.add(w.index)
                    # a referenced writer shows where a value came from; it must not
                    # add session obligations the witness did not rely on
                    tag = ("witness-writer", w.index)
                    sub.append(w._replace(process=tag, session=tag))
    sub.sort(key=lambda o: o.inv_index)
    h = History(ops=sub, source=f"{history.source}#witness")  # tie-break: in options
    f2 = analyse(h, options)
    return bool(f2.anoms[name]) or bool(f2.notices[name] and a.details.get("confidence", "").startswith("suspect"))

