"""Packet faults: latency (with jitter), loss, duplication, reordering, corruption and
rate limits on chosen nodes toward chosen peers, applied inside each node.

Like Jepsen's net.clj: a `prio` root qdisc whose extra band 4 holds a `netem`, and u32
`match ip dst <peer>` filters that steer only traffic to the chosen peers into it; all
other traffic keeps its normal path.

    pkt = PacketNemesis(nodes, rng, prefix="sb1a2b")
    pkt.invoke({"f": "start-packet", "value": {"targets": ["n1"], "peers": ["n2"],
                "behaviours": {"delay": {"time_ms": 100, "jitter_ms": 10}}}})
    pkt.invoke({"f": "stop-packet"})

Packet engines (`engine`, i.e. `--packet-engine`): `auto` (default) uses netem where the
kernel has it and otherwise the `nfqueue` engine (nemesis/nfqueue.py: iptables NFQUEUE to
a userspace scheduler in the node) for delay/loss/duplicate/reorder/corrupt, with rate
limits in an htb class; `nfqueue` always uses that engine; `netem` never does, and on
kernels without sch_netem/sch_prio falls back to iptables `statistic` DROP / TEE in a
chain `<prefix>-pkt` for loss and duplication (delay, reorder and corrupt then fail with
an `error` naming the missing qdisc; the run goes on). The completion's value says which
`backend` was used, and (unless `measure` is off) carries `rtt`: p50/p99 round trips from
each target to each peer before and during the fault (nemesis/rtt.py); stop-packet's
completion carries the nfqueue schedulers' `counters` per link "target->peer" (seen,
dropped, duplicated, ...).

Behaviours (all optional, at least one):
  delay {time_ms, jitter_ms?, correlation?, distribution? (uniform|normal|pareto)}
  loss {percent}  duplicate {percent}
  reorder {percent, correlation?} (needs delay)  corrupt {percent}  rate {mbit}
"""

from __future__ import annotations

import random

from splitbrain.harness.control.base import RemoteError
from splitbrain.nemesis.targets import choose_targets

BEHAVIOURS = ("delay", "loss", "duplicate", "reorder", "corrupt", "rate")
# Jepsen's defaults (net.clj `all-packet-behaviors`), in our units.
DEFAULT_BEHAVIOURS = {
    "delay": {"time_ms": 50, "jitter_ms": 10, "correlation": 25},
    "loss": {"percent": 20},
    "duplicate": {"percent": 20},
    "reorder": {"percent": 20, "correlation": 75},
    "corrupt": {"percent": 20},
    "rate": {"mbit": 1},
}
NETEM_ONLY = ("delay", "reorder", "corrupt")


class NetemMissing(Exception):
    """The node's kernel has no sch_netem / sch_prio."""


def netem_args(behaviours: dict) -> list[str]:
    """The `tc qdisc … netem` arguments for `behaviours` (pure; validated)."""
    unknown = set(behaviours) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"unknown packet behaviour(s) {sorted(unknown)}; "
                         f"known: {', '.join(BEHAVIOURS)}")
    if not behaviours:
        raise ValueError("no packet behaviour given")
    args: list[str] = []
    d = behaviours.get("delay")
    if d is None and "reorder" in behaviours:
        # netem reorders by sending some packets without the delay; no delay, no reordering
        d = {"time_ms": 10}
    if d is not None:
        args += ["delay", f"{float(d['time_ms']):g}ms"]
        jitter = float(d.get("jitter_ms", 0))
        if jitter:
            args += [f"{jitter:g}ms"]
            if d.get("correlation"):
                args += [f"{float(d['correlation']):g}%"]
            if d.get("distribution", "normal") != "uniform":  # netem's own default is uniform
                args += ["distribution", d.get("distribution", "normal")]
    for name in ("loss", "duplicate", "corrupt"):
        if name in behaviours:
            args += [name, f"{float(behaviours[name]['percent']):g}%"]
    if "reorder" in behaviours:
        r = behaviours["reorder"]
        args += ["reorder", f"{float(r['percent']):g}%"]
        if r.get("correlation"):
            args += [f"{float(r['correlation']):g}%"]
    if "rate" in behaviours:
        args += ["rate", f"{float(behaviours['rate']['mbit']):g}mbit"]
    return args


class PacketNemesis:
    """Packet faults on the links from `targets` to `peers`.

    Obligations: only traffic from a target toward a chosen peer is affected; every change
    is made inside the node (its namespace) on `node.iface`; start-packet replaces any
    packet fault already active on that node; stop-packet / heal_all / teardown remove
    every qdisc, filter and chain this nemesis made and are idempotent; invoke never
    raises.
    """

    name = "packet"
    faults = ("start-packet", "stop-packet")

    def __init__(self, nodes, rng: random.Random, *, prefix: str = "sbpkt",
                 engine: str = "auto", measure: bool = True, primaries=None):
        from splitbrain.nemesis.nfqueue import ENGINES, NfqueueEngine

        if engine not in ENGINES:
            raise ValueError(f"packet engine {engine!r}: allowed: {', '.join(ENGINES)}")
        self.nodes = list(nodes)
        self.rng = rng
        self.prefix = prefix
        self.chain = f"{prefix}-pkt"
        self.engine = engine
        self.measure = measure
        self.primaries = primaries  # () -> the DB's current primaries, for "primaries"
        self._nfq = NfqueueEngine(prefix)
        self._active: dict[str, dict] = {}   # node name -> what we installed
        self._netem_ok: dict[str, bool] = {}

    def setup(self) -> None:
        pass

    # -- faults --------------------------------------------------------------------
    def invoke(self, fault: dict) -> dict:
        f = fault.get("f")
        value = fault.get("value")
        try:
            if f == "start-packet":
                return self._start(value or {})
            if f == "stop-packet":
                return self._stop()
            return {"type": "info", "value": value,
                    "error": f"packet nemesis has no fault {f!r}"}
        except Exception as e:
            return {"type": "info", "value": value, "error": f"{type(e).__name__}: {e}"}

    def heal_all(self) -> dict:
        return self.invoke({"f": "stop-packet", "value": None})

    def active(self) -> list[str]:
        return [f"packet {name}→{','.join(a['peers'])} {'+'.join(a['behaviours'])}"
                for name, a in sorted(self._active.items())]

    def teardown(self) -> None:
        self._stop(all_nodes=True)
        for node in self.nodes:  # nfqueue chains live on the receiving nodes
            try:
                self._nfq.drop_chain(node)
            except Exception:
                pass  # a node already gone; cleanup removes its namespace

    # -- internals -----------------------------------------------------------------
    def _start(self, value: dict) -> dict:
        behaviours = value.get("behaviours") or {"delay": DEFAULT_BEHAVIOURS["delay"]}
        netem_args(behaviours)  # validate before touching any node
        from splitbrain.nemesis.nfqueue import scheduler_args
        from splitbrain.nemesis.rtt import added, rtt_pairs

        scheduler_args(behaviours, 0)
        targets = choose_targets(value.get("targets") or "one", self.nodes, self.rng,
                                 self.primaries)
        peer_spec = value.get("peers")
        errors, applied = [], {}
        plan = [(node, [p for p in (choose_targets(peer_spec, self.nodes, self.rng)
                                    if peer_spec else self.nodes) if p.name != node.name])
                for node in targets]
        plan = [(n, ps) for n, ps in plan if ps]
        for node, _ in plan:
            self._clear(node)
        pairs = [(n, p) for n, ps in plan for p in ps]
        before = rtt_pairs(pairs, count=10) if self.measure else {}
        for node, peers in plan:
            try:
                backend = self._apply(node, peers, behaviours)
                self._active[node.name] = {"peers": [p.name for p in peers],
                                           "behaviours": sorted(behaviours),
                                           "backend": backend}
                applied[node.name] = {"peers": [p.name for p in peers], "backend": backend}
            except Exception as e:
                self._clear(node)
                errors.append(f"{node.name}: {e}")
        out = {"type": "info", "value": {"nodes": applied, "behaviours": behaviours}}
        if self.measure and applied:
            timeout = 0.5 + 4 * sum(float(behaviours.get("delay", {}).get(k, 0))
                                    for k in ("time_ms", "jitter_ms")) / 1000
            during = rtt_pairs([(n, p) for n, p in pairs if n.name in applied],
                               count=10, timeout=timeout)
            out["value"]["rtt"] = {k: {"before": before.get(k), "during": v,
                                       **added(before.get(k) or {}, v)}
                                   for k, v in during.items()}
        if errors:
            out["error"] = "; ".join(errors)
        return out

    def _stop(self, all_nodes: bool = False) -> dict:
        names = [n.name for n in self.nodes] if all_nodes else list(self._active)
        errors, counters = [], {}
        for node in self.nodes:
            if node.name in names:
                try:
                    counters.update(self._clear(node) or {})
                except Exception as e:
                    errors.append(f"{node.name}: {e}")
        out = {"type": "info", "value": {"nodes": sorted(set(names) & set(self._active))
                                         if not all_nodes else names}}
        if counters:
            out["value"]["counters"] = counters
        for n in names:
            self._active.pop(n, None)
        if errors:
            out["error"] = "; ".join(errors)
        return out

    def _tc(self, node, *args: str, check: bool = True):
        return node.remote.exec(["tc", *args], timeout=10, check=check)

    def _ipt(self, node, *args: str, check: bool = True):
        return node.remote.exec(["iptables", "-w", "5", *args], timeout=15, check=check)

    def _apply(self, node, peers, behaviours: dict) -> str:
        if self.engine == "nfqueue" or (self.engine == "auto"
                                        and self._netem_ok.get(node.name) is False):
            return self._apply_nfqueue(node, peers, behaviours)
        if self._netem_ok.get(node.name, True):
            try:
                self._apply_netem(node, peers, behaviours)
                self._netem_ok[node.name] = True
                return "netem"
            except NetemMissing:
                self._netem_ok[node.name] = False
                self._clear(node)
                if self.engine == "auto":
                    return self._apply_nfqueue(node, peers, behaviours)
        missing = [b for b in behaviours if b in NETEM_ONLY]
        if missing:
            raise NetemMissing(f"{', '.join(missing)} need the sch_netem and sch_prio qdiscs, "
                               "which this kernel lacks")
        self._apply_fallback(node, peers, behaviours)
        return "iptables+htb"

    def _apply_nfqueue(self, node, peers, behaviours: dict) -> str:
        queued = {k: v for k, v in behaviours.items() if k != "rate"}
        if queued:
            self._nfq.apply(node, peers, queued, seed=self.rng.randrange(2 ** 32))
        if "rate" in behaviours:
            self._apply_fallback(node, peers, {"rate": behaviours["rate"]})
        return "nfqueue" if "rate" not in behaviours else \
            ("nfqueue+htb" if queued else "htb")

    def _apply_netem(self, node, peers, behaviours: dict) -> None:
        dev = node.iface
        try:
            # Band 4 is ours; the priomap keeps every other packet in the usual bands.
            self._tc(node, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "prio",
                     "bands", "4", "priomap", *"1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1".split())
            self._tc(node, "qdisc", "add", "dev", dev, "parent", "1:4", "handle", "40:",
                     "netem", *netem_args(behaviours))
        except RemoteError as e:
            if "unknown" in (e.stderr or str(e)).lower():
                raise NetemMissing(str(e)) from e
            raise
        for p in peers:
            self._tc(node, "filter", "add", "dev", dev, "parent", "1:0", "protocol", "ip",
                     "prio", "1", "u32", "match", "ip", "dst", f"{p.address}/32",
                     "flowid", "1:4")

    def _apply_fallback(self, node, peers, behaviours: dict) -> None:
        if "loss" in behaviours:
            p = float(behaviours["loss"]["percent"]) / 100
            self._ipt(node, "-N", self.chain)
            self._ipt(node, "-I", "OUTPUT", "-j", self.chain)
            for peer in peers:
                self._ipt(node, "-A", self.chain, "-d", f"{peer.address}/32", "-m",
                          "statistic", "--mode", "random", "--probability", f"{p:.6f}",
                          "-j", "DROP")
        if "duplicate" in behaviours:
            p = float(behaviours["duplicate"]["percent"]) / 100
            self._ipt(node, "-t", "mangle", "-N", self.chain)
            self._ipt(node, "-t", "mangle", "-I", "POSTROUTING", "-j", self.chain)
            for peer in peers:
                # TEE sends a clone straight to the peer; the original goes on as usual.
                self._ipt(node, "-t", "mangle", "-A", self.chain, "-d", f"{peer.address}/32",
                          "-m", "statistic", "--mode", "random", "--probability", f"{p:.6f}",
                          "-j", "TEE", "--gateway", peer.address)
        if "rate" in behaviours:
            dev = node.iface
            mbit = float(behaviours["rate"]["mbit"])
            # default 0: unclassified traffic bypasses shaping; only the peers' class is slow
            self._tc(node, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb",
                     "default", "0")
            self._tc(node, "class", "add", "dev", dev, "parent", "1:", "classid", "1:10",
                     "htb", "rate", f"{mbit:g}mbit", "ceil", f"{mbit:g}mbit")
            for peer in peers:
                self._tc(node, "filter", "add", "dev", dev, "parent", "1:0", "protocol", "ip",
                         "prio", "1", "u32", "match", "ip", "dst", f"{peer.address}/32",
                         "flowid", "1:10")

    def _clear(self, node) -> dict | None:
        """Remove our root qdisc (with its filters), chains and nfqueue scheduler;
        tolerant of absence. Returns the scheduler's final counters, if one ran."""
        counters = self._nfq.clear(node)
        out = self._tc(node, "qdisc", "show", "dev", node.iface, check=False).stdout
        if any(line.startswith(("qdisc prio 1: root", "qdisc htb 1: root"))
               for line in out.splitlines()):
            self._tc(node, "qdisc", "del", "dev", node.iface, "root", check=False)
        for table, hook in (("filter", "OUTPUT"), ("mangle", "POSTROUTING")):
            listing = self._ipt(node, "-t", table, "-S", check=False).stdout
            if f"-N {self.chain}" not in listing.splitlines():
                continue
            for _ in range(10):  # one jump per start; bounded in case -D keeps succeeding
                if self._ipt(node, "-t", table, "-D", hook, "-j", self.chain,
                             check=False).exit_code != 0:
                    break
            self._ipt(node, "-t", table, "-F", self.chain, check=False)
            self._ipt(node, "-t", table, "-X", self.chain, check=False)
        return counters


# -- the family package (nemesis/base.py) ---------------------------------------------

# `--nemesis packet-<kind>` names, and the behaviour each one means.
PACKET_KINDS = {"latency": "delay", "delay": "delay", "loss": "loss",
                "duplicate": "duplicate", "reorder": "reorder", "corrupt": "corrupt",
                "rate": "rate"}


def _check_options(opts) -> None:
    from splitbrain.harness.errors import InputError

    if opts.get("engine", "auto") not in ("auto", "netem", "nfqueue"):
        raise InputError(f"nemesis option packet.engine {opts['engine']!r}: allowed: "
                         "auto, netem, nfqueue")
    if "behaviours" in opts:
        bad = set(opts["behaviours"]) - set(BEHAVIOURS)
        if bad:
            raise InputError(f"nemesis option packet.behaviours: unknown {sorted(bad)}; "
                             f"allowed: {', '.join(BEHAVIOURS)}")


def _start_template(ctx, variants, opts) -> dict:
    from splitbrain.nemesis.targets import pick_target, target_names

    kinds = [PACKET_KINDS[v] for v in variants] if variants else \
        [PACKET_KINDS[k] for k in opts.get("kinds", ())] or list(BEHAVIOURS)
    kind = ctx.rng.choice(sorted(set(kinds)))
    behaviour = dict(opts.get("behaviours", {}).get(kind, DEFAULT_BEHAVIOURS[kind]))
    spec = pick_target(ctx.rng, opts, ("one", "minority", "majority", "all"))
    # "primaries", "one-primary" are resolved when the fault runs (PacketNemesis asks the DB)
    live = spec in ("primaries", "one-primary")
    names = spec if live else target_names(spec, ctx.nodes, ctx.rng)
    return {"f": "start-packet", "value": {"targets": names, "behaviours": {kind: behaviour}}}


def _build(ctx) -> "PacketNemesis":
    from splitbrain.harness.dbs.base import HasPrimaries

    popts = ctx.options.get("packet", {})
    return PacketNemesis(list(ctx.nodes), ctx.rng, prefix=ctx.prefix,
                         engine=popts.get("engine", "auto"),
                         measure=bool(popts.get("measure", True)),
                         primaries=ctx.db.primaries if isinstance(ctx.db, HasPrimaries) else None)


def _family():
    from splitbrain.nemesis.base import FaultFamily

    return FaultFamily(
        name="packet", nemesis="packet", starts=("start-packet",), stop="stop-packet",
        start_template=_start_template,
        build=_build, variants=tuple(PACKET_KINDS),
        option_keys=frozenset({"targets", "behaviours", "kinds", "engine", "measure"}),
        validate_options=_check_options, heal_rank=40,
        summary="latency, loss, duplication, reordering, corruption, rate limits")


FAMILIES = (_family(),)
