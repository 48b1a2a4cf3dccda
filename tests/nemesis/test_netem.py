"""PacketNemesis inside real namespaces: effects measured between nodes."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from splitbrain.nemesis.netem import PacketNemesis, netem_args
from tests.nemesis.conftest import PORT, redis_db

# Runs inside a node: median RTT (ms) of PINGs to host:port, or "fail" if unreachable.
RTT = ("import socket, statistics, sys, time\n"
       "host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
       "try:\n"
       "    s = socket.create_connection((host, port), timeout=float(sys.argv[4]))\n"
       "except OSError:\n"
       "    print('fail'); sys.exit()\n"
       "rtts = []\n"
       "for _ in range(n):\n"
       "    t = time.monotonic(); s.sendall(b'PING\\r\\n'); s.recv(64)\n"
       "    rtts.append((time.monotonic() - t) * 1000)\n"
       "print(statistics.median(rtts))\n")
# Runs inside a node: seconds to SET a value of argv[3] bytes on host:port.
BULK = ("import socket, sys, time\n"
        "host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
        "s = socket.create_connection((host, port), timeout=20)\n"
        "v = b'x' * size\n"
        "t = time.monotonic()\n"
        "s.sendall(b'*3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\nk\\r\\n$%d\\r\\n%s\\r\\n' % (size, v))\n"
        "s.recv(64)\n"
        "print(time.monotonic() - t)\n")


def rtt_ms(src, dst, n=10, connect_timeout=1.0):
    out = src.remote.exec([sys.executable, "-c", RTT, dst.address, str(PORT), str(n),
                           str(connect_timeout)], timeout=30).stdout.strip()
    return None if out == "fail" else float(out)


def leftovers(node, prefix) -> list[str]:
    qd = node.remote.exec(["tc", "qdisc", "show", "dev", node.iface]).stdout
    bad = [l for l in qd.splitlines() if any(k in l for k in ("prio 1:", "htb 1:", "netem"))]
    for table in ("filter", "mangle"):
        rules = node.remote.exec(["iptables", "-t", table, "-S"]).stdout
        bad += [l for l in rules.splitlines() if f"{prefix}-pkt" in l]
    return bad


def has_netem() -> bool:
    """Whether this kernel offers sch_netem (some VM kernels do not)."""
    ns = "sbnetemprobe"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        return subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo",
                               "root", "netem", "delay", "1ms"],
                              capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


@pytest.fixture
def redis_nodes(netns_nodes, tmp_path):
    prefix, nodes = netns_nodes
    db = redis_db(nodes, prefix, tmp_path)
    try:
        for n in nodes:
            db.setup(n)
            db.start(n)
        db.wait_ready(30)
        yield prefix, nodes
    finally:
        for n in nodes:
            db.teardown(n)


def test_netem_args():
    assert netem_args({"delay": {"time_ms": 100, "jitter_ms": 10}}) == \
        ["delay", "100ms", "10ms", "distribution", "normal"]
    assert netem_args({"loss": {"percent": 20}, "rate": {"mbit": 1}}) == \
        ["loss", "20%", "rate", "1mbit"]
    assert netem_args({"reorder": {"percent": 20}})[:2] == ["delay", "10ms"]
    with pytest.raises(ValueError):
        netem_args({"teleport": {}})


@pytest.mark.root
@pytest.mark.redis
def test_latency_raises_rtt_by_requested_delay(redis_nodes):
    """Through netem where the kernel has it, else through the nfqueue engine (auto)."""
    prefix, (n1, n2, n3) = redis_nodes
    pkt = PacketNemesis([n1, n2, n3], random.Random(0), prefix=prefix)
    try:
        base = rtt_ms(n1, n2)
        done = pkt.invoke({"f": "start-packet", "value": {
            "targets": ["n1"], "peers": ["n2"], "behaviours": {"delay": {"time_ms": 100}}}})
        assert "error" not in done, done
        assert done["value"]["nodes"]["n1"]["backend"] == ("netem" if has_netem() else "nfqueue")
        slow = rtt_ms(n1, n2)
        assert 95 < slow - base < 130, (base, slow)
        assert rtt_ms(n1, n3) < base + 20  # only toward the chosen peer
        pkt.invoke({"f": "stop-packet"})
        assert rtt_ms(n1, n2) < base + 20
    finally:
        pkt.teardown()
    assert all(leftovers(n, prefix) == [] for n in (n1, n2, n3))


@pytest.mark.root
@pytest.mark.redis
def test_full_loss_toward_one_peer_then_heal(redis_nodes):
    prefix, (n1, n2, n3) = redis_nodes
    pkt = PacketNemesis([n1, n2, n3], random.Random(0), prefix=prefix)
    try:
        assert rtt_ms(n1, n2) is not None
        done = pkt.invoke({"f": "start-packet", "value": {
            "targets": ["n1"], "peers": ["n2"], "behaviours": {"loss": {"percent": 100}}}})
        assert "error" not in done, done
        assert pkt.active()
        assert rtt_ms(n1, n2, connect_timeout=0.5) is None  # SYNs from n1 to n2 are lost
        assert rtt_ms(n1, n3) is not None
        assert rtt_ms(n2, n3) is not None
        pkt.invoke({"f": "stop-packet"})
        assert rtt_ms(n1, n2) is not None
        assert pkt.active() == []
    finally:
        pkt.teardown()
    assert all(leftovers(n, prefix) == [] for n in (n1, n2, n3))


@pytest.mark.root
@pytest.mark.redis
def test_rate_limit_slows_bulk_transfer(redis_nodes):
    prefix, (n1, n2, n3) = redis_nodes
    pkt = PacketNemesis([n1, n2, n3], random.Random(0), prefix=prefix)
    size = 128 * 1024  # 1 Mbit: ~1 s at 1 mbit/s

    def bulk(src, dst):
        return float(src.remote.exec([sys.executable, "-c", BULK, dst.address, str(PORT),
                                      str(size)], timeout=30).stdout)
    try:
        fast = bulk(n1, n2)
        done = pkt.invoke({"f": "start-packet", "value": {
            "targets": ["n1"], "peers": ["n2"], "behaviours": {"rate": {"mbit": 1}}}})
        assert "error" not in done, done
        slow = bulk(n1, n2)
        assert slow > 0.8 and slow > 5 * fast, (fast, slow)
    finally:
        pkt.teardown()
    assert all(leftovers(n, prefix) == [] for n in (n1, n2, n3))


@pytest.mark.root
def test_netem_engine_without_netem_delay_is_a_recorded_error(netns_nodes):
    if has_netem():
        pytest.skip("kernel has netem: the fallback path is not taken")
    prefix, nodes = netns_nodes
    pkt = PacketNemesis(nodes, random.Random(0), prefix=prefix, engine="netem")
    try:
        done = pkt.invoke({"f": "start-packet", "value": {
            "targets": ["n1"], "behaviours": {"delay": {"time_ms": 50}}}})
        assert done["type"] == "info" and "sch_netem" in done["error"]
        assert pkt.active() == []
    finally:
        pkt.teardown()
    assert all(leftovers(n, prefix) == [] for n in nodes)
