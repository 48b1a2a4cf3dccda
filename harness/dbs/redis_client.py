"""The Redis client of one logical process: routing, a data model's ops, error mapping.

Routing (architecture §3, the `redis` issue):
* writes go to the current primary — `n1` in the `replication` topology; in `sentinel`,
  whatever the Sentinels name (asked first at the process's own node), re-asked after any
  error and at most `primary_ttl` seconds after the last answer (as a client subscribed
  to `+switch-master` would);
* reads go to the primary (`read_from="primary"`), or to the process's sticky node
  (`"any"`), or to a sticky replica (`"replicas"`: a node other than the initial primary);
* an op that names a node (`op["node"]`) is served by that node; a `final` read, or any
  read of a `pinned` client (RedisDB.final_client), by the client's own node — so the
  final phase reads every node.

Workload ops (values are ints, stored as decimal strings):
* register: `write` runs a Lua script that bumps a per-key version and sets the value in
  one step, both in a hash (`val`, `ver`), so `HMGET key val ver` reads them on any node;
  `cas [expected, new]` is a Lua script too; both return the version written. A read
  returns the value and its version (absent key: value None, version 0) — the exact
  version order of checker-spec §2.3-B.
* list-append: `append` = RPUSH (version = the new length, §2.3-A), `read` = LRANGE.
* set: `add` = SADD, `read` = SMEMBERS (sorted).
* counter: `add` = INCRBY, `read` = GET (absent = 0).

Error mapping (checker-spec §1.4, P3): `fail` only when the op certainly had no effect —
connect failed before sending, or the server rejected the command before executing it
(READONLY, NOSCRIPT, LOADING, …), or a cas whose precondition did not hold. Timeouts,
resets, EOF and any other error reply are `info`. `invoke` never raises for datastore
errors.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from splitbrain.harness.models import MODELS, OpSpec, as_spec
from splitbrain.harness.cluster.base import Node
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection

# Error replies Redis sends before executing anything (so the op had no effect).
REJECTED_BEFORE_EXECUTION = frozenset({
    "READONLY",    # write sent to a replica
    "NOSCRIPT",    # EVALSHA of a script the server does not have
    "LOADING",     # dataset still loading
    "MASTERDOWN",  # replica with replica-serve-stale-data no and the link down
    "NOREPLICAS",  # min-replicas-to-write not met
    "BUSY",        # a script is running; the command was queued for rejection
    "OOM",         # maxmemory reached, command refused
    "MISCONF",     # persistence errors, writes refused
    "NOAUTH",
    "NOPERM",
    "WRONGTYPE",   # type check happens before any change
})

# `#!lua` (no `no-writes` flag) makes Redis 7 reject the script up front on a read-only
# replica with READONLY instead of failing half-way through.
REGISTER_WRITE = """#!lua
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'val', ARGV[1])
return ver
"""

REGISTER_CAS = """#!lua
local cur = redis.call('HGET', KEYS[1], 'val')
if ARGV[3] == 'absent' then
  if cur then return -1 end
elseif cur ~= ARGV[1] then
  return -1
end
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'val', ARGV[2])
return ver
"""



@dataclass(frozen=True)
class RedisTopology:
    """What a client needs to know about the cluster (built by RedisDB)."""

    nodes: tuple[Node, ...]
    kind: str  # "replication" | "sentinel"
    read_from: str  # "primary" | "replicas" | "any"
    master_name: str
    port: int = 6379
    sentinel_port: int = 26379
    connect_timeout: float = 1.0
    op_timeout: float = 1.5
    sentinel_timeout: float = 0.5
    primary_ttl: float = 1.0

    @property
    def initial_primary(self) -> Node:
        return self.nodes[0]

    def node_by_address(self, address: str) -> Node | None:
        for n in self.nodes:
            if n.address == address:
                return n
        return None

    def node_by_name(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


def decode_value(raw: Any) -> Any:
    """Stored decimal strings back to ints; anything else stays a string (a garbage read)."""
    if raw is None:
        return None
    s = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    try:
        return int(s)
    except ValueError:
        return s


def ask_sentinels_for_primary(topo: RedisTopology, order: list[Node],
                              conns: dict[str, RespConnection] | None = None) -> Node | None:
    """The primary named by the first Sentinel (in `order`) that answers, or None."""
    for n in order:
        conn = conns.get(n.name) if conns is not None else None
        if conn is None:
            conn = RespConnection(n.address, topo.sentinel_port,
                                  connect_timeout=topo.sentinel_timeout,
                                  op_timeout=topo.sentinel_timeout)
            if conns is not None:
                conns[n.name] = conn
        try:
            reply = conn.call("SENTINEL", "get-master-addr-by-name", topo.master_name)
        except (NotSent, Ambiguous, ReplyError):
            continue
        finally:
            if conns is None:
                conn.close()
        if isinstance(reply, list) and len(reply) == 2:
            addr = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            node = topo.node_by_address(addr)
            if node is not None:
                return node
    return None


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


@dataclass
class RedisClient:
    """Client of one logical process (harness/dbs/base.py Client). Not thread-safe: one
    worker thread uses it."""

    topo: RedisTopology
    node: Node
    workload: OpSpec | str  # the data model spoken (harness/models.py); a name is a model
    process: int
    pinned: bool = False  # every read served by `node` (final reads)
    clock: Callable[[], float] = time.monotonic
    _conns: dict[str, RespConnection] = field(default_factory=dict, init=False)
    _sentinel_conns: dict[str, RespConnection] = field(default_factory=dict, init=False)
    _primary: Node | None = field(default=None, init=False)
    _primary_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.spec = as_spec(self.workload)
        # the transactional history shape (harness/dbs/redis_txn.py keys and semantics)
        self.txn_kind = MODELS[self.spec.model].history
        self.sticky = self._sticky_node()

    # -- routing -----------------------------------------------------------------------

    def _sticky_node(self) -> Node:
        nodes = list(self.topo.nodes)
        if self.topo.read_from == "replicas":
            replicas = nodes[1:] or nodes
            if self.node in replicas:
                return self.node
            return replicas[self.process % len(replicas)]
        return self.node

    def current_primary(self) -> Node | None:
        if self.topo.kind != "sentinel":
            return self.topo.initial_primary
        now = self.clock()
        if self._primary is None or now - self._primary_at > self.topo.primary_ttl:
            order = [self.sticky] + [n for n in self.topo.nodes if n is not self.sticky]
            found = ask_sentinels_for_primary(self.topo, order, self._sentinel_conns)
            if found is not None:
                self._primary, self._primary_at = found, now
            elif self._primary is None:
                return None
        return self._primary

    def _forget_primary(self) -> None:
        self._primary = None

    def _target(self, op: dict) -> Node | None:
        named = op.get("node")
        if named:
            return self.topo.node_by_name(str(named))
        if op["f"] == "read":
            if self.pinned or op.get("final"):
                return self.node
            if self.topo.read_from == "primary":
                return self.current_primary()
            return self.sticky
        return self.current_primary()

    def _conn(self, node: Node) -> RespConnection:
        conn = self._conns.get(node.name)
        if conn is None:
            conn = RespConnection(node.address, self.topo.port,
                                  connect_timeout=self.topo.connect_timeout,
                                  op_timeout=self.topo.op_timeout)
            self._conns[node.name] = conn
        return conn

    # -- the op --------------------------------------------------------------------------

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        value = op.get("value")
        if f not in self.spec.ops:
            return {"type": "fail", "value": value, "node": None,
                    "error": f"unsupported op {f!r} for the {self.spec.model} model"}
        if f == "txn":
            from splitbrain.harness.dbs.redis_txn import invoke_txn

            return invoke_txn(self, op)
        target = self._target(op)
        if target is None:
            # Nothing was sent: no node to send it to.
            return {"type": "fail", "value": value, "node": None, "error": "no-primary-known"}
        conn = self._conn(target)
        is_write = f != "read"
        try:
            out = self._execute(conn, f, op.get("key"), value)
        except NotSent as e:
            if is_write:
                self._forget_primary()
            return self._completion("fail", op, target, error=f"not-sent: {e}")
        except Ambiguous as e:
            if is_write:
                self._forget_primary()
            return self._completion("info", op, target, error=f"indeterminate: {e}")
        except ReplyError as e:
            if e.code in ("READONLY", "MASTERDOWN") or is_write:
                self._forget_primary()
            kind = "fail" if e.code in REJECTED_BEFORE_EXECUTION else "info"
            return self._completion(kind, op, target, error=e.message)
        out.setdefault("node", target.name)
        return out

    def _completion(self, kind: str, op: dict, node: Node, *, error: str) -> dict:
        value = None if op["f"] == "read" else op.get("value")
        return {"type": kind, "value": value, "node": node.name, "error": error}

    def _execute(self, conn: RespConnection, f: str, key: Any, value: Any) -> dict:
        model = self.spec.model
        if model.startswith("txn-"):  # a single-key read in the txn key space (final phase)
            from splitbrain.harness.dbs.redis_txn import plain_read

            return plain_read(conn, self.txn_kind, key)
        # Namespaced, so one datastore can hold several workloads' keys.
        k = f"{self.spec.key_space}:{key}"
        if model == "register":  # cas by a Lua script; a single primary orders every op
            if f == "read":
                val, ver = conn.call("HMGET", k, "val", "ver")
                return {"type": "ok", "value": decode_value(val),
                        "version": int(ver) if ver is not None else 0}
            if f == "write":
                ver = self._script(conn, REGISTER_WRITE, k, value)
                return {"type": "ok", "value": value, "version": int(ver)}
            expected, new = value
            # ARGV[3] says "expect the key absent" (cas from the initial ⊥).
            ver = self._script(conn, REGISTER_CAS, k, "" if expected is None else expected, new,
                               "absent" if expected is None else "present")
            if int(ver) < 0:
                return {"type": "fail", "value": value, "error": "cas-mismatch"}
            return {"type": "ok", "value": value, "version": int(ver)}
        if model == "list":
            if f == "read":
                items = conn.call("LRANGE", k, 0, -1)
                vals = [decode_value(x) for x in items]
                return {"type": "ok", "value": vals, "version": len(vals)}
            length = conn.call("RPUSH", k, value)
            return {"type": "ok", "value": value, "version": int(length)}
        if model == "set":
            if f == "read":
                members = [decode_value(x) for x in conn.call("SMEMBERS", k)]
                return {"type": "ok", "value": sorted(members, key=_sort_key)}
            conn.call("SADD", k, value)
            return {"type": "ok", "value": value}
        # counter
        if f == "read":
            raw = conn.call("GET", k)
            return {"type": "ok", "value": decode_value(raw) if raw is not None else 0}
        conn.call("INCRBY", k, int(value))
        return {"type": "ok", "value": value}

    def _script(self, conn: RespConnection, script: str, key: str, *args: Any) -> Any:
        try:
            return conn.call("EVALSHA", _sha1(script), 1, key, *args)
        except ReplyError as e:
            if e.code != "NOSCRIPT":
                raise
        # NOSCRIPT: nothing ran, so sending the body now cannot apply the op twice.
        return conn.call("EVAL", script, 1, key, *args)

    def close(self) -> None:
        for c in list(self._conns.values()) + list(self._sentinel_conns.values()):
            c.close()
        self._conns.clear()
        self._sentinel_conns.clear()


def _sort_key(x: Any) -> tuple[int, Any]:
    return (0, x) if isinstance(x, int) else (1, str(x))
