"""Error mapping of the etcd client (checker-spec §1.4, P3) against scripted HTTP peers.

Each peer is a real socket on 127.0.0.1 that answers (or fails to) in one precise way, so
the phase in which the client sees the failure is known exactly; no etcd needed.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.local import LocalRemote
from splitbrain.harness.dbs.etcd.client import EtcdClient
from splitbrain.harness.dbs.etcd.config import EtcdOptions
from splitbrain.harness.dbs.etcd.gateway import Ambiguous, GatewayConnection, GatewayError, NotSent, b64

pytestmark = pytest.mark.timeout(30)


class HttpPeer:
    """Accepts connections and answers each full HTTP request with `behaviour(conn, path,
    body)`; records every request so tests can prove what was (not) sent."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[tuple[str, dict]] = []
        self.accepted = 0
        self._stop = False
        self._conns: list[socket.socket] = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        conn.settimeout(0.1)
        while not self._stop:
            while b"\r\n\r\n" not in buf:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    if self._stop:
                        return
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
            head, _, rest = buf.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split()[1]
            length = next((int(x.split(":", 1)[1]) for x in lines
                           if x.lower().startswith("content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            body, buf = rest[:length], rest[length:]
            self.requests.append((path, json.loads(body) if body else {}))
            if self.behaviour(conn, path, body) == "close":
                conn.close()
                return

    def close(self):
        self._stop = True
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
        self._t.join(1)


def respond(status: int, doc, *, close: bool = False):
    """A behaviour answering every request with `doc` (JSON, or raw bytes)."""
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()

    def behave(conn, path, _body):
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n".encode()
                     + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)
        return "close" if close else None
    return behave


@pytest.fixture
def peer():
    peers = []

    def make(behaviour):
        p = HttpPeer(behaviour)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def _client(port: int, workload: str = "register", **opts) -> EtcdClient:
    node = Node("n1", "127.0.0.1", LocalRemote("n1"), "/nonexistent")
    return EtcdClient((node,), node, workload, 0,
                      EtcdOptions(client_port=port, connect_timeout=0.5, op_timeout=0.5, **opts))


OPS = [{"f": "read", "key": 1}, {"f": "write", "key": 1, "value": 5},
       {"f": "cas", "key": 1, "value": [5, 6]}]
HEADER = {"header": {"revision": "7", "member_id": "1"}}


def test_connect_refused_is_fail_for_every_op():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens
    c = _client(port)
    for op in OPS:
        comp = c.invoke(op)
        assert comp["type"] == "fail" and comp["error"].startswith("not-sent"), comp


def test_no_reply_within_the_timeout_is_info(peer):
    p = peer(lambda conn, path, body: None)  # reads the request, never answers
    c = _client(p.port)
    for op in OPS:
        t0 = time.monotonic()
        comp = c.invoke(op)
        assert comp["type"] == "info" and "indeterminate" in comp["error"], comp
        assert time.monotonic() - t0 < 2.0
    assert len(p.requests) == 3  # each request really reached the peer


def test_reset_after_the_request_is_info(peer):
    p = peer(lambda conn, path, body: "close")
    c = _client(p.port)
    for op in OPS:
        assert c.invoke(op)["type"] == "info"
    assert [path for path, _ in p.requests] == ["/v3/kv/range", "/v3/kv/put", "/v3/kv/txn"]


@pytest.mark.parametrize("status,doc,write_kind,read_kind", [
    # refused before proposing: fail for writes too
    (429, {"error": "etcdserver: too many requests", "code": 8}, "fail", "fail"),
    (400, {"error": "etcdserver: request is too large", "code": 3}, "fail", "fail"),
    (400, {"error": "illegal base64 data at input byte 0", "code": 3}, "fail", "fail"),
    (404, b"Not Found", "fail", "fail"),
    # may have been proposed / applied: info for writes; reads fail unless a timeout
    (503, {"error": "etcdserver: leader changed", "code": 14}, "info", "fail"),
    (503, {"error": "etcdserver: server stopped", "code": 14}, "info", "fail"),
    (503, {"error": "etcdserver: request timed out", "code": 14}, "info", "info"),
    (504, {"error": "context deadline exceeded", "code": 4}, "info", "info"),
    (500, {"error": "etcdserver: corrupt cluster", "code": 15}, "info", "fail"),
    (502, b"<html>bad gateway</html>", "info", "fail"),
])
def test_error_replies(peer, status, doc, write_kind, read_kind):
    p = peer(respond(status, doc))
    c = _client(p.port)
    assert c.invoke(OPS[0])["type"] == read_kind
    for op in OPS[1:]:
        comp = c.invoke(op)
        assert comp["type"] == write_kind, (op, comp)
        assert comp["value"] == op["value"] and comp["node"] == "n1" and comp["error"]


def test_malformed_ok_replies_are_info(peer):
    for doc in (b"not json", b"[1, 2]", {"no": "header"}, {"header": {"revision": "x"}}):
        p = peer(respond(200, doc))
        comp = _client(p.port).invoke(OPS[1])
        assert comp["type"] == "info", (doc, comp)


def test_ops_shapes_and_versions(peer):
    def behave(conn, path, body):
        doc = {"/v3/kv/range": {**HEADER, "kvs": [{"key": b64("register:1"), "value": b64("5"),
                                                   "mod_revision": "6"}]},
               "/v3/kv/put": HEADER,
               "/v3/kv/txn": {**HEADER, "succeeded": True}}[path]
        return respond(200, doc)(conn, path, body)
    p = peer(behave)
    c = _client(p.port)
    assert c.invoke(OPS[0]) == {"type": "ok", "value": 5, "version": 6, "node": "n1"}
    assert c.invoke(OPS[1]) == {"type": "ok", "value": 5, "version": 7, "node": "n1"}
    assert c.invoke(OPS[2]) == {"type": "ok", "value": [5, 6], "version": 7, "node": "n1"}
    assert c.invoke({"f": "cas", "key": 2, "value": [None, 3]})["type"] == "ok"
    reqs = dict(p.requests[:3])
    assert reqs["/v3/kv/range"] == {"key": b64("register:1")}  # linearizable: no flag
    assert reqs["/v3/kv/put"] == {"key": b64("register:1"), "value": b64("5")}
    assert reqs["/v3/kv/txn"]["compare"] == [{"key": b64("register:1"), "target": "VALUE",
                                              "result": "EQUAL", "value": b64("5")}]
    assert p.requests[3][1]["compare"] == [{"key": b64("register:2"), "target": "CREATE",
                                            "result": "EQUAL", "create_revision": "0"}]
    assert p.accepted == 1  # one kept-alive connection for every op


def test_serializable_reads_and_absent_keys(peer):
    p = peer(respond(200, HEADER))  # no kvs: the key is absent
    c = _client(p.port, read_mode="serializable")
    assert c.invoke(OPS[0]) == {"type": "ok", "value": None, "version": 0, "node": "n1"}
    assert p.requests[0][1] == {"key": b64("register:1"), "serializable": True}


def test_cas_mismatch_is_a_definite_fail(peer):
    p = peer(respond(200, {**HEADER, "succeeded": False}))
    comp = _client(p.port).invoke(OPS[2])
    assert comp == {"type": "fail", "value": [5, 6], "error": "cas-mismatch", "node": "n1"}


def test_server_closing_an_idle_connection_is_not_an_info(peer):
    p = peer(respond(200, HEADER, close=True))  # answers, then closes (like an idle timeout)
    c = _client(p.port)
    for _ in range(3):
        assert c.invoke(OPS[1])["type"] == "ok"
    assert p.accepted == 3


def test_gateway_phases_directly(peer):
    p = peer(respond(503, {"error": "etcdserver: no leader", "code": 14}))
    conn = GatewayConnection("127.0.0.1", p.port, connect_timeout=0.5, op_timeout=0.5)
    with pytest.raises(GatewayError) as e:
        conn.call("kv/put", {})
    assert (e.value.status, e.value.grpc_code, e.value.message) == (503, 14, "etcdserver: no leader")
    assert not issubclass(Ambiguous, NotSent) and not issubclass(NotSent, Ambiguous)
    conn.close()


def test_unknown_ops_and_workloads():
    c = _client(1)
    assert c.invoke({"f": "append", "key": 1, "value": 2})["type"] == "fail"
    assert c.invoke({"f": "read", "key": 1, "node": "n9"})["type"] == "fail"
    with pytest.raises(ValueError):
        _client(1, workload="set")


def test_idle_connection_closed_by_the_server_is_reopened_not_info(peer):
    def behave(conn, path, body):
        respond(200, HEADER)(conn, path, body)  # keep-alive reply...
        threading.Timer(0.05, conn.close).start()  # ...then the server drops the idle socket
    p = peer(behave)
    c = _client(p.port)
    for _ in range(3):
        assert c.invoke(OPS[1])["type"] == "ok"
        time.sleep(0.2)  # the close has arrived before the next op
    assert p.accepted == 3 and len(p.requests) == 3
