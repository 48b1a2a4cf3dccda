"""Which fault families exist: one tuple of module names, each exporting `FAMILIES`.

Adding a family is one module with a `FAMILIES = (FaultFamily(...),)` value plus one line
here; the schedule, `--nemesis` parsing, option checks, --help and the reports' fault
windows all come from the package values.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from splitbrain.nemesis.base import FaultFamily

MODULES = (
    "splitbrain.nemesis.partition",
    "splitbrain.nemesis.clock",
    "splitbrain.nemesis.process",
    "splitbrain.nemesis.netem",
    "splitbrain.nemesis.disk",
    "splitbrain.nemesis.slot_migrate",
    "splitbrain.nemesis.pipeline",
)


def families() -> dict[str, FaultFamily]:
    """Every registered family by name, in registry order."""
    return _load(tuple(MODULES))


@lru_cache(maxsize=8)
def _load(modules: tuple[str, ...]) -> dict[str, FaultFamily]:
    out: dict[str, FaultFamily] = {}
    for mod in modules:
        for fam in importlib.import_module(mod).FAMILIES:
            if fam.name in out:
                raise RuntimeError(f"fault family {fam.name!r} registered twice ({mod})")
            out[fam.name] = fam
    return out


def family_of_f() -> dict[str, str]:
    """{f: family name} for every f any family handles."""
    return {f: fam.name for fam in families().values() for f in fam.faults}
