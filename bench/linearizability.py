"""Linearizability checker benchmark (linearizability.md §9.3). Prints figures, asserts nothing.

    python bench/linearizability.py                 # every class, full sizes
    python bench/linearizability.py --smoke         # small sizes (the test suite runs this)
    python bench/linearizability.py --class etcd --engine python

Classes (seeded generators; check time = `check_linearizable` on a loaded History:
selection, partitioning, encoding, search and results; generation/loading excluded):
* etcd:     ~100 single-register cas histories like Jepsen's etcd test (~80 ops, <=10
            clients, values 0-4, read:write:cas 2:1:1, ~15 % timeouts as info, failed
            cas recorded as cas-mismatch); half with one corrupted read.
* wide:     one 1,700-op single-register history with 50 concurrent clients.
* knossos:  the 121 Knossos peer histories (../shared/peer-histories/knossos).
* million:  a 1,000,000-op cas-register history over independent keys (10 keys active,
            ~100 ops per key, 10 clients per key, 1 % crashed ops).
Per class: histories, ops, verdicts, min-of-N check seconds, slowest history, configs,
engine, peak RSS, CPU seconds (the machine may be shared: wall time includes waiting
for a core, CPU time counts both search threads), 1-minute load average.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bench/checkers.py would shadow the checkers package: put the repository first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [ROOT] + [p for p in sys.path if os.path.abspath(p or ".") not in (_HERE, ROOT)]

from splitbrain.harness.history import INF, History, Op  # noqa: E402

KNOSSOS = os.path.join(ROOT, "..", "shared", "peer-histories", "knossos")
if not os.path.isdir(KNOSSOS):
    KNOSSOS = "/work/shared/peer-histories/knossos"


def sim_register(rng: random.Random, n_ops: int, clients: int, values: list, p_info: float,
                 key=None, t0: float = 0.0, proc_base: int = 0, mix=(2, 1, 1),
                 dur=(1.0, 6.0), think=(0.0, 2.0), effect: float = 1.0) -> list[tuple]:
    """A linearizable cas register: each op takes effect at a random instant inside its
    interval (the first `effect` fraction of it; an info op with probability 1/2,
    possibly after it timed out). Returns
    records (t_inv, t_ret, process, f, inv_value, type, value, error, key)."""
    fs = ["read"] * mix[0] + ["write"] * mix[1] + ["cas"] * mix[2]
    free = [t0 + rng.uniform(0, think[1]) for _ in range(clients)]
    names = [proc_base + c for c in range(clients)]
    next_name = proc_base + clients
    recs = []
    for _ in range(n_ops):
        c = min(range(clients), key=free.__getitem__)
        start = free[c]
        end = start + rng.uniform(*dur)
        free[c] = end + rng.uniform(*think)
        f = rng.choice(fs)
        info = rng.random() < p_info
        eff = rng.uniform(start, start + effect * (end - start)) if not info else (
            rng.uniform(start, end + 20) if rng.random() < 0.5 else None)
        v = rng.choice(values) if f == "write" else (
            [rng.choice(values), rng.choice(values)] if f == "cas" else None)
        recs.append([start, end, names[c], f, v, "info" if info else "ok", eff])
        if info:
            names[c] = next_name
            next_name += 1
    state = None
    out = []
    for r in sorted((r for r in recs if r[6] is not None), key=lambda r: r[6]):
        f = r[3]
        if f == "write":
            state = r[4]
        elif f == "read":
            r.append(state)
        else:
            if state == r[4][0]:
                state = r[4][1]
            else:
                r.append("mismatch")
    for r in recs:
        start, end, proc, f, v, typ, eff = r[:7]
        extra = r[7] if len(r) > 7 else None
        if typ == "info":
            out.append((start, end, proc, f, v, "info", v if f != "read" else None, None, key))
        elif f == "read":
            out.append((start, end, proc, f, None, "ok", extra, None, key))
        elif f == "cas" and extra == "mismatch":
            out.append((start, end, proc, f, v, "fail", v, "cas-mismatch", key))
        else:
            out.append((start, end, proc, f, v, "ok", v, None, key))
    return out


def to_history(recs: list[tuple], source: str = "<bench>") -> History:
    """Records -> History with indices by time (no validation: the generator is exact)."""
    evs = []
    for i, r in enumerate(recs):
        evs.append((r[0], 0, i))
        evs.append((r[1], 1, i))
    evs.sort()
    inv_ix = [0] * len(recs)
    ret_ix = [0] * len(recs)
    for j, (_, k, i) in enumerate(evs):
        if k == 0:
            inv_ix[i] = j
        else:
            ret_ix[i] = j
    ops = []
    new = tuple.__new__
    for i, (start, end, proc, f, _v, typ, val, err, key) in enumerate(recs):
        info = typ == "info"
        ops.append(new(Op, (ret_ix[i], inv_ix[i], INF if info else ret_ix[i], proc, (proc, 0),
                            typ, f, key, val, None, None, inv_ix[i], INF if info else ret_ix[i],
                            ret_ix[i], err, False, None)))
    ops.sort(key=lambda o: o.inv_index)
    return History(ops=ops, source=source, events=len(evs))


def corrupt_read(rng: random.Random, recs: list[tuple], values: list) -> list[tuple]:
    reads = [i for i, r in enumerate(recs) if r[3] == "read" and r[5] == "ok"]
    if not reads:
        return recs
    i = rng.choice(reads)
    r = list(recs[i])
    r[6] = rng.choice([v for v in values if v != r[6]] or values)
    recs = list(recs)
    recs[i] = tuple(r)
    return recs


def etcd_class(n: int = 100, seed: int = 1) -> list[History]:
    rng = random.Random(seed)
    out = []
    vals = [0, 1, 2, 3, 4]
    for j in range(n):
        recs = sim_register(rng, rng.randint(70, 95), rng.randint(5, 10), vals,
                            rng.uniform(0.10, 0.20))
        if j % 2:
            recs = corrupt_read(rng, recs, vals)
        out.append(to_history(recs, f"etcd-{j}"))
    return out


def wide(n_ops: int = 1700, clients: int = 50, seed: int = 2, hard: bool = False) -> list[History]:
    """50 clients on one register, values 0-4, 2 % crashed. Default: latency 1-3, think
    0-20 (max ~30 ops open at once); hard: latency 1-5, think 0-10 (~47 open). Longer
    overlaps (latency 5-30) exceed the default budget: WGL is exponential in overlap."""
    rng = random.Random(seed)
    dur, think = ((1.0, 5.0), (0.0, 10.0)) if hard else ((1.0, 3.0), (0.0, 20.0))
    recs = sim_register(rng, n_ops, clients, list(range(5)), 0.02, dur=dur, think=think)
    return [to_history(recs, f"wide-{n_ops}x{clients}{'-hard' if hard else ''}")]


def million(n_ops: int = 1_000_000, per_key: int = 100, active: int = 10, seed: int = 3,
            stale: bool = False) -> list[History]:
    """Independent keys, `active` at a time; values unique per key (like our workloads)."""
    rng = random.Random(seed)
    recs: list[tuple] = []
    keys = n_ops // per_key
    span = 100.0  # time one key lives
    for k in range(keys):
        t0 = (k // active) * span * 0.9 + rng.uniform(0, span * 0.1)
        vals = list(range(k * 1000, k * 1000 + 30))
        kr = sim_register(rng, per_key, 10, vals, 0.01, key=k, t0=t0, proc_base=k * 100,
                          dur=(0.5, 4.0), think=(0.0, 3.0))
        if stale and k % 10 == 0:
            kr = corrupt_read(rng, kr, vals)
        recs.extend(kr)
    return [to_history(recs, f"million-{n_ops}")]


def knossos(limit: int | None = None) -> list[History]:
    from splitbrain.harness.history import read_history

    files = sorted(glob.glob(os.path.join(KNOSSOS, "**", "*.edn"), recursive=True))
    return [read_history(f) for f in files[:limit]]


PORC_NULL = -1000000


def export_porcupine(hists: list[History], path: str) -> None:
    """Histories as Porcupine etcd-model operations (its `porcupine_test.go` etcdModel:
    read/write/cas of ints, null = -1000000; a crashed op returns after every other
    event with an unknown output; failed cas = output ok false; crashed reads dropped,
    as the porcupine-etcd profile drops them) for a side-by-side run of Porcupine."""
    import json

    def num(v):
        return PORC_NULL if v is None else int(v)

    out = []
    for h in hists:
        end = max([o.inv_index for o in h.ops] + [o.ret_index for o in h.ops if o.ret_index != INF]) + 1
        ops = []
        for o in h.ops:
            unk = o.type == "info"
            if unk and o.f == "read":
                continue
            ret = end + len(ops) if unk else o.ret_index
            if o.f == "read":
                ops.append({"c": hash(o.process) & 0xFFFF, "op": 0, "a1": 0, "a2": 0, "ok": True,
                            "ex": o.value is not None, "v": num(o.value), "unk": unk,
                            "call": o.inv_index, "ret": ret})
            elif o.f == "write":
                ops.append({"c": hash(o.process) & 0xFFFF, "op": 1, "a1": num(o.value), "a2": 0,
                            "ok": True, "ex": False, "v": 0, "unk": unk, "call": o.inv_index,
                            "ret": ret})
            else:
                e, n = o.value
                ops.append({"c": hash(o.process) & 0xFFFF, "op": 2, "a1": num(e), "a2": num(n),
                            "ok": o.type == "ok", "ex": False, "v": 0, "unk": unk,
                            "call": o.inv_index, "ret": ret})
        out.append(ops)
    with open(path, "w") as fh:
        json.dump(out, fh)


def run_class(name: str, hists: list[History], repeat: int, engine: str,
              profile: str | None = None) -> dict:
    from splitbrain.checkers.linearizable import LinearizableOptions, check_linearizable

    per = []
    verdicts = {True: 0, False: 0, "unknown": 0}
    configs = 0
    eng = None
    for h in hists:
        kw = {"engine": engine, "profile": profile}
        if "multi-register" in h.source:
            kw["initial"] = {"x": 0, "y": 0}
        best = best_cpu = INF
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            r = check_linearizable(h, LinearizableOptions(**kw))
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        per.append((best, h.source, len(h.ops), best_cpu))
        verdicts[r.valid] = verdicts.get(r.valid, 0) + 1
        configs += r.stats["configs"]
        eng = r.stats["engine"]
    total = sum(p[0] for p in per)
    slow = max(per)
    return {"class": name, "histories": len(hists), "ops": sum(p[2] for p in per),
            "valid": verdicts[True], "invalid": verdicts[False], "unknown": verdicts["unknown"],
            "check_s": round(total, 4), "check_cpu_s": round(sum(p[3] for p in per), 4),
            "slowest_s": round(slow[0], 4),
            "slowest": os.path.basename(slow[1]), "configs": configs, "engine": eng,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small sizes")
    ap.add_argument("--class", dest="cls", action="append",
                    choices=["etcd", "wide", "wide-hard", "knossos", "million", "million-stale"])
    ap.add_argument("--engine", default="auto", choices=["auto", "native", "python"])
    ap.add_argument("--repeat", type=int, default=5, help="min of N runs (small classes)")
    ap.add_argument("--profile", default=None,
                    help="linearizable profile (porcupine-etcd for a side-by-side run)")
    ap.add_argument("--export-porcupine", default=None, metavar="FILE",
                    help="also write the etcd/wide classes as Porcupine operations (JSON)")
    a = ap.parse_args(argv)
    classes = a.cls or ["etcd", "wide", "wide-hard", "knossos", "million", "million-stale"]
    rows = []
    for c in classes:
        t0 = time.perf_counter()
        if c == "etcd":
            hs, rep = etcd_class(10 if a.smoke else 100), a.repeat
        elif c.startswith("wide"):
            hs, rep = wide(300 if a.smoke else 1700, 20 if a.smoke else 50,
                           hard=c.endswith("hard")), a.repeat
        elif c == "knossos":
            hs, rep = knossos(8 if a.smoke else None), (1 if a.smoke else a.repeat)
        else:
            hs, rep = million(20_000 if a.smoke else 1_000_000, stale=c.endswith("stale")), 1
        gen = time.perf_counter() - t0
        if a.export_porcupine and c in ("etcd", "wide", "wide-hard"):
            export_porcupine(hs, f"{a.export_porcupine}.{c}.json")
        row = run_class(c, hs, rep, a.engine, a.profile)
        row["generate_s"] = round(gen, 2)
        rows.append(row)
        print(f"{c:14s} histories={row['histories']:4d} ops={row['ops']:8d} "
              f"valid={row['valid']} invalid={row['invalid']} unknown={row['unknown']} "
              f"check={row['check_s']:.4f}s cpu={row['check_cpu_s']:.4f}s slowest={row['slowest_s']:.4f}s ({row['slowest']}) "
              f"configs={row['configs']} engine={row['engine']} rss={row['peak_rss_mb']}MB "
              f"(generate/load {gen:.1f}s)", flush=True)
    import json

    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
