"""Checker family `propagation`: source store → queue → consumer → derived store.

The join key is `event_id` (the unique value a `write-source` wrote). History ops
(README "Propagation ops"; no workload produces them yet):

* `write-source` key, value = event_id, ok `version` (the source's per-key version);
* `relay` value = event_id (published to the queue), `deliver` value = event_id;
* `apply` key, value = event_id, `version`, `decision`: applied | skipped-duplicate |
  skipped-older (ok/info/fail: the derived-store write's outcome);
* `dlq` value = event_id (dead-lettered);
* `read-derived` key → ok value {"version": v | null, "events": [event_id, …] | null};
  `read-source` key → ok value {"version": v}; `final: true` on the final reads.

Named results (each with witnesses and one-sentence explanations):

* `lost-event` — committed at the source (ok, or info and seen downstream), never
  reflected by the final derived read of its key (version below it and id absent),
  never dead-lettered. Unknown without final derived reads, or when a final
  `queue-backlog` op (value true) says the queue had not drained before them.
* `orphan-effect` — the derived store reflects an event whose source write failed, or
  that the final source state no longer holds (final source version below it).
* `duplicate-effect` — an event's id twice in one derived read, or applied twice
  (duplicate delivery alone is allowed: at-least-once).
* `derived-regression` — a reader's derived version of a key going back; and
  `stale-final`: the final derived version below the final source version (unknown,
  not invalid, when the queue had not drained; versions of dead-lettered events do not
  count).
* `dlq-conservation` — dead-letter handling: every committed poison event (its
  write-source carries `poison: true`) dead-lettered exactly once, and every
  dead-lettered event committed and poisoned (`dead-lettered-twice`,
  `dead-lettered-uncommitted`, `dead-lettered-healthy`, `poison-not-dead-lettered`).
  Which events are dead-lettered, and how often, comes from the final `read-dlq` (the
  `dlq` stream's event ids) when there is one, else from the `dlq` ops. A poison event
  not yet dead-lettered when the queue had not drained is late: unknown, never invalid.
  Not applicable (unknown) to a run with neither poison nor dead letters.
* `propagation-lag` — per event: the upper bound (first completed derived read that
  reflects it − the source write's completion) and the lower bound (last derived read
  invoked after the commit that did not reflect it − the commit); p50/p95/p99/max;
  `max_propagation_lag_ns` gates p99 of the upper bounds.

`valid` only when something was examined (counts in stats), else unknown with the reason.
"""

from __future__ import annotations

import math
from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN
from splitbrain.harness.history import History, Op

NAMES = ("lost-event", "orphan-effect", "duplicate-effect", "derived-regression",
         "propagation-lag", "dlq-conservation")


def _derived(op: Op) -> tuple[int | None, list | None]:
    v = op.value if isinstance(op.value, dict) else {}
    ver = v.get("version")
    ev = v.get("events")
    return (ver if isinstance(ver, int) else None,
            list(ev) if isinstance(ev, (list, tuple)) else None)


def _reflects(op: Op, version: int | None, eid: Any) -> bool:
    ver, evs = _derived(op)
    if evs is not None:  # the applied events themselves: authoritative
        return eid in evs
    return ver is not None and version is not None and ver >= version


def _final_rank(op: Op) -> tuple:
    """Order final reads by the version they saw (unversioned last), then by index."""
    v = op.value.get("version") if isinstance(op.value, dict) else None
    return (isinstance(v, int), v if isinstance(v, int) else 0, op.index)


def check(history: History, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    writes: dict[Any, Op] = {}
    applies: dict[Any, list[Op]] = {}
    dlq: dict[Any, Op] = {}
    downstream: set = set()
    derived: dict[Any, list[Op]] = {}
    final_source: dict[Any, Op] = {}
    backlog = False  # the final reads began while the queue still held events
    dlq_ops: list[Op] = []
    dlq_final: Op | None = None  # the final read of the dlq stream
    for op in history.ops:
        f = op.f
        if f == "write-source":
            writes.setdefault(op.value, op)
        elif f in ("relay", "deliver"):
            if op.type != "fail":
                downstream.add(op.value)
        elif f == "apply":
            applies.setdefault(op.value, []).append(op)
            if op.type != "fail":
                downstream.add(op.value)
        elif f == "dlq":
            if op.type == "fail":
                continue
            dlq.setdefault(op.value, op)
            dlq_ops.append(op)
            downstream.add(op.value)
        elif f == "read-dlq" and op.type == "ok" and op.final:
            dlq_final = op
            for e in op.value or ():
                downstream.add(e)
        elif f == "read-derived" and op.type == "ok":
            derived.setdefault(op.key, []).append(op)
            _, evs = _derived(op)
            downstream.update(evs or ())
        elif f == "queue-backlog" and op.type == "ok" and op.value:
            backlog = True
        elif f == "read-source" and op.type == "ok" and op.final:
            prev = final_source.get(op.key)
            if prev is None or _final_rank(op) > _final_rank(prev):
                final_source[op.key] = op
    if dlq_final is not None:
        for e in dlq_final.value or ():
            dlq.setdefault(e, dlq_final)
    committed = {e: w for e, w in writes.items()
                 if w.type == "ok" or (w.type == "info" and e in downstream)}
    # an info write has no version of its own; the consumer's apply of it carries it
    version_of: dict[Any, int | None] = {}
    for e, w in committed.items():
        v = w.version
        if v is None:
            vs = [a.version for a in applies.get(e, ()) if a.version is not None]
            v = max(vs) if vs else None
        version_of[e] = v
    # Every node's final derived read of a key: an event is lost only when none of them
    # reflects it (a replica read a moment before it caught up is lag, not loss), and
    # the derived store "never caught up" only when even its most advanced final read
    # is behind the most advanced final source read (per-node divergence is the
    # convergence checker's business).
    finals_of: dict[Any, list[Op]] = {}
    for k, reads in derived.items():
        finals = [r for r in reads if r.final]
        if finals:
            finals_of[k] = finals
    final_derived: dict[Any, Op] = {k: max(fs, key=_final_rank)
                                    for k, fs in finals_of.items()}
    stats = {"events_written": len(writes), "events_committed": len(committed),
             "applies": sum(map(len, applies.values())), "dead_lettered": len(dlq),
             "derived_reads": sum(map(len, derived.values())),
             "keys_final_derived": len(final_derived)}
    out: dict[str, CheckResult] = {}

    # lost-event
    lost = []
    for e, w in committed.items():
        fin = final_derived.get(w.key)
        if fin is None or e in dlq or any(_reflects(r, version_of[e], e)
                                          for r in finals_of[w.key]):
            continue
        lost.append(Anomaly("lost-event",
                            f"Event {e!r} was committed at the source by {w.describe()} but the "
                            f"final derived read {fin.index} of key {w.key} does not reflect it "
                            f"and it was never dead-lettered.", [w.index, fin.index], key=w.key,
                            details={"event": e, "version": version_of[e]}))
    unmeasured = sum(1 for w in committed.values() if w.key not in final_derived)
    checked = len(committed) - unmeasured
    if backlog and lost:
        stats = {**stats, "not_applied_at_final_reads": len(lost)}
        lost = []  # still queued when the final reads began: late or lost, unknown
    out["lost-event"] = _result("lost-event", lost, {**stats, "events_checked": checked},
                                "the queue had not drained when the final reads began: "
                                f"{stats.get('not_applied_at_final_reads', 0)} event(s) not "
                                "yet applied may be late rather than lost" if backlog and
                                stats.get("not_applied_at_final_reads") else
                                None if checked else
                                "no committed event whose key has a final derived read: "
                                "nothing to check (lost and late cannot be told apart)")

    # orphan-effect
    orphans = []
    reflected: dict[Any, Op] = {}
    for k, reads in derived.items():
        for r in reads:
            for e in _derived(r)[1] or ():
                reflected.setdefault(e, r)
    for e, ops in applies.items():
        for a in ops:
            if a.type == "ok" and (a.extra or {}).get("decision", "applied") == "applied":
                reflected.setdefault(e, a)
    for e, where in reflected.items():
        w = writes.get(e)
        if w is None or w.type == "fail":
            why = "was never written" if w is None else f"failed at the source ({w.describe()})"
            orphans.append(Anomaly("orphan-effect",
                                   f"The derived store reflects event {e!r} (op {where.index}), "
                                   f"which {why}.", [where.index] + ([w.index] if w else []),
                                   key=where.key, details={"event": e}))
            continue
        fs = final_source.get(w.key)
        if fs is not None and w.version is not None:
            ver = (fs.value or {}).get("version") if isinstance(fs.value, dict) else None
            if isinstance(ver, int) and ver < w.version:
                orphans.append(Anomaly(
                    "orphan-effect",
                    f"The derived store reflects event {e!r} (op {where.index}) at version "
                    f"{w.version}, but the final source read {fs.index} of key {w.key} is at "
                    f"version {ver}: the source lost the write.", [w.index, where.index, fs.index],
                    key=w.key, details={"event": e, "source_version": ver}))
    out["orphan-effect"] = _result("orphan-effect", orphans,
                                   {**stats, "effects_checked": len(reflected)},
                                   None if reflected else "no derived effect was observed")

    # duplicate-effect
    dups = []
    for k, reads in derived.items():
        for r in reads:
            evs = _derived(r)[1] or []
            seen: set = set()
            for e in evs:
                if e in seen:
                    dups.append(Anomaly("duplicate-effect",
                                        f"Derived read {r.index} of key {k} holds event {e!r} "
                                        f"{evs.count(e)} times: it was applied more than once.",
                                        [r.index], key=k, details={"event": e,
                                                                   "count": evs.count(e)}))
                    break
                seen.add(e)
    for e, ops in applies.items():
        done = [a for a in ops if a.type == "ok"
                and (a.extra or {}).get("decision", "applied") == "applied"]
        if len(done) > 1:
            dups.append(Anomaly("duplicate-effect",
                                f"Event {e!r} was applied {len(done)} times (ops "
                                f"{[a.index for a in done][:4]}).", [a.index for a in done],
                                key=done[0].key, details={"event": e, "count": len(done)}))
    n_checked = sum(map(len, derived.values())) + sum(map(len, applies.values()))
    # duplicate *delivery* (allowed: at-least-once) for scale: events the consumer
    # handled more than once, and how many of those handlings it recognised and skipped
    redelivered = sum(1 for ops in applies.values() if len(ops) > 1)
    skipped = sum(1 for ops in applies.values() for a in ops
                  if a.type == "ok" and (a.extra or {}).get("decision", "applied") != "applied")
    out["duplicate-effect"] = _result("duplicate-effect", dups,
                                      {**stats, "reads_and_applies_checked": n_checked,
                                       "events_redelivered": redelivered,
                                       "applies_skipped": skipped},
                                      None if n_checked else "no apply or derived read")

    # derived-regression and stale-final
    regs = []
    for k, reads in derived.items():
        by_proc: dict[Any, tuple[int, Op]] = {}
        for r in sorted(reads, key=lambda r: r.inv_index):
            ver, _ = _derived(r)
            if ver is None:
                continue
            prev = by_proc.get(r.session)
            if prev is not None and ver < prev[0]:
                regs.append(Anomaly("derived-regression",
                                    f"Process {r.process} read key {k} of the derived store at "
                                    f"version {prev[0]} (op {prev[1].index}), then at {ver} "
                                    f"(op {r.index}).", [prev[1].index, r.index], key=k,
                                    process=r.process, details={"versions": [prev[0], ver]}))
            by_proc[r.session] = (ver, r)
    # versions of a key whose events were dead-lettered: a derived store that stops below
    # them has not fallen behind (the consumer gave those events up, by design)
    dead_versions: dict[Any, set] = {}
    for e in dlq:
        w = committed.get(e)
        if w is not None and version_of.get(e) is not None:
            dead_versions.setdefault(w.key, set()).add(version_of[e])
    for k, fin in final_derived.items():
        fs = final_source.get(k)
        dv = _derived(fin)[0]
        sv = (fs.value or {}).get("version") if fs is not None and isinstance(fs.value, dict) else None
        if (isinstance(dv, int) and isinstance(sv, int) and dv < sv
                and not set(range(dv + 1, sv + 1)) <= dead_versions.get(k, set())):
            regs.append(Anomaly("stale-final",
                                f"The final derived read {fin.index} of key {k} is at version "
                                f"{dv}, the final source read {fs.index} at {sv}: the derived "
                                f"store never caught up.", [fin.index, fs.index], key=k,
                                details={"derived_version": dv, "source_version": sv}))
    versioned = sum(1 for reads in derived.values() for r in reads
                    if _derived(r)[0] is not None)
    reg_stats = {**stats, "reads_checked": versioned}
    reason = None if versioned else "no derived read with a version"
    stale = [a for a in regs if a.type == "stale-final"]
    if backlog and stale:
        # the queue still held events when the final reads began: a derived store behind
        # the source may yet catch up — late, not "never caught up"
        regs = [a for a in regs if a.type != "stale-final"]
        reg_stats["stale_final_while_queued"] = len(stale)
        reason = (f"the queue had not drained when the final reads began: {len(stale)} "
                  f"key(s) whose derived store was behind the source may be late")
    out["derived-regression"] = _result("derived-regression", regs, reg_stats, reason)

    # propagation lag
    upper, lower = [], []
    for e, w in committed.items():
        if w.type != "ok":
            continue
        t0 = w.t_ret
        first = None
        misses = []
        for r in derived.get(w.key, ()):
            if _reflects(r, w.version, e):
                if r.t_ret >= t0 and (first is None or r.t_ret < first):
                    first = r.t_ret
            elif r.t_inv > t0:
                misses.append(r.t_inv)
        if first is not None:
            upper.append(first - t0)
            # the last read begun after the commit that still missed it, before `first`
            lower.append(max((m - t0 for m in misses if m < first), default=0))
    lag_stats = {"events_measured": len(upper), "events_unmeasured": len(committed) - len(upper)}
    anomalies = []
    if upper:
        up, lo = sorted(upper), sorted(lower)
        ms = lambda ns: round(ns / 1e6, 3)
        pct = lambda xs, p: xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))]
        lag_stats.update({f"upper_p{int(p * 100)}_ms": ms(pct(up, p)) for p in (.5, .95, .99)})
        lag_stats.update({"upper_max_ms": ms(up[-1]), "lower_p50_ms": ms(pct(lo, .5)),
                          "lower_p99_ms": ms(pct(lo, .99)), "lower_max_ms": ms(lo[-1])})
        bound = options.max_propagation_lag_ns
        if bound is not None and pct(up, .99) > bound:
            anomalies.append(Anomaly("propagation-lag",
                                     f"The p99 propagation lag (upper bound) is "
                                     f"{ms(pct(up, .99))} ms, over the {ms(bound)} ms bound.", [],
                                     details={"p99_ms": ms(pct(up, .99)), "bound_ms": ms(bound)}))
    out["propagation-lag"] = _result("propagation-lag", anomalies, {**stats, **lag_stats},
                                     None if upper else "no committed event was seen in a derived read")
    out["lost-event"].stats["committed_without_final_read"] = unmeasured
    out["dlq-conservation"] = _dead_letters(writes, committed, dlq, dlq_ops, dlq_final,
                                            backlog, stats)
    return out


def _poisoned(w: Op) -> bool:
    return bool((w.extra or {}).get("poison"))


def _dead_letters(writes, committed, dlq, dlq_ops, dlq_final, backlog, stats) -> CheckResult:
    """dlq-conservation (see the module docstring)."""
    name = "dlq-conservation"
    poisoned = {e for e, w in committed.items() if _poisoned(w)}
    # how often each event was dead-lettered: the dlq stream itself when it was read at
    # the end (authoritative: an agent killed after its dead-letter script and before it
    # reported it still left the entry), else the consumer's reports
    counts: dict[Any, int] = {}
    for e in (dlq_final.value or () if dlq_final is not None else (o.value for o in dlq_ops)):
        counts[e] = counts.get(e, 0) + 1
    if dlq_final is not None:
        for o in dlq_ops:
            counts.setdefault(o.value, 1)  # reported but not in the stream: still counted
    where = {e: dlq.get(e) for e in counts}
    anomalies = []
    for e, n in counts.items():
        op = where[e]
        idx = [op.index] if op is not None else []
        w = writes.get(e)
        if n > 1:
            anomalies.append(Anomaly("dead-lettered-twice",
                                     f"Event {e!r} is in the dead-letter stream {n} times.",
                                     idx, key=getattr(op, "key", None),
                                     details={"event": e, "count": n}))
        if e not in committed:
            why = "was never written" if w is None else f"was not committed ({w.describe()})"
            anomalies.append(Anomaly("dead-lettered-uncommitted",
                                     f"Event {e!r} was dead-lettered (op "
                                     f"{idx[0] if idx else '?'}) but {why}.",
                                     idx + ([w.index] if w is not None else []),
                                     key=w.key if w is not None else None,
                                     details={"event": e}))
        elif not _poisoned(committed[e]):
            w = committed[e]
            anomalies.append(Anomaly("dead-lettered-healthy",
                                     f"Event {e!r} was dead-lettered (op "
                                     f"{idx[0] if idx else '?'}) although it was not a poison "
                                     f"event ({w.describe()}): the consumer gave up on a good "
                                     f"event.", idx + [w.index], key=w.key,
                                     details={"event": e}))
    missing = sorted((e for e in poisoned if e not in counts), key=lambda e: committed[e].index)
    late = 0
    if missing and (backlog or dlq_final is None):
        late = len(missing)  # still queued, or the dlq never read at the end: unknown
    else:
        for e in missing:
            w = committed[e]
            anomalies.append(Anomaly("poison-not-dead-lettered",
                                     f"Poison event {e!r} was committed ({w.describe()}) and "
                                     f"the queue drained, but it never reached the "
                                     f"dead-letter stream.", [w.index]
                                     + ([dlq_final.index] if dlq_final is not None else []),
                                     key=w.key, details={"event": e}))
    st = {**stats, "poisoned_committed": len(poisoned), "dead_lettered": len(counts),
          "dlq_reports": len(dlq_ops), "dlq_final_read": dlq_final is not None,
          "poisoned_not_dead_lettered_late": late}
    if not poisoned and not counts:
        return CheckResult(name=name, valid=UNKNOWN, stats=st, applicable=False,
                           reason="no poison event and no dead letter: nothing to check")
    reason = None
    if late and not anomalies:
        reason = (f"{late} poison event(s) not dead-lettered by the final reads, but "
                  + ("the queue had not drained: they may be late"
                     if backlog else "the dead-letter stream was not read at the end"))
    res = _result(name, anomalies, st, reason)
    return res


def _result(name: str, anomalies: list[Anomaly], stats: dict, reason: str | None) -> CheckResult:
    anomalies.sort(key=lambda a: a.ops[0] if a.ops else -1)
    valid = False if anomalies else (UNKNOWN if reason else True)
    return CheckResult(name=name, valid=valid, anomalies=anomalies, stats=dict(stats),
                       reason=None if anomalies else reason)
