"""The Redis Cluster client of one logical process: hash-slot routing and redirects.

Ops and their meaning are RedisClient's (redis_client.py: register by Lua scripts,
list-append by RPUSH/LRANGE, set, counter); only where an op is sent differs:

* the key's slot is CRC16(key) mod 16384 (the `{hash tag}` rule included), and the slot's
  owner comes from a slot map (`CLUSTER SLOTS`), fetched from the nodes in rotation, so a
  refresh after an error asks a different node than the one that failed;
* writes go to the slot's primary; reads per `read_from`: the primary, a replica of the
  shard (`replicas`), or any shard member (`any`), chosen by process; a replica
  connection sends `READONLY` first (on every new TCP connection);
* a pinned (final) client reads each key on its own node if that node is in the key's
  shard, else on one member of the shard (by the node's index), and says which node
  served the read;
* `MOVED slot addr`: the slot map is updated and refreshed and the op is sent once more to
  the new owner; `ASK slot addr`: `ASKING` then the op, once, at that node. A redirect
  certainly did not execute the op, so following it cannot apply a write twice.

Error mapping (checker-spec §1.4): `fail` when the op certainly had no effect — not sent,
a redirect not followed (a second redirect), `CLUSTERDOWN`, `TRYAGAIN`, `CROSSSLOT`, or
RedisClient's REJECTED_BEFORE_EXECUTION codes; `info` for a timeout/reset after sending
and any other error reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.dbs.redis_client import REJECTED_BEFORE_EXECUTION, RedisClient
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection

SLOTS = 16384
# Cluster error replies sent before anything executed.
WAIT_TIMEOUT_MS = 500
CLUSTER_REJECTED = frozenset({"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "CROSSSLOT"})


def _crc16_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XModem), Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key: str | bytes) -> int:
    """The hash slot of a key; only a non-empty `{…}` hash tag is hashed if present."""
    k = key.encode() if isinstance(key, str) else key
    s = k.find(b"{")
    if s >= 0:
        e = k.find(b"}", s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    return crc16(k) % SLOTS


@dataclass
class RedisClusterClient(RedisClient):
    """Client of one logical process on a Redis Cluster. Not thread-safe."""

    # >0: after each applied write, `WAIT n 500`; fewer replicas (or a WAIT error) make
    # the write `info` — applied on the primary, not known to survive a failover
    wait_replicas: int = 0

    _slot_owner: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict,
                                                                 init=False)
    _ranges: list[tuple[int, int, str, tuple[str, ...]]] = field(default_factory=list,
                                                                 init=False)
    _rotation: int = field(default=0, init=False)
    _readonly_socks: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._rotation = self.process

    # -- slot map ------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Fetch CLUSTER SLOTS from the next node in rotation that answers."""
        from splitbrain.harness.dbs.redis_cluster import parse_slots

        nodes = list(self.topo.nodes)
        for i in range(len(nodes)):
            n = nodes[(self._rotation + i) % len(nodes)]
            conn = RespConnection(n.address, self.topo.port, connect_timeout=0.5,
                                  op_timeout=0.5)
            try:
                m = parse_slots(conn.call("CLUSTER", "SLOTS"))
            except (NotSent, Ambiguous, ReplyError):
                m = None
            finally:
                conn.close()
            if m:
                self._rotation += i + 1
                self._ranges = m
                return True
        self._rotation += 1
        return False

    def _owner(self, slot: int) -> tuple[str, tuple[str, ...]] | None:
        moved = self._slot_owner.get(slot)
        if moved is not None:
            return moved
        if not self._ranges:
            self.refresh()
        for lo, hi, primary, replicas in self._ranges:
            if lo <= slot <= hi:
                return primary, replicas
        return None

    def _route(self, op: dict, slot: int) -> tuple[Node | None, bool]:
        """(node, readonly connection?) for the op."""
        owner = self._owner(slot)
        if owner is None:
            return None, False
        primary, replicas = owner
        by_addr = self.topo.node_by_address
        if op["f"] != "read":
            return by_addr(primary), False
        members = [primary, *replicas]
        if self.pinned or op.get("final"):
            if self.node.address in members:
                return self.node, self.node.address != primary
            idx = [n.name for n in self.topo.nodes].index(self.node.name)
            addr = members[idx % len(members)]
            return by_addr(addr), addr != primary
        if self.topo.read_from == "primary" or (self.topo.read_from == "replicas"
                                                and not replicas):
            return by_addr(primary), False
        pool = list(replicas) if self.topo.read_from == "replicas" else members
        addr = pool[self.process % len(pool)]
        return by_addr(addr), addr != primary

    def _conn_for(self, node: Node, readonly: bool) -> RespConnection:
        """A connection to `node`; a readonly one has sent READONLY on its current socket
        (raises NotSent/Ambiguous/ReplyError from that READONLY: the op was not sent)."""
        key = f"{node.name}/ro" if readonly else node.name
        conn = self._conns.get(key)
        if conn is None:
            conn = RespConnection(node.address, self.topo.port,
                                  connect_timeout=self.topo.connect_timeout,
                                  op_timeout=self.topo.op_timeout)
            self._conns[key] = conn
        if readonly:
            if conn.connected and conn._peer_gone():
                conn.close()
            sock = conn._conn._sock
            if sock is None or self._readonly_socks.get(key) is not sock:
                try:
                    conn.call("READONLY")
                except Ambiguous as e:  # READONLY has no effect on data: nothing was done
                    raise NotSent(f"READONLY: {e}") from None
                self._readonly_socks[key] = conn._conn._sock
        return conn

    # -- the op --------------------------------------------------------------------------

    def _wait(self, conn: RespConnection, op: dict, target: Node, out: dict) -> dict:
        """The applied write `out`, or `info` unless WAIT confirms enough replicas."""
        try:
            got = _wait_reply(conn, self.wait_replicas)
        except (NotSent, Ambiguous, ReplyError) as e:
            return self._completion("info", op, target, error=f"applied; WAIT failed: {e}")
        if got < self.wait_replicas:
            return self._completion("info", op, target,
                                    error=f"applied; WAIT: {got}/{self.wait_replicas} replicas")
        return out

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        value = op.get("value")
        if f not in self.spec.ops or f == "txn":
            return {"type": "fail", "value": value, "node": None,
                    "error": f"unsupported op {f!r} for the {self.spec.model} model on a "
                             f"Redis Cluster"}
        slot = key_slot(f"{self.spec.key_space}:{op.get('key')}")
        target, readonly = self._route(op, slot)
        if target is None:
            self.refresh()
            return {"type": "fail", "value": value, "node": None, "error": "no-slot-owner-known"}
        pinned_read = f == "read" and (self.pinned or op.get("final"))
        asking = False
        for attempt in range(2):
            try:
                conn = self._conn_for(target, readonly)
                if asking:
                    try:
                        conn.call("ASKING")
                    except Ambiguous as e:  # ASKING alone changes no data: op not sent
                        raise NotSent(f"ASKING: {e}") from None
                out = self._execute(conn, f, op.get("key"), value)
                if self.wait_replicas and f != "read" and out.get("type") == "ok":
                    out = self._wait(conn, op, target, out)
            except NotSent as e:
                self.refresh()
                return self._completion("fail", op, target, error=f"not-sent: {e}")
            except Ambiguous as e:
                self.refresh()
                return self._completion("info", op, target, error=f"indeterminate: {e}")
            except ReplyError as e:
                redirect = _redirect(e)
                if redirect is not None and attempt == 0 and not pinned_read:
                    kind, addr = redirect
                    node = self.topo.node_by_address(addr)
                    if node is not None:
                        if kind == "MOVED":
                            self.refresh()
                            self._slot_owner.pop(slot, None)
                            owner = self._owner(slot)
                            if owner is None or owner[0] != addr:
                                # the map lags the redirect: trust the redirect for this slot
                                self._slot_owner[slot] = (addr, ())
                        target, readonly, asking = node, False, kind == "ASK"
                        continue
                if e.code in ("MOVED", "CLUSTERDOWN", "TRYAGAIN") or f != "read":
                    self.refresh()
                    self._slot_owner.pop(slot, None)
                kind = "fail" if e.code in REJECTED_BEFORE_EXECUTION | CLUSTER_REJECTED else "info"
                return self._completion(kind, op, target, error=e.message)
            out.setdefault("node", target.name)
            return out
        return self._completion("fail", op, target, error="redirect not followed")


def _wait_reply(conn: RespConnection, n: int) -> int:
    return int(conn.call("WAIT", n, WAIT_TIMEOUT_MS))


def _redirect(e: ReplyError) -> tuple[str, str] | None:
    """("MOVED"|"ASK", address) of a redirect reply, else None."""
    if e.code not in ("MOVED", "ASK"):
        return None
    parts = e.message.split()
    if len(parts) < 3:
        return None
    addr = parts[2].rsplit(":", 1)[0]
    return e.code, addr
