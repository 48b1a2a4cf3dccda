"""Simulated replicated stores that emit valid histories with final reads (test support).

`simulate(...)` runs sequential client processes against a store with one primary and
`nodes` replicas. A write takes effect at one instant inside its [invoke, complete]
interval; replica `n` applies it `lag_n` ns later (lag_n ≤ `max_lag`, 0 = linearizable).
Each process is sticky to one node and reads from it. After the run every fault heals,
the store quiesces past the lag, and every node reads every key `final_rounds` times with
`final: true`. Faults with known witnesses are injected through arguments:

* `info_rate` / `fail_rate`: writes that time out (applied or not) / definitely fail;
* `lose_last_acked`: for each listed key, the key's last acknowledged write is never
  applied anywhere (an acknowledged write lost); the op index is returned in `injected`;
* `skewed_process` + `skew_ns`: plain LWW registers arbitrate by the writer's clock; the
  skewed process writes last, after others completed, with a clock `skew_ns` behind.

Returns (events, injected) where `injected` maps a fault name to op indices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

MS = 1_000_000


@dataclass
class _Op:
    process: int
    f: str
    key: Any
    value: Any
    t_inv: int
    t_eff: int
    t_ret: int
    outcome: str  # ok / info-applied / info-lost / fail
    node: str
    result: Any = None
    version: int | None = None
    final: bool = False
    lost: bool = False
    inv_i: int = -1
    ret_i: int = -1


@dataclass
class _Store:
    kind: str
    nodes: list[str]
    lags: dict[str, int]
    log: dict[Any, list[tuple]] = field(default_factory=dict)  # key -> [(t_eff, version, value, ts)]

    def apply(self, op: _Op, ts: int) -> int:
        entries = self.log.setdefault(op.key, [])
        version = len(entries) + 1
        entries.append((op.t_eff, version, op.value, ts))
        return version

    def read(self, key: Any, node: str, t: int) -> tuple[Any, int]:
        lag = self.lags[node]
        seen = [e for e in self.log.get(key, []) if e[0] + lag <= t]
        if self.kind == "register":
            if not seen:
                return None, 0
            e = max(seen, key=lambda e: e[1])
            return e[2], e[1]
        if self.kind == "plain":  # LWW by writer timestamp (ties by version)
            if not seen:
                return None, 0
            e = max(seen, key=lambda e: (e[3], e[1]))
            return e[2], e[1]
        if self.kind == "list":
            seen.sort(key=lambda e: e[1])
            return [e[2] for e in seen], len(seen)
        if self.kind == "set":
            return sorted(e[2] for e in seen), len(seen)
        return sum(e[2] for e in seen), len(seen)  # counter


WRITE_F = {"register": "write", "plain": "write", "list": "append", "set": "add",
           "counter": "add"}


def simulate(seed: int, *, kind: str = "register", n_ops: int = 200, processes: int = 4,
             keys: int = 3, nodes: int = 3, max_lag: int = 0, info_rate: float = 0.0,
             fail_rate: float = 0.0, read_rate: float = 0.5, final_rounds: int = 2,
             lose_last_acked: tuple = (), skewed_process: int | None = None,
             skew_ns: int = 0, negative_deltas: bool = False):
    rnd = random.Random(seed)
    names = [f"n{i + 1}" for i in range(nodes)]
    lags = {n: (0 if i == 0 else rnd.randint(0, max_lag)) for i, n in enumerate(names)}
    store = _Store(kind, names, lags)
    ops: list[_Op] = []
    clocks = [rnd.randint(0, 5 * MS) for _ in range(processes)]
    per_proc = max(1, n_ops // processes)
    for p in range(processes):
        node = names[p % nodes]
        for s in range(per_proc):
            t_inv = clocks[p]
            t_eff = t_inv + rnd.randint(1, 3 * MS)
            t_ret = t_eff + rnd.randint(1, 3 * MS)
            clocks[p] = t_ret + rnd.randint(1, 2 * MS)
            key = f"k{rnd.randrange(keys)}"
            if rnd.random() < read_rate:
                ops.append(_Op(p, "read", key, None, t_inv, t_eff, t_ret, "ok", node))
                continue
            if kind == "counter":
                value = rnd.choice([1, 2, 3, -1, -2]) if negative_deltas else rnd.randint(1, 3)
            else:
                value = f"{p}-{s}" if kind in ("register", "plain") else p * 100000 + s
            x = rnd.random()
            outcome = ("fail" if x < fail_rate else
                       rnd.choice(["info-applied", "info-lost"]) if x < fail_rate + info_rate
                       else "ok")
            ops.append(_Op(p, WRITE_F[kind], key, value, t_inv, t_eff, t_ret, outcome, node))
    injected: dict[str, list] = {}
    if skewed_process is not None:
        # the skewed process writes every key last, after all others completed
        t = max(o.t_ret for o in ops) + MS
        for k in sorted({o.key for o in ops}):
            ops.append(_Op(skewed_process, "write", k, f"skewed-{k}", t, t + MS, t + 2 * MS, "ok",
                           names[skewed_process % nodes]))
            injected.setdefault("skewed_writes", []).append(ops[-1])
            t += 3 * MS
    lost_ops = set()
    for k in lose_last_acked:
        acked = [o for o in ops if o.key == k and o.f != "read" and o.outcome == "ok"]
        if acked:
            w = max(acked, key=lambda o: o.t_eff)
            lost_ops.add(id(w))
            injected.setdefault("lost", []).append(w)
    # effects in effect-time order: writes apply, reads observe
    for o in sorted(ops, key=lambda o: o.t_eff):
        if o.f == "read":
            o.result, o.version = store.read(o.key, o.node, o.t_eff)
        elif o.outcome in ("ok", "info-applied"):
            ts = o.t_eff - (skew_ns if o.process == skewed_process else 0)
            if id(o) in lost_ops:
                o.version = len(store.log.get(o.key, [])) + 1  # acknowledged, then gone
                store.log.setdefault(o.key, [])  # never stored anywhere
                store.log[o.key].append((float("inf"), o.version, o.value, ts))
            else:
                o.version = store.apply(o, ts)
    # heal, quiesce, final reads on every node
    end = max(o.t_ret for o in ops) + max_lag + 10 * MS
    finals = []
    t = end + MS
    for _ in range(final_rounds):
        for i, n in enumerate(names):
            for k in sorted({o.key for o in ops}):
                val, ver = store.read(k, n, t)
                finals.append(_Op(processes + i, "read", k, None, t, t + 1, t + 2, "ok", n,
                                  val, ver, final=True))
                t += 3
        t += 5 * MS
    events = _events(ops + finals, kind, end)
    return events, {k: [o.ret_i for o in v] for k, v in injected.items()}


def _events(ops: list[_Op], kind: str, heal_t: int) -> list[dict]:
    raw = []
    for o in ops:
        inv = {"process": o.process, "type": "invoke", "f": o.f, "key": o.key,
               "value": o.value if o.f != "read" else None, "time": o.t_inv}
        if o.node is not None:
            inv["node"] = o.node
        typ = {"ok": "ok", "info-applied": "info", "info-lost": "info", "fail": "fail"}[o.outcome]
        comp = dict(inv, type=typ, time=o.t_ret)
        if o.f == "read":
            comp["value"] = o.result
            if kind == "register":
                comp["version"] = o.version
        elif typ == "ok" and kind == "register":
            comp["version"] = o.version
        if o.final:
            inv["final"] = comp["final"] = True
        raw.append((o.t_inv, 0, inv, o, "inv"))
        raw.append((o.t_ret, 1, comp, o, "ret"))
    raw.append((heal_t, 2, {"process": "nemesis", "type": "info", "f": "heal", "value": None,
                            "time": heal_t}, None, None))
    raw.sort(key=lambda t: (t[0], t[1]))
    out = []
    for i, (_, _, ev, o, which) in enumerate(raw):
        ev["index"] = i
        if o is not None:
            if which == "inv":
                o.inv_i = i
            else:
                o.ret_i = i
        out.append(ev)
    return out
