"""Packet engine `nfqueue`: delay, jitter, reordering, duplication, corruption and loss
without sch_netem, through iptables NFQUEUE and a userspace scheduler per node.

On each target node (inside its namespace) the engine starts `sbnfq` (nemesis/sbnfq.c,
compiled on first use, statically linked, speaking nfnetlink_queue directly) bound to
one queue, then adds to the run's own chain `<prefix>-nfq` (jumped to from OUTPUT) one
rule per chosen peer:

    -A <prefix>-nfq -d <peer>/32 -m mark ! --mark 0x5b0b -j NFQUEUE --queue-num Q --queue-bypass

so only traffic from the target to those peers passes through the scheduler. Duplicates
are re-sent by the scheduler with mark 0x5b0b and therefore not queued twice;
`--queue-bypass` (and the queue's FAIL_OPEN) let traffic pass rather than vanish should
the scheduler be gone or its queue full.

    eng = NfqueueEngine(prefix="sb1a2b")
    eng.apply(node, peers, {"delay": {"time_ms": 50, "jitter_ms": 10}}, seed=7)
    eng.counters(node)    # {"seen": 812, "delayed": 812, "duplicated": 0, ...}
    eng.clear(node)       # rules first, then the scheduler (which releases held packets)

Why C and not Python (NetfilterQueue) or Rust: the scheduler holds packets and releases
them on time, so its own latency is part of the fault; a C loop with ppoll and a heap adds
~10-30 µs per packet (bench/packet_engine.py), a Python callback adds far more and jitters with
the GIL on a loaded 2-core machine; C needs only gcc (already required by the clock shim),
Rust would add a cargo build and crates to a fresh CI machine.

Obligations: the scheduler is spawned through harness.dbs.daemons (its pid recorded in the
run registry, stopped only by that pid); rules live only in the run's chain; `clear` is
idempotent and tolerant of absence; nothing here touches the controller's own tables.
"""

from __future__ import annotations

import json
import os
import time
import zlib

from harness.control.base import RemoteError
from harness.dbs import daemons

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
    from nemesis.native import build_program

    return build_program("sbnfq.c", libs=("-lm",), static=True)


class NfqueueEngine:
    """Installs and removes the nfqueue packet faults on nodes (see module docstring)."""

    name = "nfqueue"

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.chain = f"{prefix}-nfq"
        self.queue = queue_number(prefix)
        self._daemons: dict[str, daemons.Daemon] = {}
        self._stats_path: dict[str, str] = {}
        self._last: dict[str, dict] = {}
        self._bin: str | None = None

    def _ipt(self, node, *args: str, check: bool = True):
        return node.remote.exec(["iptables", "-w", "5", *args], timeout=15, check=check)

    def apply(self, node, peers, behaviours: dict, seed: int) -> dict:
        """Start the scheduler on `node`, then steer its traffic to `peers` into it."""
        args = scheduler_args(behaviours, seed)
        if self._bin is None:
            self._bin = scheduler_binary()
        from nemesis.native import install_on

        exe = install_on(node, self._bin)
        stats = os.path.join(node.workdir, f"{self.prefix}-nfq-{node.name}.json")
        node.remote.exec(["rm", "-f", stats], timeout=10, check=False)
        log = os.path.join(node.workdir, f"{self.prefix}-nfq-{node.name}.log")
        argv = [exe, str(self.queue), stats, *args, f"owner={os.getpid()}"] \
            if hasattr(node.remote, "netns") else [exe, str(self.queue), stats, *args]
        d = daemons.spawn(node, argv, prefix=self.prefix, what="sbnfq packet scheduler",
                          log_path=log)
        self._daemons[node.name] = d
        self._stats_path[node.name] = stats
        deadline = time.monotonic() + 5
        while not self._read(node, stats):
            if not daemons.alive(node, d) or time.monotonic() > deadline:
                why = daemons.tail(node, log) or "no output"
                self._stop_scheduler(node)
                raise RuntimeError(f"packet scheduler did not start: {why}")
            time.sleep(0.02)
        self._ipt(node, "-N", self.chain, check=False)
        self._ipt(node, "-F", self.chain)
        if self._ipt(node, "-C", "OUTPUT", "-j", self.chain, check=False).exit_code != 0:
            self._ipt(node, "-I", "OUTPUT", "-j", self.chain)
        for p in peers:
            self._ipt(node, "-A", self.chain, "-d", f"{p.address}/32", "-m", "mark", "!",
                      "--mark", str(MARK), "-j", "NFQUEUE", "--queue-num", str(self.queue),
                      "--queue-bypass")
        return {"queue": self.queue, "pid": d.pid, "args": args}

    def counters(self, node) -> dict | None:
        path = self._stats_path.get(node.name)
        got = self._read(node, path) if path else None
        return got or self._last.get(node.name)

    def clear(self, node) -> dict | None:
        """Remove the jump, the rules and the chain, then stop the scheduler by pid.
        Returns the scheduler's final counters (None if it was not running)."""
        listing = self._ipt(node, "-S", check=False).stdout
        if f"-N {self.chain}" in listing.splitlines():
            for _ in range(10):  # bounded: one jump per apply
                if self._ipt(node, "-D", "OUTPUT", "-j", self.chain, check=False).exit_code:
                    break
            self._ipt(node, "-F", self.chain, check=False)
            self._ipt(node, "-X", self.chain, check=False)
        return self._stop_scheduler(node)

    def _stop_scheduler(self, node) -> dict | None:
        d = self._daemons.pop(node.name, None)
        if d is None:
            return None
        daemons.stop(node, d, grace=3.0)
        daemons.unregister(self.prefix, d)
        path = self._stats_path.get(node.name)
        final = self._read(node, path) if path else None
        if final:
            self._last[node.name] = final
        return final

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
