"""Clusters: where nodes come from (network namespaces, Docker containers, SSH hosts).

Backends are registered parts: one tuple of module names, each exporting `BACKEND` (a
BackendSpec, harness/cluster/base.py); adding one is a module plus a line here.
"""

import importlib as _importlib
import sys as _sys

from splitbrain.harness import registry as registry

MODULES = (
    "splitbrain.harness.cluster.netns",
    "splitbrain.harness.cluster.docker",
    "splitbrain.harness.cluster.ssh",
)
NAMES = tuple(m.rsplit(".", 1)[1] for m in MODULES)  # a module is named after its backend


def names() -> tuple:
    """The registered backends' names (read at call time)."""
    return tuple(m.rsplit(".", 1)[1] for m in MODULES)


def backend(name: str):
    """The BackendSpec called `name` (imported on first use)."""
    from splitbrain.harness.errors import InputError

    for mod in MODULES:
        if mod.rsplit(".", 1)[1] == name:
            return _importlib.import_module(mod).BACKEND
    raise InputError(f"--backend {name!r}: allowed: {', '.join(names())}")

# The run registry lived here before it moved below control/ and cluster/; old imports
# (`harness.registry`) still find the one module.
_sys.modules.setdefault(__name__ + ".registry", registry)
