"""The Test: one frozen value describing a run, built from flags and an optional TOML file.

Flags override the file; the file overrides the defaults. Validation happens here, once,
and raises InputError with what is allowed (architecture: errors at the boundary).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from harness.errors import InputError

DBS = ("redis", "cassandra", "etcd", "kafka")
TOPOLOGIES = ("replication", "sentinel")
BACKENDS = ("netns", "docker", "ssh")
CONSISTENCY = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM")
TIMESTAMPS = ("server", "client")
WORKLOADS = ("register", "list-append", "set", "counter", "cas-register", "queue", "queue-group",
             "propagation", "propagation-dual-write", "propagation-none")
READ_FROM = ("primary", "replicas", "any")
STICKINESS = ("node", "random")


@dataclass(frozen=True)
class Test:
    """Everything that defines a run. `seed` None means: pick one and record it."""

    __test__ = False  # not a pytest test class

    name: str | None = None
    db: str = "redis"
    topology: str = "replication"
    backend: str = "netns"
    nodes: int = 3
    workload: str = "register"
    nemesis: str = "partition"
    nemesis_interval: float = 10.0
    time_limit: float = 30.0
    concurrency: int = 10
    rate: float = 1000.0  # ops/s across all workers; 0 = unlimited
    read_from: str = "replicas"
    stickiness: str = "node"
    quiesce: float = 3.0
    seed: int | None = None
    store: str = "./store"
    test_count: int = 1
    leave_db_running: bool = False
    subnet: str | None = None  # None: a free /24 under 10.77.0.0/16
    staleness_bound: str | None = None
    max_lag: str | None = None  # queue: the queue-lag gate (checkers/queue/lag.py)
    max_propagation_lag: str | None = None  # propagation: the p99 lag gate
    checkers: tuple[str, ...] | None = None
    keys_active: int = 10
    max_writes_per_key: int | None = None
    max_ops: int = 2_000_000  # hard bound on ops per run (load loops are bounded)
    nemesis_options: dict = field(default_factory=dict)
    fail_on: str = "unknown"  # "invalid": an unknown verdict passes (exit 0, JUnit skipped)
    partition: str | None = None  # an explicit grudge, e.g. "n1,n2|n3,n4,n5" or "n1>n2"
    packet_engine: str = "auto"  # auto (netem if the kernel has it, else nfqueue), netem, nfqueue
    redis_appendfsync: str | None = None  # None: no persistence; always, everysec, no: AOF
    # docker backend
    image: str | None = None  # None: the offline-built splitbrain node image
    docker_host: str | None = None  # None: DOCKER_HOST or the local engine
    # ssh backend
    ssh_nodes: tuple[str, ...] = ()  # host[:port], repeatable --node
    nodes_file: str | None = None
    ssh_user: str = "root"
    ssh_key: str | None = None
    ssh_password: str | None = None
    ssh_insecure: bool = False
    ssh_known_hosts: str | None = None  # None: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
    # cassandra
    read_consistency: str = "QUORUM"
    write_consistency: str = "QUORUM"
    timestamps: str = "server"
    cassandra_version: str | None = None
    cassandra_home: str | None = None
    cassandra_commitlog_sync: str = "periodic"  # periodic, batch, group
    # etcd (harness/dbs/etcd)
    read_mode: str = "linearizable"
    # kafka (harness/dbs/kafka): producer acks, topic min.insync.replicas, idempotence
    kafka_acks: str = "all"
    kafka_min_insync: int = 2
    kafka_idempotence: bool = True

    @property
    def test_name(self) -> str:
        if self.name:
            return self.name
        if self.db == "cassandra":
            return f"cassandra-{self.read_consistency.lower()}-{self.write_consistency.lower()}-{self.workload}"
        if self.db == "etcd":
            return f"etcd-{self.read_mode}-{self.workload}"
        if self.db == "kafka":
            return f"kafka-acks{self.kafka_acks}-isr{self.kafka_min_insync}-{self.workload}"
        return f"{self.db}-{self.topology}-{self.workload}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["test_name"] = self.test_name
        if d["checkers"] is not None:
            d["checkers"] = list(d["checkers"])
        d["ssh_nodes"] = list(d["ssh_nodes"])
        if d.get("ssh_password"):
            d["ssh_password"] = "***"  # never written to the store
        return d


FIELD_NAMES = {f.name for f in fields(Test)}


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"--{name.replace('_', '-')} {value!r}: allowed: {', '.join(allowed)}")


def validate(test: Test) -> Test:
    _choice("db", test.db, DBS)
    _choice("topology", test.topology, TOPOLOGIES)
    _choice("backend", test.backend, BACKENDS)
    _choice("workload", test.workload, WORKLOADS)
    _choice("read_from", test.read_from, READ_FROM)
    _choice("stickiness", test.stickiness, STICKINESS)
    _choice("fail_on", test.fail_on, ("invalid", "unknown"))
    _choice("packet_engine", test.packet_engine, ("auto", "netem", "nfqueue"))
    if test.redis_appendfsync is not None:
        _choice("redis_appendfsync", test.redis_appendfsync, ("always", "everysec", "no"))
    if test.db == "cassandra":
        _choice("read_consistency", test.read_consistency, CONSISTENCY)
        _choice("write_consistency", test.write_consistency, CONSISTENCY)
        _choice("timestamps", test.timestamps, TIMESTAMPS)
        _choice("cassandra_commitlog_sync", test.cassandra_commitlog_sync,
                ("periodic", "batch", "group"))
        if not 1 <= test.nodes <= 5:
            raise InputError(f"--nodes {test.nodes}: Cassandra runs 1 to 5 nodes")
    if test.workload in ("queue", "queue-group") and test.db not in ("redis", "kafka"):
        raise InputError(f"--workload {test.workload} runs on Redis Streams or Kafka: use --db redis or kafka")
    if test.workload.startswith("propagation") and (test.db, test.topology, test.backend) != (
            "redis", "replication", "netns"):
        raise InputError(f"--workload {test.workload} runs on --db redis --topology replication "
                         f"with the netns backend (its relay and consumer follow n1)")
    if test.db == "kafka":
        if test.workload != "queue":
            raise InputError(f"--db kafka runs the queue workload, not {test.workload!r}")
        _choice("kafka_acks", test.kafka_acks, ("all", "1", "0"))
        if not 1 <= test.kafka_min_insync <= min(3, test.nodes):
            raise InputError(f"--kafka-min-insync {test.kafka_min_insync}: allowed 1 to {min(3, test.nodes)}")
        if not 1 <= test.nodes <= 5:
            raise InputError(f"--nodes {test.nodes}: Kafka runs 1 to 5 nodes")
        if test.backend != "netns":
            raise InputError("--db kafka runs on the netns backend only (the JVMs run this "
                             "machine's cached jars)")
    if test.backend == "ssh" and not (test.ssh_nodes or test.nodes_file):
        raise InputError("--backend ssh needs the hosts: --node host[:port] (repeatable) or --nodes-file FILE")
    if not 1 <= test.nodes <= 9:
        raise InputError(f"--nodes {test.nodes}: allowed: 1 to 9")
    if test.db == "redis" and test.topology == "sentinel" and test.nodes < 3:
        raise InputError("--topology sentinel needs --nodes 3 or more (a Sentinel majority)")
    if test.read_from == "replicas" and test.nodes < 2:
        raise InputError("--read-from replicas needs --nodes 2 or more")
    if not 0 < test.time_limit <= 24 * 3600:
        raise InputError(f"--time-limit {test.time_limit}: allowed: more than 0, at most 86400 seconds")
    if not 1 <= test.concurrency <= 1000:
        raise InputError(f"--concurrency {test.concurrency}: allowed: 1 to 1000")
    if test.rate < 0:
        raise InputError(f"--rate {test.rate}: allowed: 0 (unlimited) or a positive number of ops/s")
    if test.nemesis_interval <= 0:
        raise InputError(f"--nemesis-interval {test.nemesis_interval}: must be more than 0 seconds")
    if test.quiesce < 0:
        raise InputError(f"--quiesce {test.quiesce}: must be 0 or more seconds")
    if test.test_count < 1:
        raise InputError(f"--test-count {test.test_count}: must be 1 or more")
    if test.subnet is not None:
        try:
            net = ipaddress.ip_network(test.subnet, strict=False)
        except ValueError:
            raise InputError(f"--subnet {test.subnet!r}: expected a private IPv4 network like 10.77.0.0/24") from None
        if not (net.version == 4 and net.is_private) or net.num_addresses < test.nodes + 3:
            raise InputError(f"--subnet {test.subnet!r}: must be a private IPv4 range with room for {test.nodes} nodes")
    from nemesis.schedule import check_options, parse_spec

    families = parse_spec(test.nemesis)
    check_options(test.nemesis_options, families)
    if test.db == "etcd":
        from harness.dbs.etcd.config import validate_test

        validate_test(test, families)
    if test.partition:
        from nemesis.partition import validate_fault

        if "partition" not in families:
            raise InputError(f"--partition {test.partition!r} needs the partition nemesis "
                             f"(--nemesis partition, not {test.nemesis!r})")
        validate_fault({"f": "start-partition", "value": test.partition},
                       [f"n{i}" for i in range(1, test.nodes + 1)])
    if test.staleness_bound:
        from checkers.options import parse_staleness_bound

        parse_staleness_bound(test.staleness_bound)
    if test.max_lag:
        from checkers.options import parse_max_lag

        parse_max_lag(test.max_lag)
    if test.max_propagation_lag:
        from checkers.options import parse_max_lag

        parse_max_lag(test.max_propagation_lag, "--max-propagation-lag")
    return test


def load_toml(path: str) -> dict[str, Any]:
    """Read a run config file; keys are the long flag names (dashes or underscores)."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as e:
        raise InputError(f"{path}: cannot read config: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None
    out: dict[str, Any] = {}
    for k, v in raw.items():
        name = k.replace("-", "_")
        if name not in FIELD_NAMES:
            raise InputError(f"{path}: unknown setting {k!r}; allowed: "
                             + ", ".join(sorted(n.replace('_', '-') for n in FIELD_NAMES)))
        out[name] = v
    return out


def build_test(flags: dict[str, Any], config_path: str | None = None) -> Test:
    """Defaults <- TOML file <- explicitly given flags (None means "not given")."""
    values: dict[str, Any] = {}
    if config_path:
        values.update(load_toml(config_path))
    for k, v in flags.items():
        if v is not None:
            values[k] = v
    if isinstance(values.get("ssh_nodes"), (list, str)):
        v = values["ssh_nodes"]
        values["ssh_nodes"] = tuple(v.split(",") if isinstance(v, str) else v)
    if values.get("backend") == "ssh":
        # the cluster is the hosts the user named: their count is the node count
        hosts = list(values.get("ssh_nodes") or ())
        if values.get("nodes_file"):
            from harness.cluster.ssh import read_nodes_file

            hosts += read_nodes_file(values["nodes_file"])
        if hosts:
            values["nodes"] = len(hosts)
    if isinstance(values.get("checkers"), str):
        values["checkers"] = tuple(c.strip() for c in values["checkers"].split(",") if c.strip())
    elif isinstance(values.get("checkers"), list):
        values["checkers"] = tuple(values["checkers"])
    try:
        test = Test(**values)
    except TypeError as e:
        raise InputError(f"bad run settings: {e}") from None
    for f in fields(Test):
        v = getattr(test, f.name)
        if f.type in ("int", "float") and not isinstance(v, (int, float)):
            raise InputError(f"{f.name.replace('_', '-')}: expected a number, got {v!r}")
    return validate(test)


def nemesis_options_of(test: Test) -> dict:
    """The nemesis options with `--partition` folded in (it becomes the only shape)."""
    opts = {k: dict(v) for k, v in test.nemesis_options.items()}
    if test.partition:
        opts.setdefault("partition", {})["shapes"] = [test.partition]
    if test.packet_engine != "auto":
        opts.setdefault("packet", {})["engine"] = test.packet_engine
    return opts


def with_seed(test: Test) -> Test:
    if test.seed is not None:
        return test
    return replace(test, seed=int.from_bytes(os.urandom(4), "big"))
