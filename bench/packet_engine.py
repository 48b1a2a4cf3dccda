"""What the nfqueue packet engine costs per packet (the scheduler is in the fault's path).

    python bench/packet_engine.py            # 300 RTT probes, 20 MB TCP transfer
    python bench/packet_engine.py --smoke    # 30 probes, 2 MB
    python bench/packet_engine.py --python /tmp/venv/bin/python   # + NetfilterQueue (Python)

Two namespaces (NetnsCluster); measures round trips (TCP connect to a closed port) and a
bulk TCP transfer n1→n2, first with no fault, then with every packet n1→n2 going through
sbnfq with nothing to do (loss 0 %), then with a 10 ms delay. Prints p50/p99 RTT in ms,
MB/s and the scheduler's counters; asserts nothing (the machine is shared: load shown).
With --python PY (an interpreter with the `netfilterqueue` package), also the same
pass-through with a Python NetfilterQueue callback in place of sbnfq, for comparison.
Needs root and gcc.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from splitbrain.harness.cluster.netns import NetnsCluster  # noqa: E402
from splitbrain.nemesis.netem import PacketNemesis  # noqa: E402
from splitbrain.nemesis.rtt import rtt  # noqa: E402

PORT = 7419
RECV = ("import socket, sys\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1); print('ready', flush=True)\n"
        "c, _ = s.accept(); n = 0\n"
        "while True:\n"
        "    b = c.recv(1 << 16)\n"
        "    if not b: break\n"
        "    n += len(b)\n"
        "print(n)\n")
SEND = ("import socket, sys, time\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "buf = b'x' * (1 << 16); left = int(sys.argv[3]); t = time.monotonic()\n"
        "while left > 0:\n"
        "    s.sendall(buf[:left]); left -= len(buf)\n"
        "s.shutdown(socket.SHUT_WR); s.recv(1); print(time.monotonic() - t)\n")


def bulk(n1, n2, size: int) -> float:
    recv = subprocess.Popen(["ip", "netns", "exec", n2.meta["netns"], sys.executable, "-c", RECV,
                             str(PORT)], stdout=subprocess.PIPE, text=True)
    try:
        recv.stdout.readline()
        secs = float(n1.remote.exec([sys.executable, "-c", SEND, n2.address, str(PORT),
                                     str(size)], timeout=300).stdout)
        recv.communicate(timeout=60)
        return size / secs / 1e6
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait()


PY_PASS = ("from netfilterqueue import NetfilterQueue\n"
           "import sys\n"
           "q = NetfilterQueue(); q.bind(int(sys.argv[1]), lambda p: p.accept())\n"
           "print('ready', flush=True)\n"
           "q.run()\n")


def python_pass_through(n1, n2, py: str, probes: int, size: int) -> str:
    ns, q = n2.meta["netns"], 29999
    rule = ["-s", f"{n1.address}/32", "-j", "NFQUEUE", "--queue-num", str(q), "--queue-bypass"]
    proc = subprocess.Popen(["ip", "netns", "exec", ns, py, "-c", PY_PASS, str(q)],
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        n2.remote.exec(["iptables", "-t", "mangle", "-I", "PREROUTING", *rule])
        r = rtt(n1, n2, count=probes, timeout=2)
        mbs = bulk(n1, n2, size)
        return (f"{'python, pass-through':22s} rtt p50 {r['p50_ms']:.3f} ms  "
                f"p99 {r['p99_ms']:.3f} ms  tcp {mbs:8.1f} MB/s")
    finally:
        n2.remote.exec(["iptables", "-t", "mangle", "-D", "PREROUTING", *rule], check=False)
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--python", help="an interpreter that has netfilterqueue installed")
    args = ap.parse_args()
    probes, size = (30, 2_000_000) if args.smoke else (300, 20_000_000)
    with tempfile.TemporaryDirectory(prefix="sbbench-") as tmp:
        cluster = NetnsCluster(nodes=2, subnet=None, workdir_root=tmp)
        try:
            n1, n2 = cluster.up()
            p = PacketNemesis([n1, n2], random.Random(1), prefix=cluster.prefix,
                              engine="nfqueue", measure=False)
            print(f"load average {os.getloadavg()[0]:.2f}; {probes} probes, {size / 1e6:g} MB")
            for label, beh in (("no fault", None), ("sbnfq, pass-through", {"loss": {"percent": 0}}),
                               ("sbnfq, delay 10 ms", {"delay": {"time_ms": 10}})):
                if beh:
                    p.invoke({"f": "start-packet", "value": {"targets": ["n1"], "peers": ["n2"],
                                                             "behaviours": beh}})
                r = rtt(n1, n2, count=probes, timeout=2)
                mbs = bulk(n1, n2, size)
                counters = p.invoke({"f": "stop-packet"})["value"].get("counters", {}).get("n1->n2")
                print(f"{label:22s} rtt p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
                      f"tcp {mbs:8.1f} MB/s  {json.dumps(counters) if counters else ''}")
                time.sleep(0.2)
            p.teardown()
            if args.python:
                print(python_pass_through(n1, n2, args.python, probes, size))
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
