"""The Workload protocol: what ops to generate, the final reads, the checkers that apply."""

from __future__ import annotations

import random
from typing import Any, Protocol


class Workload(Protocol):
    """A generator of op templates over many independent keys.

    Obligations: written values are unique per key (per set for `add`) so every observed
    value maps to one write (checker-spec §2.1); each key is retired after a bounded number
    of writes; `next_op` is thread-safe; `final_keys()` lists every key ever used so the
    final phase can read each on every node.
    """

    name: str
    checkers: tuple[str, ...]

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]: ...

    def final_keys(self) -> list[Any]: ...
