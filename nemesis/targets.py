"""Which nodes a fault hits: Jepsen's target specs (`one`, `minority`, `majority`,
`primaries`, `all`), `one-primary` (one of the primaries: a store whose partitions have
different leaders, as Kafka's, would lose every node to `primaries`), plus explicit node
names, resolved with the run's seeded rng.

    choose_targets("minority", nodes, rng)            # e.g. [n3, n1] of five
    choose_targets(["n2"], nodes, rng)                # exactly n2
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

from splitbrain.harness.errors import InputError

TARGET_SPECS = ("one", "minority", "majority", "primaries", "one-primary", "all")


def choose_targets(spec, nodes: Sequence, rng: random.Random,
                   primaries_fn: Callable[[], Sequence] | None = None) -> list:
    """The nodes `spec` names, in node order.

    spec: one of TARGET_SPECS, or a list of node names. `minority` is 1..⌊(n-1)/2⌋ nodes
    (at least one), `majority` ⌊n/2⌋+1..n-1 (but at least one); `primaries` asks
    `primaries_fn` and falls back to one random node when there is none or it fails,
    because "hit the primary" must still hit something; `one-primary` is one random node
    of those.
    """
    nodes = list(nodes)
    if not nodes:
        return []
    if isinstance(spec, (list, tuple)):
        by_name = {n.name: n for n in nodes}
        unknown = [s for s in spec if s not in by_name]
        if unknown:
            raise InputError(f"unknown node(s) {unknown}; nodes are {sorted(by_name)}")
        return [n for n in nodes if n.name in set(spec)]
    n = len(nodes)
    if spec == "one":
        picked = rng.sample(nodes, 1)
    elif spec == "minority":
        picked = rng.sample(nodes, rng.randint(1, max(1, (n - 1) // 2)))
    elif spec == "majority":
        low = n // 2 + 1
        picked = rng.sample(nodes, rng.randint(min(low, n), max(min(low, n), n - 1)))
    elif spec == "all":
        picked = nodes
    elif spec in ("primaries", "one-primary"):
        prim = []
        if primaries_fn is not None:
            try:
                prim = list(primaries_fn() or [])
            except Exception:  # a DB that cannot tell is not a reason to stop the run
                prim = []
        names = {p.name if hasattr(p, "name") else str(p) for p in prim}
        picked = [x for x in nodes if x.name in names] or rng.sample(nodes, 1)
        if spec == "one-primary":
            picked = rng.sample(picked, 1)
    else:
        raise InputError(f"unknown target {spec!r}; use one of {', '.join(TARGET_SPECS)} "
                         f"or a list of node names")
    chosen = {x.name for x in picked}
    return [x for x in nodes if x.name in chosen]


def pick_target(rng: random.Random, options, default: Sequence[str]):
    """A target spec for the next fault: one of `options["targets"]` (a list of specs),
    the string given there, or one of `default` — drawn from the schedule's rng."""
    t = (options or {}).get("targets")
    if isinstance(t, list) and t and all(x in TARGET_SPECS for x in t):
        return rng.choice(t)
    if isinstance(t, str):
        return t
    return rng.choice(tuple(default))


def target_names(spec, nodes: Sequence, rng: random.Random) -> list[str]:
    """Node names for a template built before the fault runs. `primaries` (and
    `one-primary`) becomes one random node here: who leads is only known when the fault
    is applied."""
    if spec in ("primaries", "one-primary"):
        return [rng.choice(list(nodes)).name]
    return [n.name for n in choose_targets(spec, nodes, rng, None)]


def check_targets(family: str, options) -> None:
    """InputError unless every `targets` entry of a family's options is a target spec."""
    t = (options or {}).get("targets")
    if t is not None and not isinstance(t, (list, str)):
        raise InputError(f"nemesis option {family}.targets: a list of "
                         f"{', '.join(TARGET_SPECS)}, not {t!r}")
    if isinstance(t, str) and t not in TARGET_SPECS:
        raise InputError(f"nemesis option {family}.targets: {t!r} is not one of "
                         f"{', '.join(TARGET_SPECS)}")
    for x in t if isinstance(t, list) else []:
        if x not in TARGET_SPECS:
            raise InputError(f"nemesis option {family}.targets: {x!r} is not one of "
                             f"{', '.join(TARGET_SPECS)}")
