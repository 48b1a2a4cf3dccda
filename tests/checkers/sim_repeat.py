"""A linearizable store whose histories look like real ones (issue 10, checker-spec §11.3).

Values repeat (registers written from a small range, list elements re-appended), keys may
be absent (one keyless register, the Knossos form), transactions with several micro-ops
apply atomically, info ops take effect with probability 1/2 (possibly after the history
ends), fail ops never. Every op takes effect at one instant inside its interval, so the
history is linearizable by construction: no checker may report an anomaly on it.

`events(...)` returns JSONL-style event dicts; `to_edn(events)` renders them as a Jepsen
EDN history without final markers (Jepsen's `independent` [k v] form when keyed).
"""

from __future__ import annotations

import random
from typing import Any


def events(seed: int, *, workload: str = "register", keys: int = 2, values: int = 3,
           n_ops: int = 40, processes: int = 3, keyless: bool = False, txn: bool = False,
           final_reads: bool = True, p_info: float = 0.05, p_fail: float = 0.05) -> list[dict]:
    rng = random.Random(seed)
    key_names = [None] if keyless else [f"k{i}" for i in range(keys)]
    wf = "write" if workload == "register" else "append"
    ops: list[dict] = []
    t_free = [rng.randint(0, 3) for _ in range(processes)]
    proc = list(range(processes))
    next_proc = processes
    for i in range(n_ops):
        w = rng.randrange(processes)
        t0 = t_free[w] + rng.randint(0, 4)
        d = rng.randint(1, 12)
        k = rng.choice(key_names)
        outcome = rng.choices(["ok", "info", "fail"], [1 - p_info - p_fail, p_info, p_fail])[0]
        if txn and not keyless and rng.random() < 0.4:
            mops = []
            for _ in range(rng.randint(2, 3)):
                kk = rng.choice(key_names)
                if rng.random() < 0.5:
                    mops.append(["r", kk, None])
                else:
                    mops.append(["w" if wf == "write" else "append", kk, rng.randrange(values)])
            o = {"f": "txn", "key": None, "value": mops}
        elif rng.random() < 0.5:
            o = {"f": "read", "key": k, "value": None}
            outcome = "ok" if outcome == "fail" else outcome
        else:
            o = {"f": wf, "key": k, "value": rng.randrange(values)}
        o.update(process=proc[w], t0=t0, t1=t0 + d, outcome=outcome)
        # ok: effect inside the interval; info: maybe never, maybe after the end
        if outcome == "ok":
            o["effect"] = t0 + rng.random() * d
        elif outcome == "info":
            o["effect"] = t0 + rng.random() * 3 * d if rng.random() < 0.5 else None
        else:
            o["effect"] = None
        ops.append(o)
        t_free[w] = t0 + d + 1
        if outcome == "info":  # Jepsen: a crashed process is retired
            proc[w] = next_proc
            next_proc += 1
    state: dict[Any, Any] = {}
    for o in sorted((o for o in ops if o["effect"] is not None), key=lambda o: o["effect"]):
        if o["f"] == "txn":
            out = []
            for mf, kk, v in o["value"]:
                if mf == "r":
                    out.append([mf, kk, _read(state, kk, workload)])
                else:
                    _apply(state, kk, v, workload)
                    out.append([mf, kk, v])
            o["out"] = out
        elif o["f"] == "read":
            o["out"] = _read(state, o["key"], workload)
        else:
            _apply(state, o["key"], o["value"], workload)
    t_end = max(o["t1"] for o in ops) + 50
    evs: list[tuple] = []
    for n, o in enumerate(ops):
        base = {"process": o["process"], "f": o["f"]}
        if o["key"] is not None:
            base["key"] = o["key"]
        inv_v = o["value"]
        if o["f"] == "txn":
            inv_v = [[mf, kk, None if mf == "r" else v] for mf, kk, v in o["value"]]
        elif o["f"] == "read":
            inv_v = None
        evs.append((o["t0"], 0, n, {**base, "type": "invoke", "value": inv_v}))
        if o["outcome"] == "ok":
            out = o.get("out", o["value"]) if o["f"] in ("read", "txn") else o["value"]
        else:
            out = inv_v
        evs.append((o["t1"], 1, n, {**base, "type": o["outcome"], "value": out}))
    if final_reads:
        # every info write has landed or never will by now: final state = applied state
        for ki, kk in enumerate(key_names):
            for j, node in enumerate(("n1", "n2")):
                t = t_end + 4 * ki + j
                p = f"final-{node}"
                base = {"process": p, "f": "read", "node": node, "final": True}
                if kk is not None:
                    base["key"] = kk
                evs.append((t, 0, -1, {**base, "type": "invoke", "value": None}))
                evs.append((t + 0.5, 1, -1, {**base, "type": "ok",
                                                      "value": _read(state, kk, workload)}))
        # info ops whose effect falls after the final reads must not exist: they'd make
        # the final state wrong; drop their effect by construction above (3*d < 50)
    evs.sort(key=lambda e: (e[0], e[1]))
    out = []
    for i, (t, _, _, e) in enumerate(evs):
        e["index"] = i
        e["time"] = int(t * 1000)
        out.append(e)
    return out


def _read(state, k, workload):
    v = state.get(k)
    if workload == "register":
        return v
    return list(v) if v else []


def _apply(state, k, v, workload):
    if workload == "register":
        state[k] = v
    else:
        state.setdefault(k, []).append(v)


def to_edn(evs: list[dict]) -> str:
    """Jepsen EDN, no final markers, no node: the `independent` [k v] form when keyed."""
    keyed = any("key" in e for e in evs)

    def val(v):
        if v is None:
            return "nil"
        if isinstance(v, list):
            return "[" + " ".join(val(x) for x in v) + "]"
        if isinstance(v, str):
            return ":" + v if v in ("r", "w", "append") else f'"{v}"'
        return str(v)

    lines = []
    for e in evs:
        if e["process"] != e["process"] or isinstance(e["process"], str):
            p = abs(hash(e["process"])) % 1000 + 1000
        else:
            p = e["process"]
        if e["f"] == "txn":
            v = val(e["value"])
        elif keyed:
            v = f"[{val(e.get('key'))} {val(e['value'])}]"
        else:
            v = val(e["value"])
        lines.append(f"{{:process {p}, :type :{e['type']}, :f :{e['f']}, :value {v}, "
                     f":time {e['time']}, :index {e['index']}}}")
    return "[\n" + "\n".join(lines) + "\n]\n"
