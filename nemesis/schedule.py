"""The nemesis schedule: which faults a run injects, in what order, and how it heals.

`--nemesis partition,clock,kill,pause,packet` names fault *families* (nemesis/registry.py);
a family may also be narrowed to single faults (`partition-majorities-ring`, `clock-strobe`,
`packet-latency`). Every `interval` seconds the runner asks `next_fault()` for an op
template and runs it through `invoke()`; both are recorded as `nemesis` ops carrying the
op's `family` and `phase` (`describe`). Families take turns in shuffled rounds: with N
families requested, every family gets a turn before any family gets a second one. A turn
is two ticks: the family's fault starts, and one interval later it is healed, so each
fault's effect is seen on its own and its window is one interval long. All choices come
from the run's seeded rng, so a seed replays the same schedule. A family may ask for a sample right after each of its ops (`follow_up`:
the clock's `clock-offsets`, so reports plot what each node's clock really said); the
runner takes follow-ups at once, without waiting an interval.

    pkg = build_package("partition,clock", nodes=nodes, db=db, prefix="sb1a2b",
                        rng=random.Random(7), interval=10.0)
    env = pkg.node_env(node)          # the DB starts with this (LD_PRELOAD for clocks)
    pkg.setup()
    fault = pkg.next_fault()          # {"f": "start-partition", "value": "majority"}
    done = pkg.invoke(fault)          # {"type": "info", "value": {...}, "error"?}
    for f in pkg.final_ops(): pkg.invoke(f)   # heals everything still active
    pkg.teardown()

Options (`options`, one table per family; unknown keys are an InputError): each family
declares its keys (FaultFamily.option_keys); `targets` is shared by the families that aim
at nodes (one, minority, majority, primaries, all).
"""

from __future__ import annotations

import logging
import random
from typing import Any

from splitbrain.harness.errors import InputError
from splitbrain.nemesis.base import (SAMPLE, START, STOP, BuildContext, FaultFamily, NodeEnv,
                          TemplateContext)
from splitbrain.nemesis.partition import NAMED_SHAPES, PARTITION_ALIASES, is_explicit_grudge  # noqa: F401  (re-exported)
from splitbrain.nemesis.registry import families as registered, family_of_f
from splitbrain.nemesis.targets import check_targets

log = logging.getLogger(__name__)


def _families() -> dict[str, FaultFamily]:
    return registered()


# Views of the registry, for callers and tests that want plain tables.
FAMILIES = tuple(_families())
PARTITION_SHAPES = tuple(NAMED_SHAPES)
STOP_OF = {name: fam.stop for name, fam in _families().items()}
FAMILY_OF_F = family_of_f()
OPTION_KEYS = {name: set(fam.option_keys) for name, fam in _families().items()}
FINAL_ORDER = tuple(sorted(_families(), key=lambda n: _families()[n].heal_rank))


def allowed_names() -> list[str]:
    """Every name `--nemesis` accepts (for error messages and --help)."""
    out = ["none", *_families()]
    for name, fam in _families().items():
        out += [f"{name}-{v}" for v in (*fam.variants, *fam.aliases)]
    return out


def parse_spec(spec: str) -> dict[str, tuple[str, ...] | None]:
    """`spec` → {family: allowed variants, or None for all of them}. Pure."""
    if spec is None or not str(spec).strip():
        raise InputError(f"--nemesis is empty; allowed: {', '.join(allowed_names())}")
    fams = _families()
    chosen: dict[str, list[str] | None] = {}
    for raw in str(spec).split(","):
        name = raw.strip().lower()
        if not name or name == "none":
            continue
        if name in fams:
            chosen[name] = None
            continue
        # the longest family name that prefixes `name-…` (family names may hold dashes)
        family = max((f for f in fams if name.startswith(f + "-")), key=len, default=None)
        fam = fams.get(family) if family else None
        variant = name[len(family) + 1:] if family else ""
        if fam is not None:
            variant = fam.aliases.get(variant, variant)
        if fam is None or variant not in fam.variants:
            raise InputError(f"--nemesis {raw.strip()!r} is not a fault; allowed: "
                             f"{', '.join(allowed_names())}")
        if family in chosen and chosen[family] is None:
            continue  # the whole family already
        chosen.setdefault(family, [])
        if variant not in chosen[family]:
            chosen[family].append(variant)
    return {f: (tuple(v) if v is not None else None) for f, v in chosen.items()}


def check_options(options: dict | None, families=None) -> dict:
    """Validate per-family nemesis options (InputError naming what is allowed)."""
    fams = _families()
    options = dict(options or {})
    for name, opts in options.items():
        fam = fams.get(name)
        if fam is None:
            raise InputError(f"nemesis option group {name!r} unknown; groups: {', '.join(fams)}")
        if not isinstance(opts, dict):
            raise InputError(f"nemesis options for {name!r} must be a table, not {opts!r}")
        bad = set(opts) - set(fam.option_keys)
        if bad:
            raise InputError(f"nemesis options for {name!r}: unknown {sorted(bad)}; allowed: "
                             f"{', '.join(sorted(fam.option_keys))}")
        check_targets(name, opts)
        if fam.validate_options is not None:
            fam.validate_options(opts)
    return options


def check_capabilities(families, db=None, *, capabilities=None, db_name: str | None = None
                       ) -> None:
    """InputError unless the datastore has every capability the chosen families need:
    checked on a live `db` with isinstance, or before the run on the protocol classes its
    spec says it implements (`capabilities`)."""
    fams = _families()
    for name in families:
        for cap in fams[name].needs:
            ok = (cap in capabilities) if capabilities is not None else \
                (db is not None and isinstance(db, cap))
            if not ok:
                what = db_name or getattr(db, "name", None) or "no datastore"
                raise InputError(f"the {name} fault needs a datastore that is "
                                 f"{cap.__name__} ({what} is not)")


class NemesisPackage:
    """The nemeses of one run plus their schedule (see the module docstring).

    Obligations: next_fault is a pure function of the seeded rng and the faults it already
    handed out; invoke never raises (failures come back as `error`); final_ops undoes
    every fault that may be active, in the families' heal order; teardown removes
    everything any nemesis created and is idempotent. Each Nemesis is also reachable as
    an attribute named by its key (`pkg.partition`, `pkg.process`, …; None when absent).
    """

    def __init__(self, *, interval: float, families: dict[str, tuple[str, ...] | None],
                 nodes: list, rng: random.Random, options: dict,
                 nemeses: dict[str, Any] | None = None):
        fams = _families()
        object.__setattr__(self, "_nemeses", dict(nemeses or {}))
        object.__setattr__(self, "_keys", {f.nemesis for f in fams.values()})
        self.interval = interval
        self.families = families
        self.nodes = nodes
        self.rng = rng
        self.options = options
        self.chosen = {name: fams[name] for name in fams if name in families}
        self._family_of = family_of_f()
        self._scheduled_on: set[str] = set()   # families whose start was handed out
        self._active: set[str] = set()         # families whose start was invoked
        self._pending: list[dict] = []         # follow-ups to hand out before new faults
        self._round: list[str] = []            # the rest of this round of turns
        self._last: str | None = None

    # Nemeses by key as attributes (tests and callers swap them for fakes).
    def __getattr__(self, name: str):
        if name in self.__dict__.get("_keys", ()):
            return self.__dict__["_nemeses"].get(name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        if name in self.__dict__.get("_keys", ()):
            self._nemeses[name] = value
        else:
            object.__setattr__(self, name, value)

    # -- runner API -------------------------------------------------------------------
    def node_env(self, node) -> dict:
        env: dict = {}
        for nem in self._nemeses.values():
            if isinstance(nem, NodeEnv):
                env.update(nem.shim_env(node))
        return env

    def setup(self) -> None:
        for nem in self._nemeses.values():
            nem.setup()

    def describe(self, fault: dict) -> tuple[str | None, str | None]:
        """(family, phase) of a fault op: what the history records beside `f`."""
        f = fault.get("f")
        name = self._family_of.get(f)
        fam = self.chosen.get(name) or _families().get(name)
        return (name, fam.phase_of(f)) if fam is not None else (None, None)

    def has_follow_up(self) -> bool:
        return bool(self._pending)

    def next_fault(self) -> dict | None:
        if self._pending:
            return self._pending.pop(0)
        if not self.chosen:
            return None
        if self._scheduled_on:
            # the family started last turn is healed now, before the next family starts
            name = self._scheduled_on.pop()
            fam = self.chosen[name]
            tmpl = {"f": fam.stop, "value": None}
        else:
            name = self._next_family()
            fam = self.chosen[name]
            self._scheduled_on.add(name)
            ctx = TemplateContext(rng=self.rng, nodes=self.nodes, interval=self.interval)
            tmpl = fam.start_template(ctx, self.families[name], self.options.get(name, {}))
        if fam.follow_up:
            self._pending.append({"f": fam.follow_up, "value": None})
        return tmpl

    def invoke(self, fault: dict) -> dict:
        try:
            f = fault.get("f")
            name, phase = self.describe(fault)
            fam = self.chosen.get(name)
            nem = self._nemeses.get(fam.nemesis) if fam is not None else None
            if nem is None:
                return {"type": "info", "value": fault.get("value"),
                        "error": f"no nemesis in this run handles {f!r}"}
            if phase == STOP:
                self._active.discard(name)
            elif phase == START:
                self._active.add(name)  # even if it fails: its undo is harmless
            out = dict(nem.invoke(fault))
            out["type"] = "info"
            return out
        except Exception as e:
            return {"type": "info", "value": fault.get("value"),
                    "error": f"{type(e).__name__}: {e}"}

    def final_ops(self) -> list[dict]:
        maybe_on = self._active | self._scheduled_on
        order = sorted(self.chosen.values(), key=lambda fam: fam.heal_rank)
        ops = [{"f": fam.stop, "value": None} for fam in order if fam.name in maybe_on]
        self._scheduled_on.clear()
        self._pending.clear()
        samples = []
        for fam in order:
            if fam.follow_up and fam.follow_up not in samples:
                samples.append(fam.follow_up)
        return ops + [{"f": s, "value": None} for s in samples]

    def active(self) -> list[str]:
        out: list[str] = []
        for key, nem in self._nemeses.items():
            try:
                names = nem.active() if callable(getattr(nem, "active", None)) else None
            except Exception:
                names = None
            if names is None:
                names = [f.name for f in self.chosen.values()
                         if f.nemesis == key and f.name in self._active]
            out += list(names)
        return out

    def teardown(self) -> None:
        errors = []
        for key, nem in self._nemeses.items():
            try:
                nem.teardown()
            except Exception as e:  # keep tearing down the others
                errors.append(f"{getattr(nem, 'name', key)}: {e}")
        self._active.clear()
        self._scheduled_on.clear()
        if errors:  # logged, not raised: the runner's other cleanups must still run
            log.warning("nemesis teardown: %s", "; ".join(errors))

    # -- internals --------------------------------------------------------------------
    def _next_family(self) -> str:
        """Shuffled round-robin: a round is every chosen family once, in seeded random
        order; a new round never starts with the family that ended the last one."""
        if not self._round:
            self._round = sorted(self.chosen)
            self.rng.shuffle(self._round)
            if len(self._round) > 1 and self._round[0] == self._last:
                self._round.append(self._round.pop(0))
        self._last = self._round.pop(0)
        return self._last


def build_package(spec: str, *, nodes, db, prefix: str, rng: random.Random,
                  interval: float, options: dict | None = None) -> NemesisPackage:
    """The NemesisPackage for `--nemesis spec` (bad names / options / capabilities →
    InputError)."""
    families = parse_spec(spec)
    options = check_options(options, families)
    check_capabilities(families, db)
    nodes = list(nodes)
    pkg = NemesisPackage(interval=float(interval), families=families, nodes=nodes, rng=rng,
                         options=options)
    # Each nemesis gets its own rng derived from the run's, so adding a family does not
    # shift another family's choices.
    built: dict[str, Any] = {}
    for fam in pkg.chosen.values():
        if fam.nemesis not in built:
            sub = random.Random(f"{rng.random()}-{fam.nemesis}")
            built[fam.nemesis] = fam.build(BuildContext(nodes=nodes, prefix=prefix, rng=sub, db=db,
                                                        options=options))
    for key, nem in built.items():
        setattr(pkg, key, nem)
    return pkg


__all__ = ["FAMILIES", "FAMILY_OF_F", "STOP_OF", "OPTION_KEYS", "FINAL_ORDER", "SAMPLE",
           "NemesisPackage", "allowed_names", "build_package", "check_options",
           "check_capabilities", "is_explicit_grudge", "parse_spec"]
