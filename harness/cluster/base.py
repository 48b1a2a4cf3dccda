"""Nodes and the Cluster protocol (architecture §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.control.base import Remote


@dataclass
class Node:
    """One machine of the cluster under test.

    name: short name used in histories and reports ("n1"); address: the IP clients and
    peers use; remote: how to act on it; workdir: a directory on the node the run owns;
    iface: the node's network interface toward its peers (for tc / iptables).
    """

    name: str
    address: str
    remote: Remote
    workdir: str
    iface: str = "eth0"
    meta: dict[str, Any] = field(default_factory=dict)


class Cluster(Protocol):
    """Provisions nodes for one run.

    Obligations: every resource created carries the run prefix (names, labels, comments)
    so `splitbrain cleanup` finds leftovers; `down()` removes all of them and is
    idempotent; node networks have no route out.
    """

    prefix: str

    def up(self) -> list[Node]: ...

    def down(self) -> None: ...
