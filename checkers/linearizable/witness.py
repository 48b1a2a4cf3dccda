"""Witnesses, blocked candidates and timeline data (linearizability.md §5.3–§5.7).

Obligations:
* the witness starts from the partition truncated at the stuck op's completion and only
  applies *safe deletions* (observers; register writes / cas whose written value no
  remaining op observes, when no mismatch observation remains; set adds / list appends
  whose element no remaining read contains); a deletion is kept iff the engine still says
  INVALID; the stuck op is never deleted; the result is replayed;
* running out of re-checks reports the current set with `minimal: false`.
"""

from __future__ import annotations

from typing import Any, Callable

from splitbrain.checkers.linearizable.models import (ABSENT, ANY, CAS, CAS_INFO, MISMATCH, READ, WRITE,
                                          CasRegister, Partition)
from splitbrain.checkers.linearizable.search import INVALID, SearchResult
from splitbrain.harness.history import INF


def _problem(p, keep, required, initial):
    from splitbrain.checkers.linearizable import _problem as mk

    return mk(p, keep, required, initial=initial)[0]


def _register_family(p: Partition) -> bool:
    return all(isinstance(x, tuple) and len(x) == 3 and isinstance(x[0], int)
               for x in p.payload)


def _cut(p: Partition, k: int, W: set[int], req: set[int], run_sub: Callable,
         tries: int = 3) -> tuple[set[int], Any, int] | None:
    """A quiescent cut before the stuck op: a point no op of W spans (no crashed op
    invoked before it), after which W's non-linearizability does not depend on the ops
    before it *if* every legal order of those ops ends in one and the same state s. Then
    the ops after the cut, started from s, are a witness (any linearization of the whole
    passes the cut in state s). Register family only (the probe is an impossible cas)."""
    if not _register_family(p):
        return None
    order = sorted(W, key=lambda o: p.inv[o])
    cuts = []
    max_ret = -1.0
    for i, o in enumerate(order):
        if i and max_ret < p.inv[o] and p.inv[o] <= p.inv[k]:
            cuts.append((max_ret, i))
        max_ret = max(max_ret, p.ret[o])
    never = max(len(p.values), 2) + 7  # a value id no op uses
    for m, i in reversed(cuts[-tries:] if len(cuts) > tries else cuts):
        before = order[:i]
        if len(before) < 2:
            continue
        m = int(m)
        rq = sorted(before, key=lambda o: p.ret[o])
        prob = ([p.inv[o] for o in rq] + [m + 1], [p.ret[o] for o in rq] + [m + 2],
                len(rq) + 1, [p.payload[o] for o in rq] + [(2, never, never)],
                [p.observer[o] for o in rq] + [False], p.initial)
        r = run_sub([prob])[0]
        if r.status == INVALID and r.kstar == len(rq) and r.frontier_count == 1:
            return set(order[i:]), r.frontier[0], m
    return None


def _deletable(p: Partition, W: set[int], k: int, initial: Any = None) -> list[int]:
    """Safe deletions from W (never k), most distant from the stuck op first."""
    out = []
    reg = all(isinstance(x, tuple) and len(x) == 3 and isinstance(x[0], int)
              for x in (p.payload[o] for o in W))
    observed: set = set()
    mismatch = False
    elements: set = set()
    if reg:
        observed.add(p.initial if initial is None else initial)
        for o in W:
            c, a, _ = p.payload[o]
            if c == READ and a != ANY:
                observed.add(a)
            elif c in (CAS, CAS_INFO):
                observed.add(a)
            elif c == MISMATCH:
                observed.add(a)
                mismatch = True
    else:
        for o in W:
            pl = p.payload[o]
            if isinstance(pl, tuple) and len(pl) == 2 and pl[0] == "read" \
                    and isinstance(pl[1], (tuple, frozenset)):
                elements.update(pl[1])
    for o in W:
        if o == k:
            continue
        pl = p.payload[o]
        if p.observer[o]:
            out.append(o)
        elif reg and not mismatch:
            c, a, b = pl
            written = a if c == WRITE else b if c in (CAS, CAS_INFO) else None
            if written is not None and written not in observed and written != ABSENT:
                out.append(o)
        elif isinstance(pl, tuple) and len(pl) == 2 and pl[0] in ("add", "append") \
                and not isinstance(pl[1], int) and pl[1] not in elements:
            out.append(o)  # set add / list append of an element no read contains
    out.sort(key=lambda o: (-abs(p.inv[o] - p.inv[k]), o))
    return out


CUT_ABOVE = 8  # witnesses longer than this are also cut at a quiescent point


def minimal_witness(p: Partition, k: int, run_sub: Callable, budget: int) -> dict:
    cut = p.ret[k]
    W = {r for r in range(len(p)) if p.inv[r] < cut}
    req = {r for r in W if r < p.required and p.ret[r] <= cut}
    tests = 0
    init = p.initial
    extra: dict = {}

    def invalid(ws: set[int]) -> bool:
        nonlocal tests
        tests += 1
        return run_sub([_problem(p, sorted(ws), req, init)])[0].status == INVALID

    def ddmin(W: set[int]) -> tuple[set[int], bool]:
        cand = _deletable(p, W, k, init)
        chunk = max(1, len(cand) // 2)
        while cand:
            progressed = False
            i = 0
            while i < len(cand) and tests < budget:
                trial = set(cand[i:i + chunk])
                if invalid(W - trial):
                    W = W - trial
                    cand = _deletable(p, W, k, init)  # deleting reads unobserves writes
                    progressed = True
                else:
                    i += chunk
            if tests >= budget:
                return W, False
            if not progressed:
                if chunk == 1:
                    break
                chunk = max(1, chunk // 2)
            else:
                chunk = max(1, min(chunk, len(cand) // 2))
        return W, True

    if not invalid(W):  # cannot happen if the engine is right
        return {"ranks": sorted(W), "minimal": False, "replayed": False, "tests": tests}
    W, minimal = ddmin(W)
    if minimal and len(W) > CUT_ABOVE:
        # Still long (writes of values later ops observe cannot be deleted): start the
        # witness at a quiescent point whose state every order of the ops before it agrees on.
        found = _cut(p, k, W, req, run_sub)
        if found is not None:
            W2, s_cut, m = found
            saved = init
            init = s_cut
            if invalid(W2):
                extra = {"initial": s_cut, "cut": p_index_after(p, m)}
                W, minimal = ddmin(W2)
            else:  # cannot happen if the reasoning holds; keep the plain witness
                init = saved
    replayed = invalid(W)
    return {"ranks": sorted(W), "minimal": minimal and replayed, "replayed": replayed,
            "tests": tests, **extra}


def p_index_after(p: Partition, m: int) -> int:
    """The history index the cut follows (the last completion before it)."""
    return m


def blocked_candidates(p: Partition, r: SearchResult, model: Any, cap: int = 8) -> list[dict]:
    """Why each callable unplaced op cannot continue the first frontier path."""
    if not r.paths:
        return []
    path = r.paths[0]
    s = r.path_starts[0] if r.path_starts else p.initial
    for o in path:
        s = model.step(s, p.payload[o])
        if s is None:  # cannot happen: paths are legal
            return []
    k = r.kstar
    placed = set(path)
    cut = p.ret[k]
    cands = [o for o in range(len(p)) if o not in placed and p.inv[o] < cut]
    cands.sort(key=lambda o: (o != k, p.inv[o]))
    out = []
    for o in cands[:cap]:
        s2 = model.step(s, p.payload[o])
        reason = (model.why_illegal(p, s, p.payload[o]) if s2 is None
                  else "legal, but every continuation fails")
        out.append({"op": p.ops[o].index, "reason": reason})
    return out


def timeline(p: Partition, r: SearchResult, model: Any, w_ranks: list[int],
             blocked: list[dict], cap: int = 60) -> dict:
    """Ops around the witness and the frontier paths, for the report's per-key view."""
    k = r.kstar
    end = p.ret[k]
    wset = set(w_ranks)
    start = min(p.inv[o] for o in w_ranks) if w_ranks else p.inv[k]
    window = [o for o in range(len(p)) if p.inv[o] <= end and (p.ret[o] >= start)]
    window.sort(key=lambda o: (o not in wset, abs(p.inv[o] - p.inv[k])))
    window = sorted(window[:cap], key=lambda o: p.inv[o])
    shown = set(window)
    desc = getattr(model, "describe_payload", lambda part, pl: repr(pl))
    ops = []
    for o in window:
        op = p.ops[o]
        role = "stuck" if o == k else "witness" if o in wset else "context"
        ops.append({"index": op.index, "inv": p.inv[o],
                    "ret": None if p.ret[o] == INF else p.ret[o], "process": op.process,
                    "f": op.f, "desc": desc(p, p.payload[o]), "type": op.type,
                    "optional": o >= p.required, "role": role})
    paths = []
    for j, path in enumerate(r.paths):
        s = r.path_starts[j] if j < len(r.path_starts) else p.initial
        pts = []
        for o in path:
            s = model.step(s, p.payload[o])
            if o in shown:
                pts.append([p.ops[o].index, model.describe_state(p, s)])
        paths.append(pts)
    return {"ops": ops, "paths": paths, "blocked": [[b["op"], b["reason"]] for b in blocked],
            "start_state": model.describe_state(p, p.initial)}


__all__ = ["minimal_witness", "blocked_candidates", "timeline", "CasRegister"]
