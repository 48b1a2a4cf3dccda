"""A simulated outbox → queue → consumer → derived-store pipeline for the propagation
checker's tests (the history format of checkers/propagation).

    events = simulate(seed, mode="outbox", consumer="version", crash_p=0, kill_p=0,
                      lose_source=0, final=True)

* mode "outbox": the source write and its event commit together; "dual-write": the
  writer may crash (`crash_p`) after the source write and before publishing;
* consumer "none" appends the event id to a derived list (duplicates visible),
  "version" applies only newer versions; `kill_p`: the consumer dies after applying and
  before acking, so the event is redelivered;
* `poison_p`: a write is a poison event with that probability; the consumer fails on it
  LIMIT times, then dead-letters it (a `dlq` op; the final `read-dlq` lists the dlq
  stream). Injected faults of the dead-letter path: `drop_dlq` (a poison event that is
  never dead-lettered), `double_dlq` (one dead-lettered twice), `healthy_dlq` (a healthy
  event dead-lettered instead of applied), `backlog` (the final reads say the queue had
  not drained, and the last poison event is not dead-lettered yet: late);
* `lose_source`: that many source writes vanish from the source after being applied
  (a source failover), so their effects are orphans.
"""

from __future__ import annotations

import random


def simulate(seed: int, *, n: int = 60, keys: int = 3, mode: str = "outbox",
             consumer: str = "version", crash_p: float = 0.0, kill_p: float = 0.0,
             lose_source: int = 0, final: bool = True, poison_p: float = 0.0,
             drop_dlq: bool = False, double_dlq: bool = False, healthy_dlq: bool = False,
             backlog: bool = False):
    rng = random.Random(seed)
    ev: list[dict] = []
    t = [0]
    truth = {"lost": set(), "dups": set(), "orphans": set(), "poison": set(), "dlq": [],
             "dlq_bad": set()}
    poisoned: set = set()

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
        poison = rng.random() < poison_p
        if poison:
            poisoned.add(eid)
            truth["poison"].add(eid)
        extra = {"poison": True} if poison else {}
        emit(0, "invoke", "write-source", key=k, value=eid)
        emit(0, "ok", "write-source", key=k, value=eid, version=v, **extra)
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
            if e in poisoned or (healthy_dlq and not truth["dlq_bad"] and step > n // 2):
                if e not in poisoned:
                    truth["dlq_bad"].add(e)  # a healthy event the consumer gave up on
                for _ in range(3):  # the delivery limit
                    emit(2, "invoke", "apply", key=kk, value=e, version=vv)
                    emit(2, "fail", "apply", key=kk, value=e, version=vv, error="poison")
                if drop_dlq and not truth["dlq_bad"] and e in poisoned:
                    truth["dlq_bad"].add(e)  # never dead-lettered
                    continue
                if backlog and e in poisoned and step >= n - 8:
                    continue  # still pending when the final reads began: late
                for _ in range(2 if double_dlq and not truth["dlq_bad"] else 1):
                    emit(2, "invoke", "dlq", key=kk, value=e, version=vv)
                    emit(2, "ok", "dlq", key=kk, value=e, version=vv, attempts=3)
                    truth["dlq"].append(e)
                if double_dlq and not truth["dlq_bad"]:
                    truth["dlq_bad"].add(e)
                continue
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
        emit(4, "invoke", "queue-backlog", final=True)
        emit(4, "ok", "queue-backlog", final=True, value=backlog)
        emit(4, "invoke", "read-dlq", final=True)
        emit(4, "ok", "read-dlq", final=True, value=list(truth["dlq"]))
        for k in range(keys):
            emit(4, "invoke", "read-source", key=k, final=True)
            emit(4, "ok", "read-source", key=k, final=True,
                 value={"version": max(src_state[k], default=0)})
            emit(4, "invoke", "read-derived", key=k, final=True)
            emit(4, "ok", "read-derived", key=k, final=True, value={
                "version": der_ver[k],
                "events": list(der_events[k]) if consumer == "none" else None})
    return ev, truth
