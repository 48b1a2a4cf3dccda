"""The etcd client of one logical process: register ops over the v3 JSON gateway.

Routing: every op goes to the client's own member (`node`), or to the member an op names
(`op["node"]`); any member accepts writes and forwards them to the leader.

Ops (workloads `register` and `cas-register`; values are ints stored as decimal strings
under the key `<workload>:<key>`):
* `read`  — a range of the key; `serializable: true` in `--read-mode serializable`.
  Returns the value and its `mod_revision` as `version` (absent key: None, version 0).
* `write` — a put; `version` is the reply's header revision, which is the key's new
  mod_revision.
* `cas [expected, new]` — a txn: compare value == expected (or, for expected None,
  create_revision == 0: the key is absent), then put. `succeeded: false` is a definite
  `fail` (cas-mismatch); `version` is the new mod_revision.

Per-key versions are etcd's cluster-wide revisions, sparse per key; the checkers rank them
densely (checker-spec §2.3-B).

Error mapping (checker-spec §1.4, P3): `fail` only when the op certainly had no effect:
nothing was sent (connect failed), etcd rejected it before proposing it (the gRPC codes
and messages in REJECTED_*), a read that etcd answered with an error (a read has no
effect; only its timeouts stay `info`), or a cas whose compare failed. Timeouts, resets,
EOF, malformed replies and every other error reply (request timed out, leader changed,
no leader, server stopped, …) are `info`. `invoke` never raises for datastore errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.dbs.etcd.config import WORKLOADS, EtcdOptions
from splitbrain.harness.models import OpSpec, as_spec
from splitbrain.harness.dbs.etcd.gateway import (Ambiguous, GatewayConnection, GatewayError, NotSent, b64,
                                      unb64)

OPS = ("read", "write", "cas")

# gRPC status codes etcd (or the gateway's own request parsing) returns before anything is
# proposed to raft: bad arguments, auth, unknown method, request too large, too many
# requests / no space (ResourceExhausted: refused by the quota check or the apply-rate
# guard before proposing; a NOSPACE alarm makes every member refuse the apply itself).
REJECTED_CODES = frozenset({3, 7, 8, 12, 16})  # InvalidArgument, PermissionDenied,
# ResourceExhausted, Unimplemented, Unauthenticated
REJECTED_MESSAGES = frozenset({
    "etcdserver: too many requests",
    "etcdserver: request is too large",
    "etcdserver: mvcc: database space exceeded",
    "etcdserver: permission denied",
    "etcdserver: user name is empty",
    "etcdserver: authentication failed, invalid user ID or password",
    "etcdserver: invalid auth token",
})
# A read answered with one of these did not time out, but the message says it may have:
# keep it `info` like the transport timeouts.
TIMEOUT_MESSAGES = ("timed out", "timeout", "deadline exceeded")


def decode_value(raw: bytes | None) -> Any:
    """Stored decimal strings back to ints; anything else stays a string (a garbage read)."""
    if raw is None:
        return None
    s = raw.decode("utf-8", "replace")
    try:
        return int(s)
    except ValueError:
        return s


def rejected_before_proposal(e: GatewayError) -> bool:
    """True when etcd's error reply proves the request was never proposed."""
    if e.message in REJECTED_MESSAGES:
        return True
    if e.grpc_code is not None:
        return e.grpc_code in REJECTED_CODES
    # No gRPC body: the HTTP layer refused the request (404 unknown path, 405 method,
    # 400 unparsable JSON) before it became a gRPC call.
    return 400 <= e.status < 500


@dataclass
class EtcdClient:
    """Client of one logical process (harness/dbs/base.py Client). Not thread-safe: one
    worker thread uses it."""

    nodes: tuple[Node, ...]
    node: Node
    workload: OpSpec | str  # the register model (harness/models.py); names are namespaces
    process: int
    opts: EtcdOptions = field(default_factory=EtcdOptions)
    _conns: dict[str, GatewayConnection] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        w = self.workload
        self.spec = OpSpec("register", namespace=w) if w in WORKLOADS else as_spec(w)
        if self.spec.model != "register":
            raise ValueError(f"etcd has no {self.spec.model!r} model (it speaks: register)")

    def _target(self, op: dict) -> Node | None:
        named = op.get("node")
        if named:
            return next((n for n in self.nodes if n.name == str(named)), None)
        return self.node

    def _conn(self, node: Node) -> GatewayConnection:
        c = self._conns.get(node.name)
        if c is None:
            c = GatewayConnection(node.address, self.opts.client_port,
                                  connect_timeout=self.opts.connect_timeout,
                                  op_timeout=self.opts.op_timeout)
            self._conns[node.name] = c
        return c

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        value = op.get("value")
        if f not in OPS:
            return {"type": "fail", "value": value, "node": None,
                    "error": f"unsupported op {f!r} for the register model"}
        target = self._target(op)
        if target is None:
            return {"type": "fail", "value": value, "node": None,
                    "error": f"unknown node {op.get('node')!r}"}
        key = f"{self.spec.key_space}:{op.get('key')}"
        try:
            out = self._execute(self._conn(target), f, key, value)
        except NotSent as e:
            return self._completion("fail", op, target, f"not-sent: {e}")
        except Ambiguous as e:
            return self._completion("info", op, target, f"indeterminate: {e}")
        except GatewayError as e:
            if f == "read":
                timed_out = any(t in e.message.lower() for t in TIMEOUT_MESSAGES)
                kind = "info" if timed_out or e.grpc_code == 4 else "fail"
            else:
                kind = "fail" if rejected_before_proposal(e) else "info"
            return self._completion(kind, op, target, e.message or str(e))
        except (KeyError, TypeError, ValueError) as e:  # a 200 reply of the wrong shape
            return self._completion("info", op, target,
                                    f"malformed reply: {type(e).__name__}: {e}")
        out["node"] = target.name
        return out

    def _completion(self, kind: str, op: dict, node: Node, error: str) -> dict:
        value = None if op["f"] == "read" else op.get("value")
        return {"type": kind, "value": value, "node": node.name, "error": error}

    def _execute(self, conn: GatewayConnection, f: str, key: str, value: Any) -> dict:
        k = b64(key)
        if f == "read":
            req: dict[str, Any] = {"key": k}
            if self.opts.read_mode == "serializable":
                req["serializable"] = True
            doc = conn.call("kv/range", req)
            kvs = doc.get("kvs") or []
            if not kvs:
                return {"type": "ok", "value": None, "version": 0}
            kv = kvs[0]
            # int64 fields are JSON strings; zero values are omitted.
            return {"type": "ok", "value": decode_value(unb64(kv.get("value", ""))),
                    "version": int(kv["mod_revision"])}
        if f == "write":
            doc = conn.call("kv/put", {"key": k, "value": b64(str(value))})
            return {"type": "ok", "value": value, "version": int(doc["header"]["revision"])}
        expected, new = value
        if expected is None:
            compare = {"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        else:
            compare = {"key": k, "target": "VALUE", "result": "EQUAL",
                       "value": b64(str(expected))}
        doc = conn.call("kv/txn", {"compare": [compare],
                                   "success": [{"request_put": {"key": k,
                                                                "value": b64(str(new))}}]})
        if not doc.get("succeeded"):
            return {"type": "fail", "value": value, "error": "cas-mismatch"}
        return {"type": "ok", "value": value, "version": int(doc["header"]["revision"])}

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()
