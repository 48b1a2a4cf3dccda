"""Checker family `transactions`: Elle-style isolation checking (transactions.md).

`check(history, options)` returns {"transactions": CheckResult}. Obligations (§5.3):
* `valid` is False only if an anomaly the claimed consistency model prohibits was found;
  "unknown" if only unknown-class findings (empty graph, cycle-search timeout) or a failed
  precondition (duplicate appends/writes, mixed micro-op kinds, no txns); True otherwise,
  with the counts of what was examined in `stats`;
* `details` carries `consistency_model`, `claim_source`, `anomaly_types` (reportable,
  sorted), `not` / `also_not` (Elle's boundary over every type found);
* found-but-permitted anomalies go to `notices`;
* every cycle is simple, classified by its own edges, and explained one sentence per step.
"""

from __future__ import annotations

import time

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult
from splitbrain.checkers.transactions import models as M
from splitbrain.checkers.transactions import native
from splitbrain.checkers.transactions.graph import (DATA, LABELS, PROCESS, REALTIME, RW, WR, WW,
                                         add_process_edges, add_realtime_edges, cycle_classes,
                                         search_scc)
from splitbrain.checkers.transactions.list_append import ListAppend
from splitbrain.checkers.transactions.rw_register import RWRegister
from splitbrain.checkers.transactions.txn import Precondition, Txns, fmt_mop

NAME = "transactions"
DEFAULT_MODEL = "strict-serializable"
_SHORT = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "rt"}


def _unknown(reason: str, stats: dict, ops: list[int] | None = None,
             details: dict | None = None) -> dict:
    return {NAME: CheckResult(name=NAME, valid="unknown", reason=reason, stats=stats,
                              details=dict(details or {}, anomaly_types=[]))}


def check(history, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    requested = tuple(getattr(options, "consistency_models", ()) or ())
    asked = tuple(getattr(options, "txn_anomalies", ()) or ())
    store_model, store_why = getattr(options, "txn_claim", None) or (None, "")
    if requested:
        claim, claim_source = M.canonical(requested), "flag"
        why = "given with --consistency-model"
    elif asked:
        claim, claim_source = (), "anomalies"
        why = "only the anomalies asked for (and those implying them) are judged"
    elif store_model:
        claim, claim_source = (M.canonical_name(store_model),), "store"
        why = f"the store's claim: {store_why}" if store_why else "the store's claim"
    else:
        claim, claim_source = (M.canonical_name(DEFAULT_MODEL),), "default"
        why = (f"the store claims no transactional model ({store_why}), so the strongest"
               if store_why else "no model given and none claimed by the store, so the strongest")
    details = {"consistency_model": [M.friendly_name(m) for m in claim],
               "claim_source": claim_source, "claim_reason": why}
    try:
        txns = Txns(history)
    except Precondition as p:
        return _unknown(f"{p.reason}: {p.message}", {}, p.ops, details)
    timings["extract"] = time.perf_counter() - t0
    stats: dict = {"txns": len(txns.vertices) + len(txns.fails), "ok": sum(txns.ok),
                   "info": len(txns.vertices) - sum(txns.ok), "fail": len(txns.fails)}
    if not txns.vertices and not txns.fails:
        return _unknown("no transactions to check", stats, details=details)
    kinds = txns.kinds
    if "append" in kinds and "w" in kinds:
        return _unknown("unexpected-txn-micro-op-types: one history mixes append and w "
                        "micro-ops", stats, details=details)
    wl = options.workload
    if "append" in kinds:
        kind = "list-append"
    elif "w" in kinds:
        kind = "rw-register"
    elif any(type(m[2]) is tuple for op in txns.vertices for m in op.value):
        kind = "list-append"  # a read returned a list
    elif wl in ("txn-list-append", "list-append"):
        kind = "list-append"
    elif wl in ("txn-rw-register", "register"):
        kind = "rw-register"
    else:
        return _unknown("a read-only history: say --workload txn-list-append or "
                        "txn-rw-register", stats, details=details)
    stats["kind"] = kind
    forbidden = M.prohibited(claim) | M.anomalies_implying(asked)
    t1 = time.perf_counter()
    try:
        if kind == "list-append":
            inf = native.list_append(txns) or ListAppend(txns).run()
            stats["engine"] = "native" if isinstance(inf, native.NativeListAppend) else "python"
            if native.NATIVE is None:  # why the Rust core was not used (absent, stale, env)
                stats["engine_note"] = native.NATIVE_PROBLEM
        else:
            inf = RWRegister(txns, frozenset(getattr(options, "txn_assume", ()) or ())).run()
            stats["engine"] = "python"
    except Precondition as p:
        if p.reason == "duplicate-writes" and kind == "rw-register":
            from splitbrain.checkers.transactions import by_linearizability

            r = by_linearizability.check(history, txns, options, claim, details, stats,
                                         p.message, NAME)
            why = _realtime_unknown(history)
            if r.valid is False and why:  # every finding there is a real-time one
                r = CheckResult(name=NAME, valid="unknown", stats=r.stats, details=r.details,
                                notices=[*r.anomalies, *r.notices], reason=(
                                    "realtime-order-assumed: " + _assumed(
                                        ["strict-serializability-violation"], why)))
            return {NAME: r}
        return _unknown(f"{p.reason}: {p.message}", stats, p.ops, details)
    timings["infer"] = time.perf_counter() - t1
    edges = inf.edges
    t_order = time.perf_counter()
    order = 0
    if any(a.endswith("-realtime") for a in forbidden):
        order = REALTIME | PROCESS
        add_realtime_edges(edges, txns.vertices, txns.ok)
    elif any(a.endswith("-process") for a in forbidden):
        order = PROCESS
        add_process_edges(edges, txns.vertices, txns.ok)
    t2 = time.perf_counter()
    timings["order"] = t2 - t_order
    n_edges = len(edges)
    edges.freeze()
    timings["graph"] = time.perf_counter() - t2
    stats["edges"] = edges.label_counts()
    found: list[Anomaly] = list(inf.anomalies)
    if n_edges == 0:
        found.append(Anomaly(type="empty-transaction-graph", ops=[],
                             explanation="the transactions gave no dependency or order edges, "
                             "so no cycle could be looked for"))
    t3 = time.perf_counter()
    allowed = DATA | order
    comps = edges.sccs(allowed)
    timings["scc"] = time.perf_counter() - t3
    stats["sccs"] = len(comps)
    stats["largest_scc"] = max((len(c) for c in comps), default=0)
    # classes the claim forbids first: a budget spent on permitted classes (searched only
    # for notices) must not turn the verdict unknown
    classes = cycle_classes(order)
    classes = [c for c in classes if c in forbidden] + [c for c in classes if c not in forbidden]
    budget = float(getattr(options, "cycle_search_timeout_s", 1.0) or 1.0)
    analysis_deadline = time.monotonic() + float(getattr(options, "analysis_timeout_s", 120.0))
    timeouts = 0
    replays = 0
    t4 = time.perf_counter()
    for comp in comps:
        now = time.monotonic()
        deadline = min(now + budget, analysis_deadline)
        cycles, completed, timed_out = search_scc(edges, comp, classes, deadline, allowed,
                                                   forbidden)
        for cls, (cyc, labels) in cycles.items():
            a = _cycle_anomaly(cls, cyc, labels, inf, txns, len(comp))
            if replays < REPLAY_CAP:
                replays += 1
                ok = _replay(history, a, kind, options, order)
                a.details["witness_replay"] = "confirmed" if ok else "not reproduced"
                if not ok:  # kept (never dropped: that could turn a verdict valid)
                    found.append(Anomaly(
                        type="witness-replay-failed", ops=list(a.ops),
                        explanation=f"re-checking this {cls}'s witness ops alone did not "
                        "reproduce it (expected when it rests on aborted, intermediate or "
                        "garbage reads outside the witness; otherwise a checker bug worth "
                        "reporting); the finding is kept"))
            found.append(a)
        if timed_out:
            timeouts += 1
            unfinished = [c for c in classes if c not in completed]
            blocking = [c for c in unfinished if c in forbidden]
            found.append(Anomaly(
                type="cycle-search-timeout" if blocking else "cycle-search-incomplete",
                ops=[txns.vertices[v].index for v in comp[:16]],
                explanation=f"the cycle search in an SCC of {len(comp)} txns ran out of its "
                f"{budget:g} s budget before it had looked for "
                f"{', '.join(blocking or unfinished)}",
                details={"scc_size": len(comp), "completed": completed,
                         "not_searched": unfinished}))
    timings["search"] = time.perf_counter() - t4
    stats["timeouts"] = timeouts
    result = _verdict(*_unassumed(history, found, forbidden), claim, details, stats, timings, t0)
    if result.valid is True and kind == "rw-register" and "PL-SS" in claim:
        from splitbrain.checkers.transactions import by_linearizability

        more, stats["completeness"] = by_linearizability.completeness(history, txns, options)
        if more:
            found = found + more
            forbidden = forbidden | {"strict-serializability-violation"}
            result = _verdict(*_unassumed(history, found, forbidden), claim, details,
                              stats, timings, t0)
    if (result.valid is not False and kind == "rw-register"
            and _session_search_needed(history, claim)):
        from splitbrain.checkers.transactions import by_linearizability

        more, stats["session_completeness"] = by_linearizability.session_completeness(txns)
        if more:
            forbidden = forbidden | {"strong-session-serializability-violation"}
            result = _verdict(*_unassumed(history, found + more, forbidden), claim, details,
                              stats, timings, t0)
    return {NAME: result}


def _session_search_needed(history, claim) -> bool:
    """The claim implies strong-session-serializable, and the stronger linearizability
    search did not decide it: the claim is weaker than strict-serializable, or the
    history records no real-time order between processes (each process's own order it
    still records)."""
    return "strong-session-serializable" in M.implied_models(claim) and (
        "PL-SS" not in claim or _realtime_unknown(history) is not None)


def _realtime_unknown(history) -> str | None:
    """Why the order between processes' ops is not known, or None. An imported file whose
    :index values repeat (elle-cli's hand-written samples number each process's events
    1, 2, 3 …) was read in line order, but its author did not mean that order as real
    time: elle-cli's rwregister-ok.edn, named ok, is not strict-serializable in it."""
    why = (getattr(history, "meta", None) or {}).get("reindexed") or ""
    return why if "renumbered" in why else None


def _needs_realtime(t: str) -> bool:
    return t.endswith("-realtime") or t == "strict-serializability-violation"


def _unassumed(history, found: list[Anomaly], forbidden) -> tuple[list[Anomaly], set]:
    """`found` and `forbidden` for the verdict: with the real-time order unknown, findings
    that rest on it are no longer prohibited (they stay as notices) and one unknown-class
    `realtime-order-assumed` says so; the verdict is unknown, never False, on them alone
    (an anomaly without real-time edges still decides)."""
    why = _realtime_unknown(history)
    shaky = sorted({a.type for a in found if a.type in forbidden and _needs_realtime(a.type)})
    if not why or not shaky:
        return found, forbidden
    first = next(a for a in found if a.type == shaky[0])
    note = Anomaly(type="realtime-order-assumed", ops=list(first.ops),
                   explanation=_assumed(shaky, why))
    return [*found, note], set(forbidden) - set(shaky)


def _assumed(types: list[str], why: str) -> str:
    return (f"the findings ({', '.join(types)}) rest on the real-time order between "
            f"processes, which this history does not record ({why}): its line order is "
            "only an assumption")


def _verdict(found, forbidden, claim, details, stats, timings, t0) -> CheckResult:
    types_found = {a.type for a in found}
    reportable = [a for a in found if a.type in forbidden or a.type in M.UNKNOWN_TYPES]
    notices = [a for a in found if a not in reportable]
    r_types = sorted({a.type for a in reportable})
    if any(a.type in forbidden for a in reportable):
        valid = False
    elif reportable:
        valid = "unknown"
    else:
        valid = True
    b = M.boundary(types_found - M.UNKNOWN_TYPES)
    details = dict(details, anomaly_types=r_types, **{"not": b["not"], "also_not": b["also_not"]})
    if notices:
        details["notice_types"] = sorted({a.type for a in notices})
    timings["total"] = time.perf_counter() - t0
    stats["seconds"] = {k: round(v, 4) for k, v in timings.items()}
    reason = None
    # Unknown-class findings (Elle's empty-transaction-graph, cycle-search-timeout) say why
    # the checker could not decide; they stay in anomaly_types as Elle reports them, but
    # they are not anomalies of the history (a clean history must have none).
    undecided = [a for a in reportable if a.type in M.UNKNOWN_TYPES]
    if undecided:
        reportable = [a for a in reportable if a.type not in M.UNKNOWN_TYPES]
        notices = undecided + notices
    if valid == "unknown":
        reason = "; ".join(f"{a.type}: {a.explanation}" for a in undecided[:3]) or ", ".join(r_types)
    return CheckResult(name=NAME, valid=valid, anomalies=reportable, stats=stats,
                       reason=reason, notices=notices, details=details)


REPLAY_CAP = 32  # witnesses re-checked per history (the reported anomalies are capped too)


def _replay(history, a: Anomaly, kind: str, options, order: int) -> bool:
    """Witness replay (§6.2): the witness ops alone must show a cycle of the same class or
    of one that implies it."""
    from splitbrain.checkers.transactions.models import implied_anomalies

    wanted = set(a.ops)
    sub_ops = [op for op in history.ops if op.index in wanted]
    sub = type(history)(ops=sub_ops, source=history.source)
    try:
        t = Txns(sub)
        inf = ListAppend(t).run() if kind == "list-append" else RWRegister(
            t, frozenset(getattr(options, "txn_assume", ()) or ())).run()
    except Precondition:
        return False
    if order & REALTIME:
        add_realtime_edges(inf.edges, t.vertices, t.ok)
    elif order & PROCESS:
        add_process_edges(inf.edges, t.vertices, t.ok)
    inf.edges.freeze()
    if _steps_hold(inf.edges, t, a):
        return True
    deadline = time.monotonic() + 1.0
    classes = cycle_classes(order)
    for comp in inf.edges.sccs(DATA | order):
        cycles, _, _ = search_scc(inf.edges, comp, classes, deadline, DATA | order)
        if any(a.type in implied_anomalies([c]) for c in cycles):
            return True
    return False


def _steps_hold(edges, t, a: Anomaly) -> bool:
    """Every step of the witness cycle is an edge of the same kind among the witness ops
    alone: the cycle, and so its class, is reproduced. (A search of the small graph may
    name another cycle first when an edge carries two kinds — rw and process, say.)"""
    steps = (a.details or {}).get("steps")
    if not steps:
        return False
    bit = {name: b for b, name in LABELS.items()}
    vert = {op.index: v for v, op in enumerate(t.vertices)}
    for st in steps:
        u, w, lab = vert.get(st["from"]), vert.get(st["to"]), bit.get(st["label"])
        if u is None or w is None or lab is None:
            return False
        if not any(x == w and m & lab for x, m in edges.out(u)):
            return False
    return True


def _cycle_anomaly(cls: str, cyc: list[int], labels: list[int], inf, txns, scc_size) -> Anomaly:
    """Rotate to the lowest op index, name T1..Tn, one sentence per step (§6.1)."""
    vs = txns.vertices
    n = len(cyc)
    start = min(range(n), key=lambda i: vs[cyc[i]].index)
    cyc = cyc[start:] + cyc[:start]
    labels = labels[start:] + labels[:start]
    names = {v: f"T{i + 1}" for i, v in enumerate(cyc)}
    steps = []
    sentences = []
    evidence: list[int] = []
    ring = []
    for i in range(n):
        a, b = cyc[i], cyc[(i + 1) % n]
        lab = labels[i]
        if lab in (PROCESS, REALTIME):
            A, B = vs[a], vs[b]
            if lab == PROCESS:
                body = f"session {A.process} ran {names[a]} before {names[b]}"
            else:
                body = (f"{names[a]} completed at index {A.ret_index} "
                        f"({(A.t_ret_seen or 0) / 1e9:.3f} s) before {names[b]} was invoked at "
                        f"index {B.inv_index} ({B.t_inv / 1e9:.3f} s)")
            key = None
        else:
            body, ev, key = inf.explain(a, b, lab)
            body = body.replace("T{a}", names[a]).replace("T{b}", names[b])
            evidence += [e for e in ev if e is not None]
        steps.append({"from": vs[a].index, "to": vs[b].index, "label": LABELS[lab],
                      "key": key})
        ring.append(f"{names[a]} ─{_SHORT[lab]}{' ' + str(key) if key is not None else ''}→")
        if i == n - 1:
            sentences.append(f"However, {names[a]} < {names[b]}, because {body}: a contradiction!")
        else:
            sentences.append(f"{names[a]} < {names[b]}, because {body}.")
    ring.append(names[cyc[0]])
    ops = [vs[v].index for v in cyc]
    witness = ops + sorted(set(evidence) - set(ops))
    txn_desc = {names[v]: {"op": vs[v].index, "process": vs[v].process, "type": vs[v].type,
                           "value": [list(fmt_mop(m)) for m in vs[v].value]} for v in cyc}
    return Anomaly(type=cls, ops=witness, explanation=" ".join(sentences),
                   details={"cycle": ops, "steps": steps, "scc_size": scc_size,
                            "ring": " ".join(ring), "txns": txn_desc})
