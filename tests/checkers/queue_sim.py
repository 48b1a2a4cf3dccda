"""A simulated log broker for the queue checker's property tests.

`simulate(seed, fault=None)` runs processes that send unique values to a few keys, assign
keys and poll them from a per-process cursor (Kafka `assign`), sometimes crash, and end
with a final phase (assign every key from the beginning, poll to the end, `final`). With
`group=True` some processes dequeue from a shared group cursor instead, and the end is a
drain. Offsets are Redis-style "ms-seq" IDs when `redis_ids` (sparse, two-part).

Faults (each returns the op indices a checker must name in a witness):
* "lose": an acknowledged entry is removed from the log after it was acked;
* "duplicate": an entry is appended a second time at a new offset;
* "reorder": one poll returns two of its messages swapped;
* "skip": a cursor jumps one entry forward.
"""

from __future__ import annotations

import random


def simulate(seed: int, fault: str | None = None, *, n_ops: int = 120, keys: int = 3,
             procs: int = 3, group: bool = False, redis_ids: bool = False):
    rng = random.Random(seed)
    logs = {k: [] for k in range(keys)}        # key -> [(offset, value, alive)]
    cursors = {p: {} for p in range(procs)}    # process -> key -> next position
    assigned = {p: list(range(keys)) for p in range(procs)}
    group_cursor = {k: 0 for k in range(keys)}
    pid = {p: p for p in range(procs)}
    events = []
    t = [0]
    witness: dict = {"ops": set()}
    value = [0]
    faulted = [False]

    def emit(p, typ, f, **kw):
        t[0] += 1
        ev = {"index": len(events), "time": t[0], "process": p, "type": typ, "f": f, **kw}
        events.append(ev)
        return ev

    def offset_for(k):
        n = len(logs[k])
        if redis_ids:
            return f"{1700000000000 + n // 2}-{n % 2}"
        return n * 2  # sparse, like Kafka with markers

    def alive(k):
        return [(o, v) for o, v, a in logs[k] if a]

    fault_at = rng.randrange(n_ops // 3, 2 * n_ops // 3) if fault else -1
    sent: list = []  # (key, completion index)
    for step in range(n_ops):
        p = rng.randrange(procs)
        proc = pid[p]
        r = rng.random()
        do_fault = step >= fault_at and fault and not faulted[0]
        if r < 0.45:
            k = rng.randrange(keys)
            value[0] += 1
            v = value[0]
            emit(proc, "invoke", "send", key=k, value=v)
            off = offset_for(k)
            logs[k].append((off, v, True))
            comp = emit(proc, "ok", "send", key=k, value=v, offset=off)
            sent.append((k, comp["index"]))
            if do_fault and fault == "lose" and len(logs[k]) >= 1:
                logs[k][-1] = (off, v, False)
                faulted[0] = True
                witness["ops"].add(comp["index"])
                witness["value"] = v
            elif do_fault and fault == "duplicate":
                logs[k].append((offset_for(k), v, True))
                faulted[0] = True
                witness["value"] = v
        elif r < 0.9:
            if group and p % 2 == 1:
                emit(proc, "invoke", "dequeue")
                out = {}
                for k in range(keys):
                    live = alive(k)
                    got = live[group_cursor[k]:group_cursor[k] + 2]
                    group_cursor[k] += len(got)
                    if got:
                        out[str(k)] = [[o, v] for o, v in got]
                emit(proc, "ok", "dequeue", value=out)
                continue
            emit(proc, "invoke", "poll")
            out = {}
            for k in assigned[p]:
                live = alive(k)
                c = cursors[p].get(k, 0)
                if do_fault and fault == "skip" and 0 < c and c + 1 < len(live):
                    c += 1
                    faulted[0] = True
                    witness["value"] = live[c - 1][1]
                got = live[c:c + 3]
                cursors[p][k] = c + len(got)
                if got:
                    out[str(k)] = [[o, v] for o, v in got]
            if do_fault and fault == "reorder":
                for k, items in out.items():
                    if len(items) >= 2:
                        items[0], items[1] = items[1], items[0]
                        faulted[0] = True
                        break
            comp = emit(proc, "ok", "poll", value=out)
            if fault == "reorder" and faulted[0] and "reorder_op" not in witness:
                witness["reorder_op"] = comp["index"]
                witness["ops"].add(comp["index"])
        elif r < 0.96:
            ks = sorted(rng.sample(range(keys), rng.randint(1, keys)))
            emit(proc, "invoke", "assign", value=ks)
            emit(proc, "ok", "assign", value=ks)
            cursors[p] = {k: c for k, c in cursors[p].items() if k in ks}
            assigned[p] = ks
        else:
            emit(proc, "invoke", "crash")
            emit(proc, "info", "crash")
            pid[p] = proc + procs  # the process is retired after an info
            cursors[p] = {}
            assigned[p] = []
    # final phase: every process re-reads every key from the beginning
    for p in range(procs):
        proc = pid[p] + 100
        allk = list(range(keys))
        emit(proc, "invoke", "assign", value=allk, final=True, seek="beginning")
        emit(proc, "ok", "assign", value=allk, final=True, seek="beginning")
        cur = {k: 0 for k in allk}
        while True:
            emit(proc, "invoke", "poll", final=True)
            out = {}
            for k in allk:
                live = alive(k)
                got = live[cur[k]:cur[k] + 5]
                cur[k] += len(got)
                if got:
                    out[str(k)] = [[o, v] for o, v in got]
            emit(proc, "ok", "poll", value=out, final=True)
            if not out:
                break
    if group:
        emit(999, "invoke", "drain", final=True)
        out = {}
        for k in range(keys):
            live = alive(k)[group_cursor[k]:]
            if live:
                out[str(k)] = [[o, v] for o, v in live]
        emit(999, "ok", "drain", value=out, final=True)
    return events, witness if faulted[0] else None
