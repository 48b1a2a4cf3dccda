"""The Workload protocol: its data model, what ops to generate, the final reads, and the
checkers that apply by default."""

from __future__ import annotations

import random
from typing import Any, Protocol

from splitbrain.harness.models import OpSpec


class Workload(Protocol):
    """A generator of op templates over many independent keys.

    Obligations: every op's `f` is in `ops`, and `ops` lie within the model's ops (so any
    client of the model can run it); written values are unique per key (per set for
    `add`) so every observed value maps to one write (checker-spec §2.1); each key is
    retired after a bounded number of writes; `next_op` is thread-safe; `final_keys()`
    lists every key ever used so the final phase can read each on every node.
    """

    name: str
    model: str                       # harness/models.py MODELS
    checkers: tuple[str, ...]        # default checker names
    ops: frozenset[str]              # the fs next_op emits (within the model's ops)
    spec: OpSpec                     # what the datastore client must speak
    history: str                     # the history shape the checkers are told

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]: ...

    def final_keys(self) -> list[Any]: ...
