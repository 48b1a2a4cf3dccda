"""The Redis Streams client of the `queue` workloads (one logical process).

One stream per partition key (`queue:<key>`), entries `v <value>`; offsets are the
entry IDs ("ms-seq"). Routing is RedisClient's (harness/dbs/redis_client.py): sends,
group reads and acks go to the current primary; `poll` (XREAD) to the process's sticky
node per `read_from`; a pinned client (final phase) reads its own node.

Ops (README "Queue ops"):
* `send` key value — XADD queue:k * v value; ok carries `offset` (the ID).
* `assign` [keys] — client-side: poll these streams, keeping the cursors of keys it
  already had; `seek: "beginning"` (or a key new to it) starts at 0-0. Always ok.
* `poll` — XREAD COUNT n STREAMS … cursors; value {key: [[id, value], …]}.
* `dequeue` — consumer group `g` (created at 0 with MKSTREAM when missing; a lost group
  after a failover is recreated, which redelivers): every 8th dequeue first XAUTOCLAIMs
  entries idle > 2 s from dead consumers, then XREADGROUP … >; the entries become this
  client's pending list. Value {key: [[id, value], …]}.
* `ack` — XACK of this client's pending entries; value {key: [ids]}.
* `drain` — the final group read: XREADGROUP > until nothing is left, acking as it goes.

Error mapping (checker-spec §1.4): a send is `fail` only when it certainly did not apply
(not sent, or an error reply Redis gives before executing: READONLY, OOM, …), otherwise
`info`; reads (`poll`) fail on any error; `dequeue`/`ack`/`drain` move group state, so an
ambiguous failure is `info`. Never raises for datastore errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.harness.dbs.redis_client import REJECTED_BEFORE_EXECUTION, RedisClient, decode_value
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError

GROUP = "g"
POLL_COUNT = 50
CLAIM_IDLE_MS = 2000
STREAM_WORKLOADS = ("queue", "queue-group")


def stream_key(key: Any) -> str:
    return f"queue:{key}"


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _entries(raw: Any) -> list[tuple[str, Any]]:
    """[[id, [field, value, ...]], ...] -> [(id, value)]; deleted entries (nil) skipped."""
    out = []
    for ent in raw or ():
        if not ent or ent[1] is None:
            continue
        fields = ent[1]
        val = None
        for i in range(0, len(fields) - 1, 2):
            if _s(fields[i]) == "v":
                val = decode_value(fields[i + 1])
        out.append((_s(ent[0]), val))
    return out


@dataclass
class StreamsClient(RedisClient):
    """RedisClient's routing with the stream ops. Not thread-safe (one worker)."""

    assigned: list = field(default_factory=list, init=False)
    cursors: dict = field(default_factory=dict, init=False)
    pending: dict = field(default_factory=dict, init=False)
    groups: set = field(default_factory=set, init=False)
    dequeues: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.sticky = self._sticky_node()

    @property
    def consumer(self) -> str:
        return f"c{self.process}"

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        if f == "assign":
            keys = list(op.get("value") or [])
            fresh = op.get("seek") == "beginning"
            self.cursors = {k: ("0-0" if fresh else self.cursors.get(k, "0-0")) for k in keys}
            self.assigned = keys
            return {"type": "ok", "value": keys}
        if f not in ("send", "poll", "dequeue", "ack", "drain"):
            return {"type": "fail", "error": f"unsupported op {f!r} for the queue workload"}
        read = f == "poll"
        target = self._target({"f": "read" if read else f, "final": op.get("final")})
        if target is None:
            return {"type": "fail", "value": op.get("value"), "error": "no-primary-known"}
        conn = self._conn(target)
        try:
            out = getattr(self, "_" + f)(conn, op)
        except NotSent as e:
            self._forget_primary()
            return {"type": "fail", "value": op.get("value") if f == "send" else None,
                    "node": target.name, "error": f"not-sent: {e}"}
        except Ambiguous as e:
            self._forget_primary()
            kind = "fail" if read else "info"
            return {"type": kind, "value": op.get("value") if f == "send" else None,
                    "node": target.name, "error": f"indeterminate: {e}"}
        except ReplyError as e:
            self._forget_primary()
            if e.code == "NOGROUP":
                self.groups.clear()
            kind = "fail" if read or e.code in REJECTED_BEFORE_EXECUTION or e.code == "NOGROUP" else "info"
            return {"type": kind, "value": op.get("value") if f == "send" else None,
                    "node": target.name, "error": e.message}
        out.setdefault("node", target.name)
        return out

    # -- ops -----------------------------------------------------------------------------

    def _send(self, conn, op: dict) -> dict:
        ident = conn.call("XADD", stream_key(op["key"]), "*", "v", op["value"])
        return {"type": "ok", "value": op["value"], "extra": {"offset": _s(ident)}}

    def _poll(self, conn, op: dict) -> dict:
        keys = list(self.assigned)
        if not keys:
            return {"type": "ok", "value": {}}
        reply = conn.call("XREAD", "COUNT", POLL_COUNT, "STREAMS",
                          *[stream_key(k) for k in keys], *[self.cursors.get(k, "0-0") for k in keys])
        out: dict[str, list] = {}
        by_stream = {stream_key(k): k for k in keys}
        for item in reply or ():
            k = by_stream.get(_s(item[0]))
            ents = _entries(item[1])
            if k is None or not ents:
                continue
            out[str(k)] = [[i, v] for i, v in ents]
            self.cursors[k] = ents[-1][0]
        return {"type": "ok", "value": out}

    def _ensure_groups(self, conn, keys: list) -> None:
        for k in keys:
            if k in self.groups:
                continue
            try:
                conn.call("XGROUP", "CREATE", stream_key(k), GROUP, "0", "MKSTREAM")
            except ReplyError as e:
                if e.code != "BUSYGROUP":
                    raise
            self.groups.add(k)

    def _dequeue(self, conn, op: dict) -> dict:
        keys = list(self.assigned)
        if not keys:
            return {"type": "ok", "value": {}}
        self._ensure_groups(conn, keys)
        self.dequeues += 1
        out: dict[str, list] = {}
        if self.dequeues % 8 == 1:
            for k in keys:
                # entries delivered to consumers that died (or lost their ack) come back
                reply = conn.call("XAUTOCLAIM", stream_key(k), GROUP, self.consumer,
                                  CLAIM_IDLE_MS, "0-0", "COUNT", 20)
                ents = _entries(reply[1] if reply and len(reply) > 1 else ())
                if ents:
                    out.setdefault(str(k), []).extend([i, v] for i, v in ents)
                    self.pending.setdefault(k, []).extend(i for i, _ in ents)
        reply = conn.call("XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", 20, "STREAMS",
                          *[stream_key(k) for k in keys], *([">"] * len(keys)))
        by_stream = {stream_key(k): k for k in keys}
        for item in reply or ():
            k = by_stream.get(_s(item[0]))
            ents = _entries(item[1])
            if k is None or not ents:
                continue
            out.setdefault(str(k), []).extend([i, v] for i, v in ents)
            self.pending.setdefault(k, []).extend(i for i, _ in ents)
        return {"type": "ok", "value": out}

    def _ack(self, conn, op: dict) -> dict:
        done: dict[str, list] = {}
        for k, ids in list(self.pending.items()):
            if ids:
                conn.call("XACK", stream_key(k), GROUP, *ids)
                done[str(k)] = list(ids)
            self.pending.pop(k, None)
        return {"type": "ok", "value": done}

    def _drain(self, conn, op: dict) -> dict:
        out: dict[str, list] = {}
        for _ in range(10_000):
            self.dequeues = 0  # every round also claims what dead consumers left pending
            got = self._dequeue(conn, op)["value"]
            self._ack(conn, op)
            if not got:
                break
            for k, ents in got.items():
                out.setdefault(k, []).extend(ents)
        return {"type": "ok", "value": out}


# -- the propagation workloads (workloads/propagation.py) -------------------------------

# outbox: the source write and its outbox entry in one atomic step (a Lua script)
WRITE_OUTBOX = """#!lua
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'val', ARGV[1])
if ARGV[3] == '1' then
  redis.call('XADD', 'outbox', '*', 'eid', ARGV[1], 'key', ARGV[2], 'ver', ver, 'poison', '1')
else
  redis.call('XADD', 'outbox', '*', 'eid', ARGV[1], 'key', ARGV[2], 'ver', ver)
end
return ver
"""

WRITE_SOURCE = """#!lua
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'val', ARGV[1])
return ver
"""

PROPAGATION_WORKLOADS = ("propagation", "propagation-dual-write", "propagation-none")


class PropagationClient(RedisClient):
    """write-source / read-source / read-derived of the propagation workloads.

    `propagation`: the source write and the outbox entry in one script (the outbox
    pattern); `propagation-dual-write`: the source write, then a separate XADD to
    `events` — skipped with probability `crash_p` (the client "crashes" in between),
    which is the anti-pattern's lost event. A write op with `poison: true` (the poison
    fault) marks its event so the consumer fails on it; the completion says `poison`.
    Errors map as RedisClient's. With a `source` (`--source cassandra`), write-source and
    read-source go to Cassandra through the worker's node (harness/dbs/cassandra_outbox.py:
    its outbox row in the same conditional batch; dual write XADDs here afterwards).
    """

    crash_p = 0.1
    # `--source cassandra`: the co-hosted source (harness/dbs/cassandra_outbox.py) that
    # write-source / read-source go to; the events and the derived store stay on Redis
    source = None

    def __post_init__(self) -> None:
        self.sticky = self._sticky_node()
        import random

        self._rng = random.Random(self.process)

    def _invoke(self, op: dict) -> dict:
        f = op.get("f")
        read = f in ("read-source", "read-derived")
        target = self._target({"f": "read" if read else f, "final": op.get("final")})
        if target is None:
            return {"type": "fail", "value": op.get("value"), "error": "no-primary-known"}
        if self.source is not None and f == "read-source":
            return self._source(target).read(op)
        conn = self._conn(target)
        try:
            if f == "write-source":
                return self._write(conn, op, target)
            if f == "read-source":
                ver = conn.call("HGET", f"src:{op['key']}", "ver")
                return {"type": "ok", "value": {"version": int(ver or 0)}, "node": target.name}
            if f == "read-derived":
                ver = conn.call("HGET", f"derv:{op['key']}", "ver")
                evs = [decode_value(x) for x in conn.call("LRANGE", f"der:{op['key']}", 0, -1)]
                return {"type": "ok", "node": target.name,
                        "value": {"version": int(ver or 0), "events": evs or None}}
        except NotSent as e:
            self._forget_primary()
            return {"type": "fail", "value": op.get("value"), "error": f"not-sent: {e}"}
        except Ambiguous as e:
            self._forget_primary()
            return {"type": "fail" if read else "info", "value": op.get("value"),
                    "error": f"indeterminate: {e}"}
        except ReplyError as e:
            self._forget_primary()
            kind = "fail" if read or e.code in REJECTED_BEFORE_EXECUTION else "info"
            return {"type": kind, "value": op.get("value"), "error": e.message}
        return {"type": "fail", "error": f"unsupported op {f!r} for the propagation workload"}

    def invoke(self, op: dict) -> dict:
        out = self._invoke(op)
        if op.get("poison") and op.get("f") == "write-source":
            out.setdefault("extra", {})["poison"] = True  # on every outcome: ok, info, fail
        return out

    def _source(self, target):
        """The Cassandra source client with this worker's node as coordinator (a final
        client's: CL ONE reads of that node's replica)."""
        c = getattr(self, "_source_client", None)
        if c is None:
            c = self._source_client = self.source.client(self.node, self.process,
                                                         final=self.pinned)
        return c

    def _write(self, conn, op: dict, target) -> dict:
        k, v = op["key"], op["value"]
        poison = "1" if op.get("poison") else "0"
        dual = self.workload == "propagation-dual-write"
        if self.source is not None:
            out = self._source(target).write(op, outbox=not dual)
            if not dual or out.get("type") != "ok":
                return out
            ver = out["version"]
        elif not dual:
            ver = self._script(conn, WRITE_OUTBOX, f"src:{k}", v, k, poison)
            return {"type": "ok", "value": v, "version": int(ver), "node": target.name}
        else:
            ver = self._script(conn, WRITE_SOURCE, f"src:{k}", v)
        out = {"type": "ok", "value": v, "version": int(ver),
               "node": out["node"] if self.source is not None else target.name}
        if self._rng.random() < self.crash_p:
            out["extra"] = {"published": False}  # crashed between the two writes
            return out
        try:
            conn.call("XADD", "events", "*", "eid", v, "key", k, "ver", ver,
                      *(("poison", "1") if op.get("poison") else ()))
            out["extra"] = {"published": True}
        except (NotSent, Ambiguous, ReplyError) as e:
            out["extra"] = {"published": False, "publish_error": str(e)}
        return out
