"""etcd's options, its command line, and the run settings it accepts.

Light on purpose (no network, no harness imports beyond errors): `harness.config` calls
`validate_test` for `--db etcd`, and `run --help` imports READ_MODES.

    opts = EtcdOptions(read_mode="serializable")
    argv = etcd_argv(node, nodes, opts, data_dir="/…/n1/etcd/data", token="sb1a2b3c")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from splitbrain.harness.errors import InputError

READ_MODES = ("linearizable", "serializable")
WORKLOADS = ("register", "cas-register")
# What the clock nemesis cannot do to etcd, said once (exit 254 through InputError).
CLOCK_UNSUPPORTED = (
    "--nemesis clock is not supported with --db etcd: etcd is a Go program whose runtime "
    "reads the wall clock through the vDSO, not through libc, so the LD_PRELOAD clock shim "
    "(nemesis/clockshim.c) cannot move its clock (checked on Debian's etcd 3.4.23, which "
    "is dynamically linked against libc); use partition, kill or pause")


@dataclass(frozen=True)
class EtcdOptions:
    """How the cluster runs and how clients talk to it.

    read_mode: `linearizable` ranges go through the leader (ReadIndex); `serializable`
    ranges are answered from the member's local state and may be stale.
    op_timeout: the client's wait for a reply; etcd's own request timeout is ~7 s (5 s +
    2 election timeouts), so a write cut off from the leader turns `info` at op_timeout.
    """

    read_mode: str = "linearizable"
    client_port: int = 2379
    peer_port: int = 2380
    heartbeat_ms: int = 100
    election_ms: int = 1000
    connect_timeout: float = 1.0
    op_timeout: float = 2.0
    ready_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.read_mode not in READ_MODES:
            raise InputError(f"--read-mode {self.read_mode!r}: allowed: {', '.join(READ_MODES)}")

    def validate(self, nodes: int) -> None:
        """DatastoreSpec options obligation (checked in __post_init__ already)."""


def etcd_argv(node: Any, nodes: Sequence[Any], opts: EtcdOptions, *, data_dir: str,
              token: str) -> list[str]:
    """The `etcd` command line for one member of a static cluster of `nodes`.

    Only the node's own address is bound (never 127.0.0.1: a system etcd may own
    localhost:2379 on ssh hosts). `--initial-cluster-state new` is ignored by etcd once
    the data dir holds a WAL, so the same argv restarts a killed member as itself."""
    peer = f"http://{node.address}:{opts.peer_port}"
    client = f"http://{node.address}:{opts.client_port}"
    cluster = ",".join(f"{n.name}=http://{n.address}:{opts.peer_port}" for n in nodes)
    return ["etcd", "--name", node.name, "--data-dir", data_dir,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", token,
            "--heartbeat-interval", str(opts.heartbeat_ms),
            "--election-timeout", str(opts.election_ms),
            # Long runs write millions of revisions; without compaction the backend would
            # reach its 2 GB quota and raise NOSPACE. Latest values and their
            # mod_revisions are unaffected by compaction.
            "--auto-compaction-mode", "revision", "--auto-compaction-retention", "100000",
            "--logger", "zap", "--log-outputs", "stderr"]


def validate_test(test: Any, families: dict) -> None:
    """What `--db etcd` accepts (InputError, exit 254, otherwise). `families` is the parsed
    `--nemesis` (nemesis.schedule.parse_spec)."""
    if test.read_mode not in READ_MODES:
        raise InputError(f"--read-mode {test.read_mode!r}: allowed: {', '.join(READ_MODES)}")
    if test.workload not in WORKLOADS:
        raise InputError(f"--workload {test.workload!r} is not supported with --db etcd; "
                         f"allowed: {', '.join(WORKLOADS)}")
    if "clock" in families:
        raise InputError(CLOCK_UNSUPPORTED)
