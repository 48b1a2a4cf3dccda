"""The DB and Client protocols (architecture §3), and the optional capabilities a DB may have.

`DB` is what every datastore must do (Jepsen's `db/DB`). Everything else is a small
capability protocol of its own (Jepsen's `db/Kill`, `db/Pause`, `db/Primary`,
`db/LogFiles`), checked with `isinstance` by the runner and the nemeses — never probed with
`getattr`. A fault that needs a capability the DB lacks is refused when the run is built,
with a sentence naming both.

    if isinstance(db, Pausable):
        db.pause(node)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from splitbrain.harness.cluster.base import Node, NodeNeeds
from splitbrain.harness.errors import InputError


@runtime_checkable
class Client(Protocol):
    """A connection of one logical process to one node.

    `invoke(op)` takes an op template {"f", "key", "value"} and returns the completion
    fields {"type": "ok"|"fail"|"info", "value", optional "version", "node", "error"}.
    Obligations (checker-spec §1.4, P3): `fail` only when the op certainly had no effect
    (rejected before it could apply); timeouts, resets and anything ambiguous are `info`.
    Never raises for datastore errors: it maps them. Opening a client must not change the
    logical state of the test. A client understands the ops of a data *model*
    (workloads/models.py), never a workload's name.
    """

    def invoke(self, op: dict) -> dict: ...

    def close(self) -> None: ...


@runtime_checkable
class DB(Protocol):
    """Lifecycle of a datastore on nodes.

    Obligations: `setup` installs config and data dirs and is idempotent; `start` launches
    the node's processes and records their pids before they can be lost; `teardown` stops
    and removes what setup and start made, and is idempotent; `wait_ready` returns only
    when every node serves clients (or raises EnvironmentProblem saying which does not);
    `client(node, model, process, final=...)` opens a client for ops of `model` —
    `final=True` asks for one pinned to `node` for the final reads (checker-spec P15).
    `ready_timeout` is how long `wait_ready` may take on this store.
    """

    name: str
    ready_timeout: float

    def setup(self, node: Node) -> None: ...

    def start(self, node: Node) -> None: ...

    def teardown(self, node: Node) -> None: ...

    def client(self, node: Node, model: str, process: int, *, final: bool = False) -> Client: ...

    def wait_ready(self, timeout: float) -> None: ...


@runtime_checkable
class Killable(Protocol):
    """Crash and restart (the `kill` fault family).

    Obligations: `kill` SIGKILLs the node's datastore processes by their recorded pids
    (never by name) and returns once they are gone; `start` brings a killed node back with
    its data dir intact and returns once it serves again (or raises saying why not).
    """

    def kill(self, node: Node) -> None: ...

    def start(self, node: Node) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    """Freeze and thaw (the `pause` fault family).

    Obligations: `pause` SIGSTOPs the node's processes by recorded pid; `resume` SIGCONTs
    exactly what was paused; both are idempotent; teardown must still stop a paused node.
    """

    def pause(self, node: Node) -> None: ...

    def resume(self, node: Node) -> None: ...


@runtime_checkable
class HasPrimaries(Protocol):
    """The store can say which nodes currently lead (the `primaries` target).

    Obligation: `primaries()` never raises for an unreachable node; it returns the nodes it
    believes lead now (possibly none), so a fault aimed at "the primary" still hits one.
    """

    def primaries(self) -> list[Node]: ...


@runtime_checkable
class LogFiles(Protocol):
    """Files worth keeping in the store after the run.

    Obligation: `log_files(node)` lists paths on the node; missing files are skipped by
    the caller, so the list may name files that were never written.
    """

    def log_files(self, node: Node) -> list[str]: ...


@runtime_checkable
class Settles(Protocol):
    """The store needs a while after the heal before final reads mean anything.

    Obligation: `settle(timeout)` waits until the cluster has converged on its post-heal
    shape (e.g. Sentinel demoted an isolated old primary) or `timeout` passes, and returns
    a description of what did not settle ("" when everything did). It never raises.
    """

    def settle(self, timeout: float) -> str: ...


@runtime_checkable
class WallClock(Protocol):
    """The store can tell a node's wall clock, as its datastore process sees it.

    Obligation: `clock_offset(node)` returns the node's wall clock minus the controller's,
    in seconds, read from the node's datastore (so the clock shim's offset shows) and
    timed so that connection set-up does not skew it; it raises if the node cannot be
    asked. The clock nemesis samples offsets with it; without it offsets are reported as
    configured.
    """

    def clock_offset(self, node: Node) -> float: ...


@runtime_checkable
class Claims(Protocol):
    """What the store promises in this configuration, so checkers and reports can say it.

    Obligation: `claims` (a property) is a dict of plain values that depends on
    configuration only; it says at least what reads and writes promise, and may carry a
    one-sentence "summary" of what was tested and "realtime" (True: a single leader or
    consensus orders every op in real time, checker-spec §6).
    """

    @property
    def claims(self) -> dict: ...


@dataclass(frozen=True)
class DBContext:
    """What a datastore factory gets besides its nodes and options: the run directory
    (logs go to `<store_dir>/nodes/<node>/`), the run prefix (every resource carries it)
    and `node_env(node)`, the environment the nemeses need the datastore started with
    (the clock shim); it is read at every start, so a restart picks up the current skew."""

    store_dir: str
    prefix: str
    node_env: Callable[[Node], Mapping[str, str]] | None = None


@dataclass(frozen=True)
class DatastoreSpec:
    """One datastore as a registered part (harness/dbs/__init__.py lists them).

    Obligations: `options` is a dataclass whose fields are the datastore's settings, with
    defaults, and a `validate(nodes)` method raising InputError with what is allowed;
    `aliases` maps a Test field (a long-standing flag such as --cassandra-version) to an
    option name; `needs` lists the commands every node must have; `make(nodes, ctx,
    options)` returns a DB and creates nothing before its `setup`; `label(options,
    workload)` is the default test name.
    """

    name: str
    summary: str
    options: type
    needs: NodeNeeds
    make: Callable[[list, DBContext, Any], Any]
    label: Callable[[Any, str], str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()    # the run flags that belong to this datastore (--help)
    db_class: Callable[[], type] | None = None  # for capability checks before a run
    models: tuple[str, ...] = ("register", "list", "set", "counter")  # what its client speaks
    refuses: Mapping[str, str] = field(default_factory=dict)  # fault family -> why not
    check_options: Mapping[str, Any] = field(default_factory=dict)  # CheckOptions it implies
    # rules(test, options) raises InputError for a combination the datastore cannot run
    # (beyond its options' own validate): e.g. a workload's topology or backend needs
    rules: Callable[[Any, Any], None] | None = None

    def capabilities(self) -> tuple[type, ...]:
        """The optional protocols (Killable, Pausable, …) its DB class implements."""
        if self.db_class is None:
            return ()
        cls = self.db_class()
        return tuple(p for p in CAPABILITIES
                     if all(callable(getattr(cls, m, None)) for m in _methods(p))
                     and all(hasattr(cls, m) for m in _properties(p)))

    def options_of(self, test) -> Any:
        """The options dataclass from a Test: its aliased fields, then `db_options`."""
        names = {f.name: f for f in fields(self.options)}
        values: dict[str, Any] = {}
        for test_field, opt in {**{n: n for n in names}, **self.aliases}.items():
            v = getattr(test, test_field, None)
            if v is not None and opt in names:
                values[opt] = v
        for key, v in (getattr(test, "db_options", None) or {}).items():
            opt = self.aliases.get(key.replace("-", "_"), key.replace("-", "_"))
            if opt not in names:
                raise InputError(f"--db-opt {key}: {self.name} has no such option; options: "
                                 f"{', '.join(n.replace('_', '-') for n in names)}")
            values[opt] = _coerce(self.name, key, v, names[opt].type)
        opts = self.options(**values)
        opts.validate(int(getattr(test, "nodes", 3)))
        return opts


def _coerce(db: str, key: str, v: Any, typ: Any) -> Any:
    """A --db-opt string to the option's declared type (TOML values keep theirs)."""
    t = str(typ).replace(" | None", "")
    if not isinstance(v, str) or t == "str":
        return v
    try:
        if t == "int":
            return int(v)
        if t == "float":
            f = float(v)
            if f != f or f in (float("inf"), float("-inf")):
                raise ValueError
            return f
        if t == "bool":
            return {"true": True, "false": False}[v.lower()]
    except (ValueError, KeyError):
        raise InputError(f"--db-opt {key}={v}: {db} expects a {t}") from None
    return v


def _methods(proto: type) -> list[str]:
    return [m for m in vars(proto) if not m.startswith("_") and callable(vars(proto)[m])]


def _properties(proto: type) -> list[str]:
    return [m for m in vars(proto) if not m.startswith("_") and isinstance(vars(proto)[m], property)]


CAPABILITIES = (Killable, Pausable, HasPrimaries, LogFiles, Settles, WallClock, Claims)
