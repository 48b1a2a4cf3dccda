"""The DB and Client protocols (architecture §3)."""

from __future__ import annotations

from typing import Protocol

from harness.cluster.base import Node


class Client(Protocol):
    """A connection of one logical process to one node.

    `invoke(op)` takes an op template {"f", "key", "value"} and returns the completion
    fields {"type": "ok"|"fail"|"info", "value", optional "version", "node", "error"}.
    Obligations (checker-spec §1.4, P3): `fail` only when the op certainly had no effect
    (rejected before it could apply); timeouts, resets and anything ambiguous are `info`.
    Never raises for datastore errors: it maps them. Opening a client must not change the
    logical state of the test.
    """

    def invoke(self, op: dict) -> dict: ...

    def close(self) -> None: ...


class DB(Protocol):
    """Lifecycle of a datastore on nodes.

    setup: install config/data dirs (idempotent); start: launch and record the pid; kill:
    SIGKILL by recorded pid; pause/resume: SIGSTOP/SIGCONT by recorded pid; teardown: stop
    and remove what setup made; log_files: paths on the node worth copying into the store.
    """

    name: str

    def setup(self, node: Node) -> None: ...

    def start(self, node: Node) -> None: ...

    def kill(self, node: Node) -> None: ...

    def pause(self, node: Node) -> None: ...

    def resume(self, node: Node) -> None: ...

    def teardown(self, node: Node) -> None: ...

    def log_files(self, node: Node) -> list[str]: ...

    def primaries(self) -> list[Node]: ...

    def client(self, node: Node, workload: str, process: int) -> Client: ...

    def wait_ready(self, timeout: float) -> None: ...
