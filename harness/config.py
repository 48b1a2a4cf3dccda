"""The Test: one frozen value describing a run, built from flags and an optional TOML file.

Flags override the file; the file overrides the defaults. Validation happens here, once,
and raises InputError with what is allowed (architecture: errors at the boundary).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# The registries' names, re-exported for `run --help` choices (validation reads the
# registries at call time: harness/dbs, harness/cluster, workloads).
from splitbrain.harness.cluster import NAMES as BACKENDS  # noqa: F401
from splitbrain.harness.dbs import NAMES as DBS  # noqa: F401
from splitbrain.harness.errors import InputError
from splitbrain.workloads import NAMES as WORKLOADS  # noqa: F401

TOPOLOGIES = ("replication", "sentinel", "cluster")
CONSISTENCY = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM", "EACH_QUORUM")
TIMESTAMPS = ("server", "client")
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
    consumer_idempotency: str | None = None  # propagation: none|dedupe|version (None: the workload's)
    queue: str = "redis"  # propagation: the events queue, redis (Streams) or kafka
    source: str = "redis"  # propagation: the source store, redis or cassandra (co-hosted)
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
    kafka_acks: str | None = None  # aliases of the kafka spec's options (harness/dbs/kafka)
    kafka_min_insync: int | None = None
    kafka_idempotence: bool | None = None
    # any datastore option by name (`--db-opt key=value`, TOML `[db-options]`); the
    # datastore's own flags above are aliases of these
    db_options: dict = field(default_factory=dict)
    # the backend's options by name (`--backend-opt key=value`, TOML `[backend-options]`):
    # what was given that way, applied to the backend's own settings above (image,
    # docker_host, ssh_user, …), which stay the flags' names
    backend_options: dict = field(default_factory=dict)
    # what the config adjusted, one sentence each (printed by `run`, kept in test.json)
    notices: tuple[str, ...] = ()

    @property
    def test_name(self) -> str:
        if self.name:
            return self.name
        spec = self.datastore
        return spec.label(spec.options_of(self), self.workload)

    @property
    def datastore(self):
        """The DatastoreSpec of `db` (harness/dbs/__init__.py)."""
        from splitbrain.harness.dbs import datastore

        return datastore(self.db)

    @property
    def db_settings(self):
        """The datastore's options dataclass, from its flags and `db_options`."""
        return self.datastore.options_of(self)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["test_name"] = self.test_name
        if d["checkers"] is not None:
            d["checkers"] = list(d["checkers"])
        d["ssh_nodes"] = list(d["ssh_nodes"])
        d["notices"] = list(d["notices"])
        if d.get("ssh_password"):
            d["ssh_password"] = "***"  # never written to the store
        return d


# Settings a user may give (flags, TOML, the Python API); `notices` is ours.
FIELD_NAMES = {f.name for f in fields(Test)} - {"notices"}
NAME_MAX = 100
DEFAULT_NEMESIS_INTERVAL = 10.0
# A node network must be a private IPv4 range of /24 to /28: a larger one would route a
# whole private range into the bridge, a smaller one has no room for nodes.
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                          "192.168.0.0/16"))

log = logging.getLogger("splitbrain")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_types(values: dict[str, Any]) -> None:
    """The typed schema of every setting, from flags, TOML and the Python API alike.

    Each value must have its field's declared type (no coercion: a TOML `"false"` is a
    string, not a boolean), numbers that mean a quantity must be finite, and a name is
    bounded. Raises InputError with one sentence naming the setting."""
    types = {f.name: f.type for f in fields(Test)}
    for name, v in values.items():
        t = types.get(name)
        if t is None:
            continue
        optional = t.endswith("| None")
        if v is None:
            if optional:
                continue
            raise InputError(f"{_flag(name)}: a value is required")
        base = t.replace(" | None", "")
        if base == "bool":
            if type(v) is not bool:
                raise InputError(f"{_flag(name)}: expected true or false, got {v!r}")
        elif base == "int":
            if type(v) is not int:
                raise InputError(f"{_flag(name)}: expected a whole number, got {v!r}")
        elif base == "float":
            if type(v) not in (int, float):
                raise InputError(f"{_flag(name)}: expected a number, got {v!r}")
            if not math.isfinite(v):
                raise InputError(f"{_flag(name)}: expected a finite number, got {v!r}")
        elif base == "str":
            if type(v) is not str:
                raise InputError(f"{_flag(name)}: expected a string, got {v!r}")
        elif base.startswith("tuple[str"):
            if not isinstance(v, (tuple, list)) or not all(type(x) is str for x in v):
                raise InputError(f"{_flag(name)}: expected a list of strings, got {v!r}")
        elif base == "dict" and name == "nemesis_options":
            if not isinstance(v, dict) or not all(isinstance(x, dict) for x in v.values()):
                raise InputError(f"{_flag(name)}: expected a table of tables "
                                 f"(family -> options), got {v!r}")
        elif base == "dict":
            if not isinstance(v, dict) or not all(
                    type(x) in (str, int, float, bool) for x in v.values()):
                raise InputError(f"{_flag(name)}: expected a table of plain values, got {v!r}")
            bad = [x for x in v.values() if type(x) is float and not math.isfinite(x)]
            if bad:
                raise InputError(f"{_flag(name)}: expected finite numbers, got {bad[0]!r}")
    name = values.get("name")
    if isinstance(name, str) and not 1 <= len(name) <= NAME_MAX:
        raise InputError(f"--name: 1 to {NAME_MAX} characters, not {len(name)}")


def check_subnet(subnet: str, nodes: int) -> None:
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise InputError(f"--subnet {subnet!r}: expected a private IPv4 network like 10.77.0.0/24") from None
    if not (net.version == 4 and any(net.subnet_of(r) for r in PRIVATE_RANGES)):
        raise InputError(f"--subnet {subnet!r}: must be a private IPv4 range inside 10.0.0.0/8, "
                         f"172.16.0.0/12 or 192.168.0.0/16")
    if not 24 <= net.prefixlen <= 28:
        raise InputError(f"--subnet {subnet!r}: must be a private IPv4 range of /24 to /28 "
                         f"(not /{net.prefixlen})")
    if net.num_addresses < nodes + 3:
        raise InputError(f"--subnet {subnet!r}: must be a private IPv4 range with room for {nodes} nodes")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"--{name.replace('_', '-')} {value!r}: allowed: {', '.join(allowed)}")


def validate(test: Test) -> Test:
    if test.name is not None:
        from splitbrain.harness.store import validate_test_name

        validate_test_name(test.name)
    from splitbrain.harness import cluster, dbs
    import splitbrain.workloads as workloads

    _choice("db", test.db, dbs.names())
    _choice("backend", test.backend, cluster.names())
    _choice("workload", test.workload, workloads.names())
    _choice("stickiness", test.stickiness, STICKINESS)
    _choice("fail_on", test.fail_on, ("invalid", "unknown"))
    _choice("packet_engine", test.packet_engine, ("auto", "netem", "nfqueue"))
    if test.backend == "ssh" and not (test.ssh_nodes or test.nodes_file):
        raise InputError("--backend ssh needs the hosts: --node host[:port] (repeatable) or --nodes-file FILE")
    if not 1 <= test.nodes <= 9:
        raise InputError(f"--nodes {test.nodes}: allowed: 1 to 9")
    opts = test.db_settings  # the datastore validates its own options (harness/dbs/base.py)
    if test.datastore.rules is not None:
        test.datastore.rules(test, opts)  # what else it cannot run (e.g. a workload's backend)
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
        check_subnet(test.subnet, test.nodes)
    from splitbrain.nemesis.schedule import check_options, parse_spec

    families = parse_spec(test.nemesis)
    check_options(test.nemesis_options, families)
    from splitbrain.nemesis.schedule import check_capabilities

    spec = test.datastore
    for fam in families:
        if fam in spec.refuses:
            raise InputError(spec.refuses[fam])
    check_capabilities(families, capabilities=spec.capabilities(), db_name=test.db)
    from splitbrain.workloads import get_workload

    # a workload that names no model (written before harness/models.py) is not checked here
    model = getattr(get_workload(test.workload), "model", None)
    if model is not None and model not in spec.models:
        raise InputError(f"--workload {test.workload!r} is not supported with --db {test.db} "
                         f"(its {model} model); allowed: "
                         f"{', '.join(w for w in workloads.names() if getattr(get_workload(w), 'model', None) in spec.models)}")
    if families and test.nemesis_interval >= test.time_limit:
        raise InputError(f"--nemesis-interval {test.nemesis_interval:g} does not fit in "
                         f"--time-limit {test.time_limit:g}: no fault would ever be injected; "
                         f"choose an interval below {test.time_limit:g} s or --nemesis none")
    if test.partition:
        from splitbrain.nemesis.partition import validate_fault

        if "partition" not in families:
            raise InputError(f"--partition {test.partition!r} needs the partition nemesis "
                             f"(--nemesis partition, not {test.nemesis!r})")
        validate_fault({"f": "start-partition", "value": test.partition},
                       [f"n{i}" for i in range(1, test.nodes + 1)])
    # explicit grudges among the configured shapes name nodes too: one that names a node
    # the run does not have would fail every partition the schedule starts
    from splitbrain.nemesis.partition import is_explicit_grudge, validate_fault

    for shape in (test.nemesis_options.get("partition") or {}).get("shapes") or ():
        if is_explicit_grudge(shape):
            validate_fault({"f": "start-partition", "value": shape},
                           [f"n{i}" for i in range(1, test.nodes + 1)])
    if test.staleness_bound:
        from splitbrain.checkers.options import parse_staleness_bound

        parse_staleness_bound(test.staleness_bound)
    if test.max_lag:
        from splitbrain.checkers.options import parse_max_lag

        parse_max_lag(test.max_lag)
    if test.consumer_idempotency is not None:
        _choice("consumer_idempotency", test.consumer_idempotency, ("none", "dedupe", "version"))
        if not str(test.workload).startswith("propagation"):
            raise InputError(f"--consumer-idempotency is an option of the propagation "
                             f"workloads, not of --workload {test.workload}")
    from splitbrain.nemesis.pipeline import check_source, check_workload

    check_workload(families, test.workload, test.queue)  # pipeline faults need its agents
    check_source(test.source, test.workload, test.queue)
    if test.max_propagation_lag:
        from splitbrain.checkers.options import parse_max_lag

        parse_max_lag(test.max_propagation_lag, "--max-propagation-lag")
    if test.checkers is not None:
        from splitbrain.checkers import FAMILIES as CHECKERS

        unknown = [c for c in test.checkers if c not in CHECKERS]
        if unknown or not test.checkers:
            raise InputError(f"--checkers {','.join(test.checkers)!r}: unknown checker "
                             f"{(unknown or [''])[0]!r}; allowed: {', '.join(CHECKERS)}")
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
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid TOML: the file is not UTF-8") from None
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
            from splitbrain.harness.cluster.ssh import read_nodes_file

            hosts += read_nodes_file(values["nodes_file"])
        if hosts:
            values["nodes"] = len(hosts)
    if isinstance(values.get("db_options"), (list, tuple)):  # --db-opt key=value, repeatable
        values["db_options"] = parse_kv(values["db_options"], "--db-opt")
    if values.get("backend_options"):
        values = _apply_backend_options(values)
    if isinstance(values.get("checkers"), str):
        values["checkers"] = tuple(c.strip() for c in values["checkers"].split(",") if c.strip())
    elif isinstance(values.get("checkers"), list):
        values["checkers"] = tuple(values["checkers"])
    unknown = sorted(set(values) - FIELD_NAMES)
    if unknown:
        raise InputError(f"unknown setting {unknown[0]!r}; allowed: "
                         + ", ".join(sorted(n for n in FIELD_NAMES)))
    check_types(values)
    values = _fit_interval(values)
    return validate(Test(**values))


def _apply_backend_options(values: dict[str, Any]) -> dict[str, Any]:
    """`--backend-opt key=value` (repeatable) or TOML `[backend-options]`: each key must
    be one of the chosen backend's settings (its BackendSpec.flags); a value given both
    ways must agree. Strings from the command line take the setting's type."""
    from splitbrain.harness.cluster import backend

    raw = values["backend_options"]
    opts = parse_kv(raw, "--backend-opt") if isinstance(raw, (list, tuple)) else raw
    if not isinstance(opts, dict):
        raise InputError("--backend-opt: expected key=value pairs (TOML: a table)")
    name = values.get("backend", Test.backend)
    spec = backend(name)
    allowed = ", ".join(f.replace("_", "-") for f in spec.flags) or "none"
    types = {f.name: f.type for f in fields(Test)}
    out = dict(values)
    for key, v in opts.items():
        f = str(key).strip().replace("-", "_")
        if f not in spec.flags:
            raise InputError(f"--backend-opt {key}: not an option of the {name} backend "
                             f"(its options: {allowed})")
        v = _typed_option(f, v, types[f])
        if f in values and values[f] != v:
            raise InputError(f"--backend-opt {key}={opts[key]} contradicts --{f.replace('_', '-')} "
                             f"{values[f]!r}; give it once")
        out[f] = v
    out["backend_options"] = {str(k).strip().replace("-", "_"): v for k, v in opts.items()}
    if out.get("backend") == "ssh" and "ssh_nodes" in out and isinstance(out["ssh_nodes"], tuple):
        out["nodes"] = len(out["ssh_nodes"]) or out.get("nodes", Test.nodes)
    return out


def _typed_option(name: str, v: Any, typ: str) -> Any:
    if not isinstance(v, str):
        return tuple(v) if isinstance(v, list) else v
    base = typ.replace(" | None", "")
    if base == "bool":
        low = v.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise InputError(f"--backend-opt {name.replace('_', '-')}={v}: expected true or false")
    if base.startswith("tuple"):
        return tuple(x.strip() for x in v.split(",") if x.strip())
    if base == "int":
        try:
            return int(v)
        except ValueError:
            raise InputError(f"--backend-opt {name.replace('_', '-')}={v}: expected a whole "
                             "number") from None
    return v


def _fit_interval(values: dict[str, Any]) -> dict[str, Any]:
    """The default fault interval shrinks to fit a short run (with a notice); an interval
    the user chose is never changed (validate refuses one that cannot fit)."""
    if values.get("nemesis_interval") is not None:
        return values
    limit = float(values.get("time_limit", Test.time_limit))
    from splitbrain.nemesis.schedule import parse_spec

    if DEFAULT_NEMESIS_INTERVAL < limit or not parse_spec(values.get("nemesis", Test.nemesis)):
        return values
    interval = round(limit / 2, 3)
    note = (f"--nemesis-interval {DEFAULT_NEMESIS_INTERVAL:g} (the default) does not fit in "
            f"--time-limit {limit:g}: using {interval:g} s")
    return {**values, "nemesis_interval": interval,
            "notices": tuple(values.get("notices", ())) + (note,)}


def parse_kv(items, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


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
