"""Workloads: what ops to generate over many independent keys, and which checkers apply.

    wl = get_workload("register", keys_active=10, cas=True)
    op = wl.next_op(process=3, rng=random.Random(7))   # {"f": "write", "key": 0, "value": 1}
    wl.final_keys()                                   # every key used, for the final reads
    wl.checkers                                       # its default checker names
    wl.model, wl.spec                                 # what a datastore client must speak
"""

from __future__ import annotations

import importlib
from typing import Any

from splitbrain.harness.errors import InputError
from splitbrain.workloads.base import Workload

# name -> (module, class)
_REGISTRY: dict[str, tuple[str, str]] = {
    "register": ("splitbrain.workloads.register", "RegisterWorkload"),
    "list-append": ("splitbrain.workloads.list_append", "ListAppendWorkload"),
    "set": ("splitbrain.workloads.set", "SetWorkload"),
    "counter": ("splitbrain.workloads.counter", "CounterWorkload"),
    "cas-register": ("splitbrain.workloads.cas_register", "CasRegisterWorkload"),
    "queue": ("splitbrain.workloads.queue", "QueueWorkload"),
    "queue-group": ("splitbrain.workloads.queue", "QueueGroupWorkload"),
    "propagation": ("splitbrain.workloads.propagation", "PropagationWorkload"),
    "propagation-dual-write": ("splitbrain.workloads.propagation", "DualWritePropagationWorkload"),
    "propagation-none": ("splitbrain.workloads.propagation", "NoneConsumerPropagationWorkload"),
    "txn-list-append": ("splitbrain.workloads.txn", "TxnListAppendWorkload"),
    "txn-rw-register": ("splitbrain.workloads.txn", "TxnRwRegisterWorkload"),
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)


def names() -> tuple[str, ...]:
    """The registered workloads (read at call time)."""
    return tuple(_REGISTRY)


def get_workload(name: str, **opts: Any) -> Workload:
    """A fresh workload by name; unknown names or options raise InputError."""
    if name not in _REGISTRY:
        raise InputError(f"workload {name!r}: allowed: {', '.join(names())}")
    mod, cls = _REGISTRY[name]
    factory = getattr(importlib.import_module(mod), cls)
    try:
        return factory(**opts)
    except (TypeError, ValueError) as e:
        raise InputError(f"workload {name}: bad options {sorted(opts)}: {e}") from None


def history_of(name: str | None) -> str | None:
    """The history shape a workload's checkers judge (None for an unknown name)."""
    if name not in _REGISTRY:
        return None
    return get_workload(name).history
