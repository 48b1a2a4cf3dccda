"""The Nemesis protocol (how to hurt the cluster and undo it) and the fault-family package.

A fault *family* (`partition`, `clock`, `kill`, …) is one self-describing value, like
Jepsen's `nemesis.combined` packages: which `f`s it handles, how it ends, its options,
how to pick its next fault, which DB capability it needs, and how it is healed at the end.
Each nemesis module exports `FAMILIES = (FaultFamily(...), ...)`; nemesis/registry.py
lists the modules; nemesis/schedule.py composes whatever families a run asks for without
knowing what is inside them. Recorded nemesis events carry `family` and `phase` (start /
stop / sample), which is how reports draw fault windows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

START, STOP, SAMPLE = "start", "stop", "sample"


class Nemesis(Protocol):
    """Injects one or more families of faults.

    Obligations: `invoke(fault)` applies or ends a fault and returns a completion dict
    {"type": "info", "value": {...targets, parameters...}, "error"?}; a failure is returned
    as an `error`, never raised, so the run goes on; `heal_all()` undoes every fault this
    nemesis made, and is idempotent; `teardown()` removes everything setup created.
    Faults are applied inside nodes, never to the controller's own network stack.
    """

    name: str
    faults: tuple[str, ...]

    def setup(self) -> None: ...

    def invoke(self, fault: dict[str, Any]) -> dict[str, Any]: ...

    def heal_all(self) -> dict[str, Any]: ...

    def teardown(self) -> None: ...


@runtime_checkable
class NodeEnv(Protocol):
    """A nemesis that needs the datastore started with extra environment (the clock shim).

    Obligation: `shim_env(node)` returns the variables the node's datastore processes must
    start with; it may be called before `setup()` and at every restart.
    """

    def shim_env(self, node) -> dict[str, str]: ...


@dataclass(frozen=True)
class TemplateContext:
    """What a family's `start_template` may use: the run's seeded rng (its only source of
    randomness, so a seed replays the schedule), the nodes and the fault interval."""

    rng: random.Random
    nodes: Sequence[Any]
    interval: float


@dataclass(frozen=True)
class BuildContext:
    """What a family's `build` gets: nodes, the run prefix (every resource carries it), a
    private rng, the DB (already checked against the family's `needs`) and the run's
    nemesis options (one table per family)."""

    nodes: Sequence[Any]
    prefix: str
    rng: random.Random
    db: Any
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultFamily:
    """One family of faults, as the schedule, the config and the reports see it.

    Obligations: `start_template(ctx, variants, options)` is a pure function of `ctx.rng`
    and its arguments returning an op template {"f": one of `starts`, "value": ...};
    `stop` ends every fault of the family that may be active (it is the final heal) and
    is safe when nothing is active; `validate_options(options)` raises InputError naming
    what is allowed; `build(ctx)` returns the Nemesis that handles `faults`, shared by
    every family with the same `nemesis` key.
    """

    name: str
    nemesis: str                       # key of the Nemesis object serving this family
    starts: tuple[str, ...]            # fs that begin a fault
    stop: str                          # the f that ends them all (also the final heal)
    start_template: Callable[[TemplateContext, tuple[str, ...] | None, Mapping], dict]
    build: Callable[[BuildContext], Nemesis]
    samples: tuple[str, ...] = ()      # fs that only observe (e.g. clock-offsets)
    follow_up: str | None = None       # a sample to take right after every op of the family
    variants: tuple[str, ...] = ()     # `--nemesis <name>-<variant>` narrows the family
    aliases: Mapping[str, str] = field(default_factory=dict)
    option_keys: frozenset[str] = frozenset()
    validate_options: Callable[[Mapping], None] | None = None
    heal_rank: int = 50                # the final heal runs lower ranks first
    needs: tuple[type, ...] = ()       # DB capability protocols (harness/dbs/base.py)
    summary: str = ""                  # one line for --help and the README

    @property
    def faults(self) -> tuple[str, ...]:
        return (*self.starts, self.stop, *self.samples)

    def phase_of(self, f: str) -> str | None:
        if f in self.starts:
            return START
        if f == self.stop:
            return STOP
        if f in self.samples:
            return SAMPLE
        return None
