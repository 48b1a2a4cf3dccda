"""Seeded generators of random tiny histories for the linearizability tests."""

from __future__ import annotations

import random

from splitbrain.harness.history import history_from_events

MODEL_FS = {
    "cas-register": ("read", "write", "cas"),
    "register": ("read", "write"),
    "mutex": ("acquire", "release"),
    "set": ("add", "read"),
    "list-append": ("append", "read"),
    "counter": ("add", "read"),
    "fifo-queue": ("enqueue", "dequeue"),
    "multi-register": ("txn",),
}


def _value(rng, model, f, vals):
    if model in ("cas-register", "register"):
        if f == "write":
            return rng.choice(vals)
        if f == "cas":
            return [rng.choice(vals + [None]), rng.choice(vals)]
        return rng.choice(vals + [None])
    if model == "set":
        return rng.choice(vals) if f == "add" else sorted(rng.sample(vals, rng.randint(0, len(vals))))
    if model == "list-append":
        if f == "append":
            return rng.choice(vals)
        return [rng.choice(vals) for _ in range(rng.randint(0, 3))]
    if model == "counter":
        return rng.choice([1, 2]) if f == "add" else rng.randint(0, 4)
    if model == "fifo-queue":
        return rng.choice(vals) if f == "enqueue" else rng.choice(vals + [None])
    if model == "multi-register":
        return [[rng.choice("rw"), rng.choice("xy"), rng.choice(vals + ([None] if rng.random() < .3 else []))]
                for _ in range(rng.randint(1, 2))]
    return None


def random_events(rng: random.Random, model: str, n_ops: int = 6, procs: int = 3,
                  n_vals: int = 2, p_info: float = 0.2, p_fail: float = 0.15,
                  mismatch: bool = True) -> list[dict]:
    """Events of `n_ops` ops on one key with random overlap, info, fail, pending ops."""
    fs = MODEL_FS[model]
    vals = list(range(1, n_vals + 1))
    events: list[dict] = []
    open_: dict[int, dict] = {}
    next_proc = procs
    active = list(range(procs))
    started = 0
    while started < n_ops or open_:
        can_start = [p for p in active if p not in open_] if started < n_ops else []
        if can_start and (not open_ or rng.random() < 0.5):
            p = rng.choice(can_start)
            f = rng.choice(fs)
            v = _value(rng, model, f, vals)
            inv = {"process": p, "type": "invoke", "f": f,
                   "value": None if f in ("read", "dequeue") else v}
            open_[p] = {"f": f, "v": v}
            events.append(inv)
            started += 1
            continue
        if not open_:
            break
        p = rng.choice(sorted(open_))
        o = open_.pop(p)
        x = rng.random()
        if x < p_info:
            if rng.random() < 0.3:
                # left pending at the end (never completes): retire the process
                active.remove(p)
                active.append(next_proc)
                next_proc += 1
                continue
            events.append({"process": p, "type": "info", "f": o["f"],
                           "value": None if o["f"] in ("read",) else o["v"]})
            active.remove(p)
            active.append(next_proc)
            next_proc += 1
        elif x < p_info + p_fail:
            ev = {"process": p, "type": "fail", "f": o["f"], "value": o["v"] if o["f"] != "read" else None}
            if o["f"] == "cas" and mismatch and rng.random() < 0.7:
                ev["error"] = "cas-mismatch"
            events.append(ev)
        else:
            events.append({"process": p, "type": "ok", "f": o["f"], "value": o["v"]})
    # pending invocations: those still in open_ are none; the "left pending" ones have
    # an invocation and no completion, which the pairer turns into info ops.
    for i, e in enumerate(events):
        e["index"] = i
        e["key"] = "k"
    return events


def random_history(rng, model, **kw):
    return history_from_events(random_events(rng, model, **kw))
