"""A simulated outbox → queue → consumer → derived-store pipeline for the propagation
checker's tests (the history format of checkers/propagation).

    events = simulate(seed, mode="outbox", consumer="version", crash_p=0, kill_p=0,
                      lose_source=0, final=True)

* mode "outbox": the source write and its event commit together; "dual-write": the
  writer may crash (`crash_p`) after the source write and before publishing;
* consumer "none" appends the event id to a derived list (duplicates visible),
  "version" applies only newer versions; `kill_p`: the consumer dies after applying and
  before acking, so the event is redelivered;
* `lose_source`: that many source writes vanish from the source after being applied
  (a source failover), so their effects are orphans.
"""

from __future__ import annotations

import random


def simulate(seed: int, *, n: int = 60, keys: int = 3, mode: str = "outbox",
             consumer: str = "version", crash_p: float = 0.0, kill_p: float = 0.0,
             lose_source: int = 0, final: bool = True):
    rng = random.Random(seed)
    ev: list[dict] = []
    t = [0]
    truth = {"lost": set(), "dups": set(), "orphans": set()}

    def emit(p, typ, f, **kw):
        t[0] += rng.randint(1, 5) * 1_000_000
        d = {"index": len(ev), "time": t[0], "process": p, "type": typ, "f": f, **kw}
        ev.append(d)
        return d

    src_ver = {k: 0 for k in range(keys)}
    src_state = {k: [] for k in range(keys)}  # versions present at the source
    queue: list = []
    der_ver = {k: 0 for k in range(keys)}
    der_events = {k: [] for k in range(keys)}
    applied: list = []
    eid = 0
    for step in range(n):
        k = rng.randrange(keys)
        eid += 1
        src_ver[k] += 1
        v = src_ver[k]
        emit(0, "invoke", "write-source", key=k, value=eid)
        emit(0, "ok", "write-source", key=k, value=eid, version=v)
        src_state[k].append(v)
        if mode == "dual-write" and rng.random() < crash_p:
            emit(0, "invoke", "publish", value=eid)
            emit(0, "info", "publish", value=eid, error="client crashed")
            truth["lost"].add(eid)
        else:
            queue.append((eid, k, v))
            emit(1, "invoke", "relay", value=eid)
            emit(1, "ok", "relay", value=eid)
        # the consumer drains what is queued
        while queue:
            e, kk, vv = queue.pop(0)
            emit(2, "invoke", "apply", key=kk, value=e, version=vv)
            if consumer == "none":
                der_events[kk].append(e)
                der_ver[kk] = max(der_ver[kk], vv)
                decision = "applied"
            elif vv > der_ver[kk]:
                der_ver[kk] = vv
                decision = "applied"
            else:
                decision = "skipped-older"
            emit(2, "ok", "apply", key=kk, value=e, version=vv, decision=decision)
            applied.append((e, kk, vv))
            if rng.random() < kill_p:
                # killed after the apply, before the ack: redelivered once
                emit(2, "invoke", "apply", key=kk, value=e, version=vv)
                if consumer == "none":
                    der_events[kk].append(e)
                    truth["dups"].add(e)
                    emit(2, "ok", "apply", key=kk, value=e, version=vv, decision="applied")
                else:
                    emit(2, "ok", "apply", key=kk, value=e, version=vv, decision="skipped-older")
        # a reader
        rk = rng.randrange(keys)
        emit(3, "invoke", "read-derived", key=rk)
        emit(3, "ok", "read-derived", key=rk, value={
            "version": der_ver[rk], "events": list(der_events[rk]) if consumer == "none" else None})
    for _ in range(lose_source):
        # a failover drops the newest source write of some key; its effect stays derived
        k = max(src_state, key=lambda k: len(src_state[k]))
        if src_state[k]:
            v = src_state[k].pop()
            for e, kk, vv in applied:
                if kk == k and vv == v:
                    truth["orphans"].add(e)
    if final:
        for k in range(keys):
            emit(4, "invoke", "read-source", key=k, final=True)
            emit(4, "ok", "read-source", key=k, final=True,
                 value={"version": max(src_state[k], default=0)})
            emit(4, "invoke", "read-derived", key=k, final=True)
            emit(4, "ok", "read-derived", key=k, final=True, value={
                "version": der_ver[k],
                "events": list(der_events[k]) if consumer == "none" else None})
    return ev, truth
