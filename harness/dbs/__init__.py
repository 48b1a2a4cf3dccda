"""Datastores as registered parts: one tuple of module names, each exporting `SPEC`.

    spec = datastore("redis")           # a DatastoreSpec (harness/dbs/base.py)
    opts = spec.options_of(test)        # RedisOptions(topology=..., read_from=...)
    db = spec.make(nodes, DBContext(run_dir, prefix, node_env), opts)

Adding a datastore is one module (or package) with a `SPEC` plus one line here; the
config, `run --db`, the test name, preflight, the docker image and ssh provisioning all
read the spec. Modules are imported on first use, so `splitbrain check` never loads them.
"""

from __future__ import annotations

import importlib

MODULES = (
    "splitbrain.harness.dbs.redis",
    "splitbrain.harness.dbs.cassandra",
    "splitbrain.harness.dbs.etcd",
    "splitbrain.harness.dbs.kafka",
)

NAMES = tuple(m.rsplit(".", 1)[1] for m in MODULES)  # a module is named after its datastore


def names() -> tuple[str, ...]:
    """The registered datastores' names (read at call time)."""
    return tuple(m.rsplit(".", 1)[1] for m in MODULES)


def datastore(name: str):
    """The DatastoreSpec called `name` (InputError naming the allowed ones otherwise)."""
    from splitbrain.harness.errors import InputError

    for mod in MODULES:
        if mod.rsplit(".", 1)[1] == name:
            spec = importlib.import_module(mod).SPEC
            assert spec.name == name, f"{mod}.SPEC is named {spec.name!r}"
            return spec
    raise InputError(f"--db {name!r}: allowed: {', '.join(names())}")
