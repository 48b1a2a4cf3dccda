"""A brute-force reference for the session guarantees on tiny histories (checker-spec §11.2).

Definitions straight from §3 (Viotti & Vukolić form, observable lower bounds), evaluated
over *all* pairs of ops instead of floors, and — for plain registers — over *every*
arbitration order of the writes that took effect (A-LWW: a read returns the ar-latest
visible write, so with maximal/minimal visibility choices each guarantee reduces to a
condition on ar alone):

* RYW: ok write w ≺s ok read r  ⇒  pos(w) ≤ pos(val r)
* MR:  ok reads r1 ≺s r2         ⇒  pos(val r1) ≤ pos(val r2)
* MW:  ok w1 ≺s w2 (w2 ok or observed info) ⇒ pos(w1) < pos(w2)
* WFR: ok read r1 ≺s w2          ⇒  pos(val r1) < pos(w2)
with pos(⊥) = -1. Lists and sets use membership (vis(r) = members(r)) and the order of
the longest read. A guarantee is violated iff no arbitration order satisfies it.

Only meaningful for histories without integrity anomalies (callers skip those).
"""

from __future__ import annotations

import itertools
from splitbrain.harness.history import History, Op, freeze

NAMES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")


def _before(a: Op, b: Op) -> bool:
    return a.session == b.session and a.ret_index < b.inv_index


def _pairs(ops: list[Op]):
    for a in ops:
        for b in ops:
            if a is not b and _before(a, b):
                yield a, b


def reference(history: History, workload: str) -> dict[str, bool]:
    """name -> True when the guarantee is violated (per key, single-key ops only)."""
    out = {n: False for n in NAMES}
    keys = {op.key for op in history.ops if type(op.key) is not tuple}
    for k in keys:
        ops = [o for o in history.ops if o.key == k and o.type != "fail"
               and not (o.f == "read" and o.type != "ok")]
        if workload == "register":
            got = _register(ops)
        else:
            got = _collection(ops, workload)
        for n in NAMES:
            out[n] = out[n] or got[n]
    return out


def _register(ops: list[Op]) -> dict[str, bool]:
    reads = [o for o in ops if o.f == "read"]
    observed = {freeze(o.value) for o in reads if o.value is not None}
    writes = [o for o in ops if o.f == "write" and (o.type == "ok" or freeze(o.value) in observed)]
    ok_writes = [o for o in writes if o.type == "ok"]
    versioned = any(o.version is not None for o in ops if o.type == "ok")
    val = lambda o: freeze(o.value)  # noqa: E731
    pairs = list(_pairs(reads + writes))

    def violated(pos: dict, name: str) -> bool:
        p = lambda v: -1 if v is None else pos[v]  # noqa: E731
        for a, b in pairs:
            if name == "read-your-writes" and a.f == "write" and a.type == "ok" and b.f == "read":
                if pos[val(a)] > p(val(b)):
                    return True
            elif name == "monotonic-reads" and a.f == "read" and b.f == "read":
                if p(val(a)) > p(val(b)):
                    return True
            elif name == "monotonic-writes" and a.f == "write" and a.type == "ok" and b.f == "write":
                if pos[val(a)] >= pos[val(b)]:
                    return True
            elif name == "writes-follow-reads" and a.f == "read" and b.f == "write":
                if p(val(a)) >= pos[val(b)]:
                    return True
        return False

    if versioned:
        vers = {}
        for o in ops:
            if o.type == "ok" and o.version is not None and o.value is not None:
                vers[val(o)] = o.version
        if any(val(w) not in vers for w in writes):
            # unknown versions: only the writes with versions constrain
            writes = [w for w in writes if val(w) in vers]
            pairs = [(a, b) for a, b in pairs
                     if all(o.f == "read" or val(o) in vers for o in (a, b))]
        return {n: violated(vers, n) for n in NAMES}
    out = {}
    vals = [val(w) for w in writes]
    for n in NAMES:
        ok = False
        for perm in itertools.permutations(vals):
            if not violated({v: i for i, v in enumerate(perm)}, n):
                ok = True
                break
        out[n] = not ok
    return out


def _collection(ops: list[Op], workload: str) -> dict[str, bool]:
    reads = [o for o in ops if o.f == "read"]
    members = {o.index: set(o.value or ()) for o in reads}
    seen = set().union(*members.values()) if members else set()
    writes = [o for o in ops if o.f != "read" and (o.type == "ok" or o.value in seen)]
    longest: list = max((list(o.value or ()) for o in reads), key=len, default=[])
    pos = {e: i for i, e in enumerate(longest)}
    out = {n: False for n in NAMES}
    for a, b in _pairs(reads + writes):
        if a.f != "read" and a.type == "ok" and b.f == "read":
            if a.value not in members[b.index]:
                out["read-your-writes"] = True
        elif a.f == "read" and b.f == "read":
            if not members[a.index] <= members[b.index]:
                out["monotonic-reads"] = True
        elif a.f != "read" and a.type == "ok" and b.f != "read":
            if workload == "list-append" and a.value in pos and b.value in pos \
                    and pos[a.value] > pos[b.value]:
                out["monotonic-writes"] = True
            for r in reads:
                if b.value in members[r.index] and a.value not in members[r.index]:
                    out["monotonic-writes"] = True
        elif a.f == "read" and b.f != "read":
            for r in reads:
                if b.value in members[r.index] and not members[a.index] <= members[r.index]:
                    out["writes-follow-reads"] = True
            if workload == "list-append" and b.value in pos:
                if any(e in pos and pos[e] >= pos[b.value] for e in members[a.index]):
                    out["writes-follow-reads"] = True
    return out


def random_history(rng, workload: str, *, versioned: bool = False, max_ops: int = 8,
                   processes: int = 3) -> list[dict]:
    """Events of a random tiny history: sequential processes, random interleaving, random
    observations (register reads pick any written value or ⊥; list reads pick prefixes of
    one hidden order; set reads pick subsets), random fail/info outcomes."""
    n_ops = rng.randint(2, max_ops)
    plan: list[list[dict]] = [[] for _ in range(rng.randint(1, processes))]
    wf = {"register": "write", "list-append": "append", "set": "add"}[workload]
    values = []
    for i in range(n_ops):
        p = rng.randrange(len(plan))
        if rng.random() < 0.5:
            v = f"v{i}" if workload == "register" else i
            values.append(v)
            outcome = rng.choices(["ok", "info", "fail"], [0.8, 0.1, 0.1])[0]
            plan[p].append({"f": wf, "value": v, "outcome": outcome})
        else:
            plan[p].append({"f": "read", "value": None, "outcome": "ok"})
    order = [v for v in values]
    rng.shuffle(order)
    version = {v: i + 1 for i, v in enumerate(order)}
    failed = {op["value"] for ops in plan for op in ops if op["f"] != "read" and op["outcome"] == "fail"}
    live = [v for v in order if v not in failed]
    for ops in plan:
        for op in ops:
            if op["f"] != "read":
                continue
            if workload == "register":
                op["value"] = rng.choice(live + [None]) if live else None
            elif workload == "list-append":
                op["value"] = live[:rng.randint(0, len(live))]
            else:
                op["value"] = sorted(rng.sample(live, rng.randint(0, len(live))))
    # interleave: each process invokes then completes its ops in order
    events, idx = [], 0
    cursor = [0] * len(plan)
    open_ = [False] * len(plan)
    while True:
        live_p = [p for p in range(len(plan)) if cursor[p] < len(plan[p])]
        if not live_p:
            break
        p = rng.choice(live_p)
        op = plan[p][cursor[p]]
        ev = {"index": idx, "process": p, "f": op["f"], "key": "x", "time": idx}
        if not open_[p]:
            ev.update(type="invoke", value=None if op["f"] == "read" else op["value"])
            open_[p] = True
        else:
            ev.update(type=op["outcome"], value=op["value"])
            if versioned and op["outcome"] == "ok" and op["value"] is not None and workload == "register":
                ev["version"] = version[op["value"]]
            open_[p] = False
            cursor[p] += 1
        events.append(ev)
        idx += 1
    return events
