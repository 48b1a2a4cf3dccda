"""Nodes and the Cluster protocol (architecture §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from splitbrain.harness.control.base import Remote


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


@dataclass(frozen=True)
class NodeNeeds:
    """What a datastore needs installed on every node: command -> Debian package.

    Datastores declare it (their spec in harness/dbs/); the runner hands it to the
    cluster, which checks a docker image or an ssh host for the commands (installing the
    packages where it may), and preflight checks this machine for the netns backend."""

    tools: Mapping[str, str] = field(default_factory=dict)
    hint: str = ""  # how to install them on this machine (one sentence)
    # A datastore that runs this machine's cached install (Kafka: the Maven jars and the
    # JVM) names its directories here, as a function called when the cluster comes up
    # (it may install them first). A backend that sees the controller's files (docker on
    # the local engine, which the docker backend requires anyway) bind-mounts them
    # read-only at the same paths, so its image then needs none of `tools`; the others
    # ignore it (ssh hosts get `tools` installed; netns shares the files).
    host_dirs: Callable[[], Sequence[str]] | None = None

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(self.tools)

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.tools.values())))

    def in_image(self) -> "NodeNeeds":
        """What a docker image must carry itself: nothing when `host_dirs` brings it."""
        return NodeNeeds() if self.host_dirs is not None else self


# The built-in datastores' needs, for callers that name a datastore instead of passing
# its NodeNeeds (image builds, older callers). Runs pass the spec's NodeNeeds, so a new
# datastore does not need a line here.
BUILTIN_NEEDS: dict[str, NodeNeeds] = {
    "redis": NodeNeeds({"redis-server": "redis-server", "redis-sentinel": "redis-sentinel",
                        "redis-cli": "redis-tools"},
                       "bash scripts/setup.sh (Debian: redis-server redis-sentinel redis-tools "
                       "iptables iproute2)"),
    "cassandra": NodeNeeds({"java": "openjdk-17-jre-headless"},
                           "bash scripts/setup.sh --cassandra (Debian: openjdk-17-jre-headless "
                           "maven)"),
    "etcd": NodeNeeds({"etcd": "etcd-server"},
                      "bash scripts/setup.sh (Debian: etcd-server iptables iproute2)"),
}


def needs_of(db: "str | NodeNeeds | None") -> NodeNeeds:
    """A datastore's NodeNeeds from itself or a built-in datastore's name (none: {})."""
    if isinstance(db, NodeNeeds):
        return db
    return BUILTIN_NEEDS.get(db or "", NodeNeeds())


@dataclass(frozen=True)
class BackendSpec:
    """One backend (where nodes come from) as a registered part (harness/cluster/__init__.py).

    Obligations: `make(test, prefix, workdir_root, needs)` returns a Cluster and creates
    nothing before its `up()`; `local` says the datastore runs on this machine (preflight
    then checks `needs` here, and root); `flags` are the run flags that belong to it.
    """

    name: str
    summary: str
    make: Any
    local: bool = False
    flags: tuple[str, ...] = ()
