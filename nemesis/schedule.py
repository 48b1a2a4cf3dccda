"""The nemesis schedule: which faults a run injects, in what order, and how it heals.

`--nemesis partition,clock,kill,pause,packet` names fault *families*; a family may also be
narrowed to single faults (`partition-majorities-ring`, `clock-strobe`, `packet-latency`).
Every `interval` seconds the runner asks `next_fault()` for an op template and runs it
through `invoke()`; both are recorded as `nemesis` ops. Each family alternates start and
stop (a partition, then its heal; a kill, then the restart), so faults of different
families overlap and compose. All choices come from the run's seeded rng, so a seed
replays the same schedule. After a clock fault the next template is a `clock-offsets`
sample, so reports can plot what each node's clock really said.

    pkg = build_package("partition,clock", nodes=nodes, db=db, prefix="sb1a2b",
                        rng=random.Random(7), interval=10.0)
    env = pkg.node_env(node)          # the DB starts with this (LD_PRELOAD for clocks)
    pkg.setup()
    fault = pkg.next_fault()          # {"f": "start-partition", "value": "majority"}
    done = pkg.invoke(fault)          # {"type": "info", "value": {...}, "error"?}
    for f in pkg.final_ops(): pkg.invoke(f)   # heals everything still active
    pkg.teardown()

Options (`options`, per family; unknown keys are an InputError):
  partition: {"shapes": [...]}
  clock:     {"targets": [...], "max_bump_ms": 262144, "min_bump_ms": 4,
              "strobe_delta_ms": 200, "strobe_period_ms": 10, "strobe_duration_s": 5,
              "max_drift": 0.05}
  kill, pause: {"targets": [...]}        (one, minority, majority, primaries, all)
  disk:      {"targets": [...], "kinds": ["lose-unsynced", "slow"], "torn": false,
              "fsync_ms": 100, "write_ms": 0}                       (disk.py)
  packet:    {"targets": [...], "behaviours": {...} (netem.py), "kinds": [...],
              "engine": "auto"|"netem"|"nfqueue" (nfqueue.py), "measure": true}
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

from harness.errors import InputError
from nemesis.netem import BEHAVIOURS, DEFAULT_BEHAVIOURS
from nemesis.partition import NAMED_SHAPES
from nemesis.targets import TARGET_SPECS, choose_targets

log = logging.getLogger(__name__)

FAMILIES = ("partition", "clock", "kill", "pause", "packet", "disk")

# The partition shapes nemesis/partition.py implements (Jepsen's, plus a few).
PARTITION_SHAPES = tuple(NAMED_SHAPES)
PARTITION_ALIASES = {"primary": "primaries", "halves": "random-halves"}
CLOCK_KINDS = ("bump", "strobe", "drift")
DISK_KINDS = ("lose-unsynced", "slow")  # nemesis/disk.py
PACKET_KINDS = {"latency": "delay", "delay": "delay", "loss": "loss",
                "duplicate": "duplicate", "reorder": "reorder", "corrupt": "corrupt",
                "rate": "rate"}

OPTION_KEYS = {
    "partition": {"shapes"},
    "clock": {"targets", "max_bump_ms", "min_bump_ms", "strobe_delta_ms", "strobe_period_ms",
              "strobe_duration_s", "max_drift"},
    "kill": {"targets"},
    "pause": {"targets"},
    "packet": {"targets", "behaviours", "kinds", "engine", "measure"},
    "disk": {"targets", "kinds", "torn", "fsync_ms", "write_ms"},
}

# Order in which the final phase undoes things: let paused processes run before
# restarting killed ones, heal the network before the clocks, sample clocks last.
FINAL_ORDER = ("disk", "pause", "kill", "partition", "packet", "clock")
STOP_OF = {"partition": "stop-partition", "clock": "clock-reset", "kill": "start",
           "pause": "resume", "packet": "stop-packet", "disk": "disk-heal"}
FAMILY_OF_F = {"start-partition": "partition", "stop-partition": "partition",
               "clock-bump": "clock", "clock-strobe": "clock", "clock-drift": "clock",
               "clock-reset": "clock", "clock-offsets": "clock",
               "kill": "kill", "start": "kill", "pause": "pause", "resume": "pause",
               "start-packet": "packet", "stop-packet": "packet",
               "disk-lose-unsynced": "disk", "disk-slow": "disk", "disk-heal": "disk"}


def allowed_names() -> list[str]:
    """Every name `--nemesis` accepts (for error messages and --help)."""
    return (["none", *FAMILIES]
            + [f"partition-{s}" for s in (*PARTITION_SHAPES, *PARTITION_ALIASES)]
            + [f"clock-{k}" for k in CLOCK_KINDS]
            + [f"packet-{k}" for k in PACKET_KINDS]
            + [f"disk-{k}" for k in DISK_KINDS])


def parse_spec(spec: str) -> dict[str, tuple[str, ...] | None]:
    """`spec` → {family: allowed variants, or None for all of them}. Pure."""
    if spec is None or not str(spec).strip():
        raise InputError(f"--nemesis is empty; allowed: {', '.join(allowed_names())}")
    chosen: dict[str, list[str] | None] = {}
    for raw in str(spec).split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name == "none":
            continue
        if name in FAMILIES:
            chosen[name] = None
            continue
        family, _, variant = name.partition("-")
        variant = {"partition": PARTITION_ALIASES}.get(family, {}).get(variant, variant)
        ok = ((family == "partition" and variant in PARTITION_SHAPES)
              or (family == "clock" and variant in CLOCK_KINDS)
              or (family == "packet" and variant in PACKET_KINDS)
              or (family == "disk" and variant in DISK_KINDS))
        if not ok:
            raise InputError(f"--nemesis {raw.strip()!r} is not a fault; allowed: "
                             f"{', '.join(allowed_names())}")
        if family in chosen and chosen[family] is None:
            continue  # the whole family already
        chosen.setdefault(family, [])
        if variant not in chosen[family]:
            chosen[family].append(variant)
    return {f: (tuple(v) if v is not None else None) for f, v in chosen.items()}


def is_explicit_grudge(shape: Any) -> bool:
    return isinstance(shape, str) and ("|" in shape or ">" in shape)


def check_options(options: dict | None, families) -> dict:
    """Validate per-family nemesis options (InputError naming what is allowed)."""
    options = dict(options or {})
    for fam, opts in options.items():
        if fam not in OPTION_KEYS:
            raise InputError(f"nemesis option group {fam!r} unknown; groups: "
                             f"{', '.join(OPTION_KEYS)}")
        if not isinstance(opts, dict):
            raise InputError(f"nemesis options for {fam!r} must be a table, not {opts!r}")
        bad = set(opts) - OPTION_KEYS[fam]
        if bad:
            raise InputError(f"nemesis options for {fam!r}: unknown {sorted(bad)}; allowed: "
                             f"{', '.join(sorted(OPTION_KEYS[fam]))}")
        for t in opts.get("targets", []) if isinstance(opts.get("targets"), list) else []:
            if t not in TARGET_SPECS:
                raise InputError(f"nemesis option {fam}.targets: {t!r} is not one of "
                                 f"{', '.join(TARGET_SPECS)}")
        if fam == "packet" and "behaviours" in opts:
            bad = set(opts["behaviours"]) - set(BEHAVIOURS)
            if bad:
                raise InputError(f"nemesis option packet.behaviours: unknown {sorted(bad)}; "
                                 f"allowed: {', '.join(BEHAVIOURS)}")
        if fam == "packet" and opts.get("engine", "auto") not in ("auto", "netem", "nfqueue"):
            raise InputError(f"nemesis option packet.engine {opts['engine']!r}: allowed: "
                             "auto, netem, nfqueue")
        if fam == "disk" and set(opts.get("kinds") or ()) - set(DISK_KINDS):
            raise InputError(f"nemesis option disk.kinds: unknown "
                             f"{sorted(set(opts['kinds']) - set(DISK_KINDS))}; allowed: "
                             f"{', '.join(DISK_KINDS)}")
        if fam == "partition" and "shapes" in opts:
            # explicit grudges ("n1,n2|n3", "n1>n2") are checked against node names by
            # the config (harness/config.py) and by PartitionNemesis itself
            bad = {x for x in opts["shapes"] if not is_explicit_grudge(x)} - set(PARTITION_SHAPES)
            if bad:
                raise InputError(f"nemesis option partition.shapes: unknown {sorted(bad)}; "
                                 f"allowed: {', '.join(PARTITION_SHAPES)}")
    return options


@dataclass
class NemesisPackage:
    """The nemeses of one run plus their schedule (see the module docstring).

    Obligations: next_fault is a pure function of the seeded rng and the faults it already
    handed out; invoke never raises (failures come back as `error`); final_ops undoes
    every fault that may be active, in a safe order; teardown removes everything any
    nemesis created and is idempotent.
    """

    interval: float
    families: dict[str, tuple[str, ...] | None]
    nodes: list
    rng: random.Random
    options: dict
    partition: Any = None
    clock: Any = None
    process: Any = None
    packet: Any = None
    disk: Any = None
    _scheduled_on: set = field(default_factory=set)   # families whose start was handed out
    _active: set = field(default_factory=set)         # families whose start was invoked
    _pending: list = field(default_factory=list)      # templates to hand out before new faults

    # -- runner API -------------------------------------------------------------------
    def node_env(self, node) -> dict:
        return self.clock.shim_env(node) if self.clock is not None else {}

    def setup(self) -> None:
        for nem in self._nemeses():
            nem.setup()

    def next_fault(self) -> dict | None:
        if self._pending:
            return self._pending.pop(0)
        if not self.families:
            return None
        family = self.rng.choice(sorted(self.families))
        if family in self._scheduled_on:
            self._scheduled_on.discard(family)
            tmpl = {"f": STOP_OF[family], "value": None}
        else:
            self._scheduled_on.add(family)
            tmpl = self._start_template(family)
        if family == "clock":
            self._pending.append({"f": "clock-offsets", "value": None})
        return tmpl

    def invoke(self, fault: dict) -> dict:
        try:
            f = fault.get("f")
            family = FAMILY_OF_F.get(f)
            nem = {"partition": self.partition, "clock": self.clock, "kill": self.process,
                   "pause": self.process, "packet": self.packet,
                   "disk": self.disk}.get(family)
            if nem is None:
                return {"type": "info", "value": fault.get("value"),
                        "error": f"no nemesis in this run handles {f!r}"}
            if f != "clock-offsets":
                if f == STOP_OF[family]:
                    self._active.discard(family)
                else:
                    self._active.add(family)  # even if it fails: its undo is harmless
            out = dict(nem.invoke(fault))
            out["type"] = "info"
            return out
        except Exception as e:
            return {"type": "info", "value": fault.get("value"),
                    "error": f"{type(e).__name__}: {e}"}

    def final_ops(self) -> list[dict]:
        maybe_on = self._active | self._scheduled_on
        ops = [{"f": STOP_OF[fam], "value": None} for fam in FINAL_ORDER
               if fam in maybe_on and fam in self.families]
        self._scheduled_on.clear()
        self._pending.clear()
        if "clock" in self.families:
            ops.append({"f": "clock-offsets", "value": None})
        return ops

    def active(self) -> list[str]:
        out: list[str] = []
        for nem in self._nemeses():
            try:
                names = nem.active() if hasattr(nem, "active") else None
            except Exception:
                names = None
            if names is None:
                names = [nem.name] if getattr(nem, "name", None) in self._active else []
            out += list(names)
        return out

    def teardown(self) -> None:
        errors = []
        for nem in self._nemeses():
            try:
                nem.teardown()
            except Exception as e:  # keep tearing down the others
                errors.append(f"{getattr(nem, 'name', nem)}: {e}")
        self._active.clear()
        self._scheduled_on.clear()
        if errors:  # logged, not raised: the runner's other cleanups must still run
            log.warning("nemesis teardown: %s", "; ".join(errors))

    # -- internals --------------------------------------------------------------------
    def _nemeses(self) -> list:
        return [n for n in (self.partition, self.clock, self.process, self.packet, self.disk)
                if n is not None]

    def _targets(self, family: str, default: tuple[str, ...]) -> Any:
        opts = self.options.get(family, {})
        t = opts.get("targets")
        if isinstance(t, list) and t and all(x in TARGET_SPECS for x in t):
            return self.rng.choice(t)
        if isinstance(t, str):
            return t
        return self.rng.choice(default)

    def _start_template(self, family: str) -> dict:
        variants = self.families[family]
        opts = self.options.get(family, {})
        if family == "partition":
            shapes = variants or tuple(opts.get("shapes") or PARTITION_SHAPES)
            return {"f": "start-partition", "value": self.rng.choice(sorted(shapes))}
        if family in ("kill", "pause"):
            return {"f": family,
                    "value": self._targets(family, ("one", "minority", "majority",
                                                    "primaries", "all"))}
        if family == "clock":
            kind = self.rng.choice(variants or CLOCK_KINDS)
            names = self._names(self._targets("clock", ("one", "minority", "majority", "all")))
            if kind == "bump":
                lo = math.log2(max(1.0, float(opts.get("min_bump_ms", 4))))
                hi = math.log2(max(2.0, float(opts.get("max_bump_ms", 262144))))
                delta = round(2 ** self.rng.uniform(lo, max(lo, hi)))
                return {"f": "clock-bump",
                        "value": {"nodes": names,
                                  "delta_ms": delta * self.rng.choice((-1, 1))}}
            if kind == "strobe":
                return {"f": "clock-strobe",
                        "value": {"nodes": names,
                                  "delta_ms": opts.get("strobe_delta_ms",
                                                       round(2 ** self.rng.uniform(2, 10))),
                                  "period_ms": opts.get("strobe_period_ms", 10),
                                  "duration_s": opts.get("strobe_duration_s",
                                                         min(5.0, self.interval))}}
            max_drift = float(opts.get("max_drift", 0.05))
            return {"f": "clock-drift",
                    "value": {"nodes": names,
                              "rate": round(self.rng.uniform(-max_drift, max_drift), 6)}}
        if family == "packet":
            kinds = [PACKET_KINDS[v] for v in variants] if variants else \
                [PACKET_KINDS[k] for k in opts.get("kinds", ())] or list(BEHAVIOURS)
            kind = self.rng.choice(sorted(set(kinds)))
            behaviour = dict(opts.get("behaviours", {}).get(kind, DEFAULT_BEHAVIOURS[kind]))
            spec = self._targets("packet", ("one", "minority", "majority", "all"))
            # "primaries" is resolved when the fault runs (PacketNemesis asks the DB)
            names = spec if spec == "primaries" else self._names(spec)
            return {"f": "start-packet",
                    "value": {"targets": names, "behaviours": {kind: behaviour}}}
        if family == "disk":
            kind = self.rng.choice(variants or tuple(opts.get("kinds") or DISK_KINDS))
            spec = self._targets("disk", ("one", "minority", "primaries"))
            # "primaries" is resolved when the fault runs (DiskNemesis asks the DB)
            names = spec if spec == "primaries" else self._names(spec)
            if kind == "slow":
                return {"f": "disk-slow", "value": {"targets": names,
                                                    "fsync_ms": opts.get("fsync_ms", 100),
                                                    "write_ms": opts.get("write_ms", 0)}}
            return {"f": "disk-lose-unsynced",
                    "value": {"targets": names, "torn": bool(opts.get("torn", False))}}
        raise AssertionError(family)

    def _names(self, spec) -> list[str]:
        return [n.name for n in choose_targets(spec, self.nodes, self.rng, None)] \
            if spec != "primaries" else [self.rng.choice(self.nodes).name]


def build_package(spec: str, *, nodes, db, prefix: str, rng: random.Random,
                  interval: float, options: dict | None = None) -> NemesisPackage:
    """The NemesisPackage for `--nemesis spec` (bad names / options → InputError)."""
    families = parse_spec(spec)
    options = check_options(options, families)
    nodes = list(nodes)
    pkg = NemesisPackage(interval=float(interval), families=families, nodes=nodes, rng=rng,
                         options=options)
    # Each nemesis gets its own rng derived from the run's, so adding a family does not
    # shift another family's choices.
    def sub_rng(name: str) -> random.Random:
        return random.Random(f"{rng.random()}-{name}")

    primaries = getattr(db, "primaries", None)
    if "partition" in families:
        from nemesis.partition import PartitionNemesis

        pkg.partition = PartitionNemesis(nodes, prefix, sub_rng("partition"), primaries)
    if "clock" in families:
        from nemesis.clock import ClockNemesis

        pkg.clock = ClockNemesis(nodes, prefix, sub_rng("clock"), db)
    if "kill" in families or "pause" in families:
        from nemesis.process import ProcessNemesis

        if db is None:
            raise InputError("kill and pause faults need a datastore (no --db given)")
        pkg.process = ProcessNemesis(nodes, db, sub_rng("process"))
    if "packet" in families:
        from nemesis.netem import PacketNemesis

        popts = options.get("packet", {})
        pkg.packet = PacketNemesis(nodes, sub_rng("packet"), prefix=prefix,
                                   engine=popts.get("engine", "auto"),
                                   measure=bool(popts.get("measure", True)),
                                   primaries=primaries)
    if "disk" in families:
        from nemesis.disk import DiskNemesis

        pkg.disk = DiskNemesis(nodes, db, prefix, sub_rng("disk"))
    return pkg
