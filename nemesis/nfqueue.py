"""Packet engine `nfqueue`: delay, jitter, reordering, duplication, corruption and loss
without sch_netem, through iptables NFQUEUE and userspace schedulers in the nodes.

A fault on traffic from target T to peer P is applied where the packets *arrive*: in P's
namespace, `sbnfq` (nemesis/sbnfq.c, compiled on first use, statically linked, speaking
nfnetlink_queue directly) is bound to a queue of its own for T, and the run's chain
`<prefix>-nfq` in P's mangle table (jumped to from PREROUTING) gets

    -A <prefix>-nfq -s <T>/32 -i <P.iface> -m mark ! --mark 0x5b0b -j NFQUEUE --queue-num Q --queue-bypass

Why the receiving side: a packet held on the sender's egress still counts against its
socket's TCP Small Queues budget (netem orphans its skbs for this reason; a queue verdict
cannot), so a 10 ms delay there throttled a bulk transfer to 0.5 MB/s; once a packet has
crossed the veth it is orphaned and holding it costs the sender nothing.
Duplicates are re-injected by the scheduler through a raw socket with mark 0x5b0b (local
delivery; the mark keeps them out of the queue). `--queue-bypass` and the queue's
FAIL_OPEN let traffic pass rather than vanish should a scheduler be gone or its queue full.

    eng = NfqueueEngine(prefix="sb1a2b")
    eng.apply(n1, [n2, n3], {"delay": {"time_ms": 50, "jitter_ms": 10}}, seed=7)
    eng.counters(n1)      # {"n1->n2": {"seen": 812, "delayed": 812, ...}, "n1->n3": {...}}
    eng.clear(n1)         # rules first, then the schedulers (which release held packets)

Why C and not Python (NetfilterQueue) or Rust: the scheduler holds packets and releases
them on time, so its own latency is part of the fault; a C loop with ppoll and a heap adds
~10 µs per packet (bench/packet_engine.py); a Python callback per packet costs more and
jitters with the GIL on a loaded 2-core machine; C needs only gcc (already needed by the
clock shim), Rust would add a cargo build and crates to a fresh CI machine.

Obligations: each scheduler is spawned through harness.dbs.daemons (its pid recorded in
the run registry, stopped only by that pid); rules live only in the run's chain; `clear`
is idempotent and tolerant of absence; nothing here touches the controller's own tables.
"""

from __future__ import annotations

import json
import os
import time
import zlib

from splitbrain.harness.control.base import RemoteError
from splitbrain.harness.dbs import daemons

MARK = 0x5B0B
DISTRIBUTIONS = ("uniform", "normal", "pareto")
ENGINES = ("auto", "netem", "nfqueue")
# Reordering skips the delay for some packets; without a delay there is nothing to
# overtake, so (like netem_args) reorder alone implies this delay.
REORDER_DELAY_MS = 10


def queue_number(prefix: str) -> int:
    """A stable queue number per run (queues are per network namespace; this keeps two
    runs that might share a node from binding the same one)."""
    return 20000 + zlib.crc32(prefix.encode()) % 40000


def scheduler_args(behaviours: dict, seed: int) -> list[str]:
    """sbnfq's key=value arguments for `behaviours` (pure; ValueError on bad values)."""
    args = [f"seed={int(seed) & 0xFFFFFFFFFFFF}", f"mark={MARK}"]
    d = behaviours.get("delay")
    if d is None and "reorder" in behaviours:
        d = {"time_ms": REORDER_DELAY_MS}
    if d is not None:
        dist = d.get("distribution", "normal")
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"delay distribution {dist!r}: allowed: {', '.join(DISTRIBUTIONS)}")
        args += [f"delay_us={round(float(d['time_ms']) * 1000)}",
                 f"jitter_us={round(float(d.get('jitter_ms', 0)) * 1000)}",
                 f"dist={dist}", f"corr={_frac(d.get('correlation', 0), 'delay.correlation', 0.99)}"]
    for name, key in (("loss", "loss"), ("duplicate", "dup"), ("corrupt", "corrupt")):
        if name in behaviours:
            args.append(f"{key}={_frac(behaviours[name]['percent'], name + '.percent')}")
    if "reorder" in behaviours:
        r = behaviours["reorder"]
        args += [f"reorder={_frac(r['percent'], 'reorder.percent')}",
                 f"reorder_corr={_frac(r.get('correlation', 0), 'reorder.correlation', 0.99)}"]
    return args


def _frac(percent, what: str, top: float = 1.0) -> float:
    p = float(percent) / 100
    if not 0 <= p <= 1:
        raise ValueError(f"packet {what} {percent!r}: allowed 0 to 100")
    return round(min(p, top), 6)


def scheduler_binary() -> str:
    from splitbrain.nemesis.native import build_program

    return build_program("sbnfq.c", libs=("-lm",), static=True)


class NfqueueEngine:
    """Installs and removes the nfqueue packet faults (see module docstring)."""

    name = "nfqueue"

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.chain = f"{prefix}-nfq"
        self.base_queue = queue_number(prefix)
        self._queues: dict[str, int] = {}          # target name -> its queue number
        # (target, peer) -> what runs on the peer for it
        self._pairs: dict[tuple[str, str], dict] = {}
        self._last: dict[tuple[str, str], dict] = {}
        self._bin: str | None = None

    def _ipt(self, node, *args: str, check: bool = True):
        return node.remote.exec(["iptables", "-w", "5", "-t", "mangle", *args], timeout=15,
                                check=check)

    def queue_for(self, target) -> int:
        return self._queues.setdefault(target.name, self.base_queue + len(self._queues))

    def apply(self, target, peers, behaviours: dict, seed: int) -> dict:
        """Start a scheduler for `target`'s traffic on each peer, then steer it there."""
        args = scheduler_args(behaviours, seed)
        if self._bin is None:
            self._bin = scheduler_binary()
        from splitbrain.nemesis.native import install_on

        q = self.queue_for(target)
        for i, peer in enumerate(peers):
            key = (target.name, peer.name)
            exe = install_on(peer, self._bin)
            base = os.path.join(peer.workdir, f"{self.prefix}-nfq-{target.name}-to-{peer.name}")
            stats, log = base + ".json", base + ".log"
            peer.remote.exec(["rm", "-f", stats], timeout=10, check=False)
            pair_args = [a if not a.startswith("seed=") else f"seed={(seed + i) & 0xFFFFFFFFFFFF}"
                         for a in args]
            argv = [exe, str(q), stats, *pair_args]
            if hasattr(peer.remote, "netns"):  # shares our pid namespace: exit with us
                argv.append(f"owner={os.getpid()}")
            d = daemons.spawn(peer, argv, prefix=self.prefix,
                              what=f"sbnfq packet scheduler {target.name}->{peer.name}",
                              log_path=log)
            self._pairs[key] = {"daemon": d, "stats": stats, "peer": peer, "rule": None}
            deadline = time.monotonic() + 5
            while not self._read(peer, stats):
                if not daemons.alive(peer, d) or time.monotonic() > deadline:
                    why = daemons.tail(peer, log) or "no output"
                    self._stop_pair(key)
                    raise RuntimeError(f"packet scheduler on {peer.name} did not start: {why}")
                time.sleep(0.02)
            self._ipt(peer, "-N", self.chain, check=False)
            if self._ipt(peer, "-C", "PREROUTING", "-j", self.chain, check=False).exit_code:
                self._ipt(peer, "-I", "PREROUTING", "-j", self.chain)
            rule = ["-s", f"{target.address}/32", "-i", peer.iface, "-m", "mark", "!",
                    "--mark", str(MARK), "-j", "NFQUEUE", "--queue-num", str(q),
                    "--queue-bypass"]
            self._pairs[key]["rule"] = rule
            self._ipt(peer, "-A", self.chain, *rule)
        return {"queue": q, "args": args}

    def counters(self, target) -> dict:
        out = {}
        for (t, p), pair in self._pairs.items():
            if t == target.name:
                got = self._read(pair["peer"], pair["stats"])
                if got:
                    out[f"{t}->{p}"] = got
        return out

    def clear(self, target) -> dict:
        """Remove `target`'s rules from every peer, then stop those schedulers by pid.
        Returns the schedulers' final counters keyed "target->peer"."""
        finals = {}
        for key in [k for k in self._pairs if k[0] == target.name]:
            got = self._stop_pair(key)
            if got:
                finals[f"{key[0]}->{key[1]}"] = got
        return finals

    def _stop_pair(self, key) -> dict | None:
        pair = self._pairs.pop(key, None)
        if pair is None:
            return None
        peer = pair["peer"]
        if pair["rule"]:
            self._ipt(peer, "-D", self.chain, *pair["rule"], check=False)
        if not any(k[1] == key[1] for k in self._pairs):
            self.drop_chain(peer)
        d = pair["daemon"]
        daemons.stop(peer, d, grace=3.0)  # TERM: it releases what it holds, then exits
        daemons.unregister(self.prefix, d)
        final = self._read(peer, pair["stats"])
        if final:
            self._last[key] = final
        return final

    def drop_chain(self, node) -> None:
        """Remove the run's chain (and its jump) from `node`; for teardown."""
        listing = self._ipt(node, "-S", check=False).stdout
        if f"-N {self.chain}" not in listing.splitlines():
            return
        for _ in range(10):  # bounded: one jump per apply
            if self._ipt(node, "-D", "PREROUTING", "-j", self.chain, check=False).exit_code:
                break
        self._ipt(node, "-F", self.chain, check=False)
        self._ipt(node, "-X", self.chain, check=False)

    @staticmethod
    def _read(node, path: str | None) -> dict | None:
        if not path:
            return None
        try:
            out = node.remote.exec(["cat", path], timeout=10, check=False)
        except RemoteError:
            return None
        if out.exit_code != 0:
            return None
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None
