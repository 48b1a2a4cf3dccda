"""Transactions checker benchmark (transactions.md §9): a seeded strict-serializable
list-append history of N txns (1-5 micro-ops, 10 active keys with rotation, concurrency 10,
final reads of every key) written as JSONL, then checked as strict-serializable in a fresh
subprocess so peak RSS is the checker's own.

    python bench/transactions.py --txns 1000000
    python bench/transactions.py --smoke             # 10k txns
    python bench/transactions.py --txns 200000 --networkx   # also time networkx SCC

Prints the load time, each checker phase (`stats.seconds`), edges per label, SCC figures,
CPU seconds, peak RSS and the load average. Asserts nothing about time (architecture §2).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# first, ahead of bench/ itself (bench/checkers.py would shadow the checkers package)
sys.path.insert(0, ROOT)


def generate(n: int, path: str, seed: int = 1, concurrency: int = 10) -> int:
    """A strict store: each txn is applied atomically at its completion (inside its
    interval). Returns the number of events written."""
    import orjson

    rnd = random.Random(seed)
    dumps = orjson.dumps
    state: dict[int, list] = {}
    budget: dict[int, int] = {}
    active = list(range(10))
    next_key = 10
    for k in active:
        budget[k] = rnd.randint(1, 80)
    touched: set[int] = set()
    idx = 0
    t = 0
    inflight: dict[int, list] = {}
    _next_value: dict = {}
    started = 0
    with open(path, "wb") as fh:
        def emit(ev):
            nonlocal idx, t
            t += 1000
            ev["index"] = idx
            ev["time"] = t
            idx += 1
            fh.write(dumps(ev))
            fh.write(b"\n")

        def new_txn(p):
            nonlocal started, next_key
            mops = []
            for _ in range(rnd.randint(1, 5)):
                slot = min(int(rnd.expovariate(0.5)), 9)
                k = active[slot]
                if rnd.random() < 0.5:
                    mops.append(["r", k, None])
                else:
                    mops.append(["append", k, None])
                    budget[k] -= 1
                    if budget[k] <= 0:
                        active[slot] = next_key
                        budget[next_key] = rnd.randint(1, 80)
                        next_key += 1
            # values unique per key: the key's append count so far, fixed at invocation
            for m in mops:
                if m[0] == "append":
                    m[2] = _next_value[m[1]] = _next_value.get(m[1], 0) + 1
            inflight[p] = mops
            started += 1
            emit({"process": p, "type": "invoke", "f": "txn", "value": mops})

        for p in range(concurrency):
            if started < n:
                new_txn(p)
        while inflight:
            p = rnd.choice(list(inflight))
            mops = inflight.pop(p)
            out = []
            for f, k, v in mops:
                touched.add(k)
                if f == "r":
                    out.append(["r", k, list(state.get(k, ()))])
                else:
                    state.setdefault(k, []).append(v)
                    out.append([f, k, v])
            emit({"process": p, "type": "ok", "f": "txn", "value": out})
            if started < n:
                new_txn(p)
        keys = sorted(touched)
        for i in range(0, len(keys), 8):
            group = keys[i:i + 8]
            emit({"process": 0, "type": "invoke", "f": "txn", "final": True,
                  "value": [["r", k, None] for k in group]})
            emit({"process": 0, "type": "ok", "f": "txn", "final": True,
                  "value": [["r", k, list(state.get(k, ()))] for k in group]})
    return idx


def _child(path: str, use_networkx: bool) -> dict:
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.checkers.transactions import check
    from splitbrain.checkers.versions import gc_paused
    from splitbrain.harness.history import read_history

    t0, c0 = time.perf_counter(), time.process_time()
    with gc_paused():
        h = read_history(path)
    load, cpu_load = time.perf_counter() - t0, time.process_time() - c0
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t1, c1 = time.perf_counter(), time.process_time()
    with gc_paused():
        r = check(h, CheckOptions(consistency_models=("strict-serializable",)))["transactions"]
    wall, cpu_check = time.perf_counter() - t1, time.process_time() - c1
    out = {"load_s": round(load, 2), "check_s": round(wall, 2), "valid": r.valid,
           "load_cpu_s": round(cpu_load, 2), "check_cpu_s": round(cpu_check, 2),
           "anomaly_types": r.details.get("anomaly_types"), "stats": r.stats,
           "rss_after_load_mb": round(rss_load), "cpu_s": round(time.process_time(), 2),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if use_networkx:
        out["networkx"] = _networkx_scc(h)
    return out


def _networkx_scc(h) -> dict:
    """The same ww/wr/rw + order edges as a networkx DiGraph, and its SCC pass."""
    import networkx as nx

    from splitbrain.checkers.transactions.graph import add_realtime_edges
    from splitbrain.checkers.transactions.list_append import ListAppend
    from splitbrain.checkers.transactions.txn import Txns

    t = Txns(h)
    inf = ListAppend(t).run()
    add_realtime_edges(inf.edges, t.vertices, t.ok)
    e = inf.edges
    c0 = time.process_time()
    ours = list(zip(e.src, e.dst))  # keep the same edges for networkx
    e.freeze()
    e.sccs(0xFF)
    ours_cpu = time.process_time() - c0
    c0 = time.process_time()
    g = nx.DiGraph()
    g.add_nodes_from(range(e.n))
    g.add_edges_from(ours)
    build = time.process_time() - c0
    c1 = time.process_time()
    n = sum(1 for c in nx.strongly_connected_components(g) if len(c) > 1)
    scc = time.process_time() - c1
    return {"edges": g.number_of_edges(), "build_s": round(build, 2), "scc_s": round(scc, 2),
            "csr_tarjan_cpu_s": round(ours_cpu, 2),
            "nontrivial_sccs": n,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txns", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="10,000 txns")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--networkx", action="store_true", help="also time networkx's SCC")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.networkx)))
        return
    n = 10_000 if args.smoke else args.txns
    with tempfile.TemporaryDirectory(prefix="sb-bench-txn-") as d:
        path = os.path.join(d, "history.jsonl")
        t0 = time.perf_counter()
        events = generate(n, path, args.seed)
        gen = time.perf_counter() - t0
        size = os.path.getsize(path) / 1e6
        cmd = [sys.executable, os.path.abspath(__file__), "--child", path]
        if args.networkx:
            cmd.append("--networkx")
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            raise SystemExit(p.returncode)
        res = json.loads(p.stdout.strip().splitlines()[-1])
    load1 = os.getloadavg()[0]
    print(f"txns {n:,}  events {events:,}  jsonl {size:.0f} MB  generated in {gen:.1f} s")
    print(f"load (parse + pair)      {res['load_s']:>7.2f} s   cpu {res['load_cpu_s']} s   "
          f"RSS after load {res['rss_after_load_mb']} MB")
    for k, v in res["stats"]["seconds"].items():
        print(f"  check.{k:<18} {v:>7.2f} s")
    print(f"check                    {res['check_s']:>7.2f} s   cpu {res['check_cpu_s']} s")
    total = res["load_s"] + res["check_s"]
    print(f"load + check             {total:>7.2f} s   ({n / total:,.0f} txns/s)   "
          f"cpu {res['cpu_s']} s   peak RSS {res['peak_rss_mb']} MB   load avg {load1:.2f}")
    print(f"verdict {res['valid']}  anomaly types {res['anomaly_types']}")
    st = res["stats"]
    print(f"edges {st['edges']}  sccs {st['sccs']}  largest {st['largest_scc']}  "
          f"inference engine {st.get('engine')} (SPLITBRAIN_TXN_ENGINE=python for the "
          "pure-Python reference)")
    if "networkx" in res:
        nxr = res["networkx"]
        print(f"networkx: DiGraph of {nxr['edges']:,} edges built in {nxr['build_s']} s cpu, "
              f"strongly_connected_components {nxr['scc_s']} s cpu, peak RSS "
              f"{nxr['peak_rss_mb']} MB; the CSR + iterative Tarjan used instead: "
              f"{nxr['csr_tarjan_cpu_s']} s cpu for both")
    if args.json:
        print(json.dumps(dict(res, txns=n, events=events)))


if __name__ == "__main__":
    main()
