"""etcd: cluster ready time and client throughput, and why the client is what it is.

    python bench/etcd_clients.py               # 5 s per figure, loopback 3-node cluster
    python bench/etcd_clients.py --smoke       # 1 s per figure
    sudo python bench/etcd_clients.py --run    # + the real runner on netns (10 clients)

Prints, for a 3-node etcd on loopback addresses (no root needed):
* ready_s: setup + start of every member until one leader serves linearizable reads;
* puts/s and ranges/s from one thread through harness/dbs/etcd/gateway.py (http.client
  on the JSON gateway) and, when the `etcd3gw` package is importable, through etcd3gw
  (requests on the same gateway), and with `grpcio` importable, raw gRPC unary calls —
  the comparison behind the client choice;
* register ops/s with 10 threads of EtcdClient (50 % reads), per read mode;
* with --run (root): etcd ready time in namespaces, and `splitbrain run --db etcd --nemesis none --rate 0` figures.
Figures only; nothing here asserts a speed. The machine is shared: load average printed.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bench/ itself comes first on sys.path when run as a script, and bench/checkers.py would
# shadow the `checkers` package: the repository root goes first instead.
sys.path[:] = [ROOT] + [p for p in sys.path
                        if os.path.abspath(p or ".") != os.path.join(ROOT, "bench")]


def _rate(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        n += 1
    return round(n / (time.perf_counter() - t0), 1)


def loopback_figures(seconds: float) -> dict:
    from splitbrain.harness import registry
    from splitbrain.harness.dbs.etcd import EtcdDB, EtcdOptions
    from tests.dbs.local_cluster import local_nodes

    out: dict = {}
    prefix = "sbt" + secrets.token_hex(3)
    registry.open_run(prefix, "local", test=True)
    tmp = Path(tempfile.mkdtemp(prefix="sb-etcd-bench-"))
    nodes, port = local_nodes(tmp, 3, prefix)
    db = EtcdDB(nodes, store_dir=str(tmp / "store"), prefix=prefix,
                opts=EtcdOptions(client_port=port, peer_port=port + 1))
    try:
        t0 = time.monotonic()
        for n in nodes:
            db.setup(n)
        for n in nodes:
            db.start(n)
        db.wait_ready(60)
        out["ready_s"] = round(time.monotonic() - t0, 3)
        node = nodes[0]
        out.update(client_figures(node.address, port, seconds))
        for mode in ("linearizable", "serializable"):
            db.opts = replace(db.opts, read_mode=mode)
            out[f"register_10_clients_{mode}_ops_per_s"] = _threads(db, nodes, 10, seconds)
    finally:
        for n in nodes:
            db.teardown(n)
        registry.forget(prefix)
    return out


def _pb_bytes(field: int, data: bytes) -> bytes:
    """One length-delimited protobuf field (enough for PutRequest / RangeRequest keys)."""
    n, out = len(data), bytearray([field << 3 | 2])
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + data


def client_figures(address: str, port: int, seconds: float, rounds: int = 5) -> dict:
    """Single-thread puts/s and ranges/s per client library, measured in interleaved slices
    (`rounds` slices of seconds/rounds each, median reported) so that a shared machine's
    load swings hit every library alike."""
    from splitbrain.harness.dbs.etcd.gateway import GatewayConnection, b64

    fns: dict = {}
    out: dict = {}
    conn = GatewayConnection(address, port)
    fns["gateway_put_per_s"] = lambda i: conn.call(
        "kv/put", {"key": b64(f"b{i % 10}"), "value": b64(str(i))})
    fns["gateway_range_per_s"] = lambda i: conn.call("kv/range", {"key": b64(f"b{i % 10}")})
    try:
        from etcd3gw.client import Etcd3Client
    except ImportError:
        out["etcd3gw"] = "not installed (pip install etcd3gw to compare)"
    else:
        c = Etcd3Client(host=address, port=port, timeout=2)
        fns["etcd3gw_put_per_s"] = lambda i: c.put(f"b{i % 10}", str(i))
        fns["etcd3gw_range_per_s"] = lambda i: c.get(f"b{i % 10}")
    try:
        import grpc
    except ImportError:
        out["grpc"] = "grpcio not installed (pip install grpcio to compare)"
    else:
        # Raw unary calls, hand-encoded PutRequest / RangeRequest, replies not decoded: the
        # best the gRPC API could do from Python.
        ch = grpc.insecure_channel(f"{address}:{port}")
        put = ch.unary_unary("/etcdserverpb.KV/Put")
        rng = ch.unary_unary("/etcdserverpb.KV/Range")
        fns["grpc_put_per_s"] = lambda i: put(_pb_bytes(1, f"b{i % 10}".encode())
                                              + _pb_bytes(2, str(i).encode()), timeout=2)
        fns["grpc_range_per_s"] = lambda i: rng(_pb_bytes(1, f"b{i % 10}".encode()), timeout=2)
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            samples[k].append(_rate(fn, seconds / rounds))
    conn.close()

    # 10 threads, 50 % puts: does the transport still matter once the store is busy?
    def gateway_mixed(i: int):
        c = GatewayConnection(address, port)
        return lambda n: (c.call("kv/put", {"key": b64(f"b{n % 10}"), "value": b64(str(n))})
                          if n % 2 else c.call("kv/range", {"key": b64(f"b{n % 10}")}))
    mixed = {"gateway_10_threads_mixed_per_s": gateway_mixed}
    if "grpc_put_per_s" in fns:
        def grpc_mixed(i: int):
            return lambda n: (put(_pb_bytes(1, f"b{n % 10}".encode())
                                  + _pb_bytes(2, str(n).encode()), timeout=2)
                              if n % 2 else rng(_pb_bytes(1, f"b{n % 10}".encode()), timeout=2))
        mixed["grpc_10_threads_mixed_per_s"] = grpc_mixed
    msamples: dict[str, list[float]] = {k: [] for k in mixed}
    for _ in range(3):  # interleaved too
        for k, make in mixed.items():
            msamples[k].append(_threads_rate(make, 10, seconds / 3))
    out.update({k: sorted(v)[1] for k, v in msamples.items()})
    out.update({k: sorted(v)[len(v) // 2] for k, v in samples.items()})
    return out


def _threads_rate(make, k: int, seconds: float) -> float:
    """Calls/s of k threads, each running make(i)(n) for n = 0, 1, … for `seconds`."""
    counts = [0] * k
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        fn, n = make(i), 0
        while time.monotonic() < stop:
            fn(n)
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=work, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return round(sum(counts) / seconds, 1)


def _threads(db, nodes, k: int, seconds: float) -> float:
    counts = [0] * k
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        c = db.client(nodes[i % len(nodes)], "register", i)
        rng = random.Random(i)
        v = i * 10_000_000
        while time.monotonic() < stop:
            v += 1
            op = ({"f": "read", "key": rng.randrange(10)} if rng.random() < 0.5 else
                  {"f": "write", "key": rng.randrange(10), "value": v})
            if c.invoke(op)["type"] == "ok":
                counts[i] += 1
        c.close()

    ts = [threading.Thread(target=work, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return round(sum(counts) / seconds, 1)


def netns_ready() -> dict:
    """Namespaces up, then setup + start of 3 members until ready (root)."""
    from splitbrain.harness.cluster.netns import NetnsCluster
    from splitbrain.harness.registry import new_run_prefix
    from splitbrain.harness.dbs.etcd import EtcdDB

    prefix = new_run_prefix()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        cluster = NetnsCluster(prefix=prefix, nodes=3, subnet=None, workdir_root=d)
        try:
            nodes = cluster.up()
            t1 = time.monotonic()
            db = EtcdDB(nodes, store_dir=d, prefix=prefix)
            try:
                for n in nodes:
                    db.setup(n)
                for n in nodes:
                    db.start(n)
                db.wait_ready(60)
                t2 = time.monotonic()
            finally:
                for n in nodes:
                    db.teardown(n)
        finally:
            cluster.down()
    return {"netns_up_s": round(t1 - t0, 3), "netns_etcd_ready_s": round(t2 - t1, 3)}


def runner_figures(seconds: float) -> list[dict]:
    from splitbrain.harness.config import build_test
    from splitbrain.harness.runner import run_test

    rows = []
    with tempfile.TemporaryDirectory() as store:
        for mode in ("linearizable", "serializable"):
            t0 = time.monotonic()
            out = run_test(build_test({"db": "etcd", "read_mode": mode, "nemesis": "none",
                                       "rate": 0, "concurrency": 10, "time_limit": seconds,
                                       "store": store, "quiesce": 0.2}))
            rows.append({"read_mode": mode, "verdict": out.valid,
                         "wall_s": round(time.monotonic() - t0, 2), **out.figures})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--smoke", action="store_true", help="1 s per figure")
    ap.add_argument("--run", action="store_true", help="also the runner on netns (root)")
    args = ap.parse_args()
    seconds = 1.0 if args.smoke else args.seconds
    print(f"load average {os.getloadavg()[0]:.2f}")
    for k, v in loopback_figures(seconds).items():
        print(f"{k:<44} {v}")
    if args.run:
        for k, v in netns_ready().items():
            print(f"{k:<44} {v}")
        for row in runner_figures(max(seconds, 2.0) * 2):
            print(" ".join(f"{k}={v}" for k, v in row.items()))
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
