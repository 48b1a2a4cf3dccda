"""The Nemesis protocol: how to hurt the cluster, and how to undo it."""

from __future__ import annotations

from typing import Any, Protocol


class Nemesis(Protocol):
    """Injects one family of faults.

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
