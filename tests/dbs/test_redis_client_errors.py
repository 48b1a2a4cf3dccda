"""Error mapping of the Redis client (checker-spec §1.4, P3) against scripted TCP peers.

Each peer is a real socket on 127.0.0.1 that misbehaves in one precise way, so the
phase in which the client sees the failure is known exactly.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.local import LocalRemote
from splitbrain.harness.dbs.redis_client import RedisClient, RedisTopology
from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection

pytestmark = pytest.mark.timeout(30)


class Peer:
    """Accepts connections on 127.0.0.1 and answers each command with `behaviour(conn,
    data)`; records every received byte so tests can prove what was (not) sent."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = b""
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
        conn.settimeout(0.1)
        while not self._stop:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            self.received += data
            if self.behaviour(conn, data) == "close":
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


@pytest.fixture
def peer_factory():
    peers = []

    def make(behaviour):
        p = Peer(behaviour)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def _client(port: int, workload: str = "register", *, op_timeout: float = 3.0,
            **kw) -> RedisClient:
    # 3 s: a scripted peer on a loaded machine may take longer than 0.5 s to answer,
    # which turned an error reply into a timeout (info) once; the timeout test sets 0.5
    node = Node("n1", "127.0.0.1", LocalRemote("n1"), "/nonexistent")
    topo = RedisTopology(nodes=(node,), kind="replication", read_from="primary",
                         master_name="sbtest", port=port, connect_timeout=3.0,
                         op_timeout=op_timeout, **kw)
    return RedisClient(topo, node, workload, 0)


def _reply(resp: bytes):
    def behave(conn, data):
        conn.sendall(resp)
    return behave


def test_error_replies_rejected_before_execution_are_fail(peer_factory):
    for code in ("READONLY You can't write against a read only replica.", "LOADING loading",
                 "NOREPLICAS Not enough good replicas to write.", "OOM command not allowed",
                 "MASTERDOWN Link with MASTER is down"):
        p = peer_factory(_reply(f"-{code}\r\n".encode()))
        comp = _client(p.port, "list-append").invoke({"f": "append", "key": 1, "value": 5})
        assert comp == {"type": "fail", "value": 5, "node": "n1", "error": code}


def test_other_error_replies_are_info(peer_factory):
    p = peer_factory(_reply(b"-ERR Error running script (call to f_123): oops\r\n"))
    comp = _client(p.port).invoke({"f": "write", "key": 1, "value": 5})
    assert comp["type"] == "info" and comp["error"].startswith("ERR Error running script")


def test_noscript_falls_back_to_eval_once(peer_factory):
    calls = []

    def behave(conn, data):
        calls.append(data.split(b"\r\n")[2])
        conn.sendall(b"-NOSCRIPT No matching script.\r\n" if data.count(b"EVALSHA")
                     else b":7\r\n")
    p = peer_factory(behave)
    comp = _client(p.port).invoke({"f": "write", "key": 1, "value": 5})
    assert comp == {"type": "ok", "value": 5, "version": 7, "node": "n1"}
    assert calls == [b"EVALSHA", b"EVAL"]


def test_connection_refused_is_fail_and_nothing_sent():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound then closed: nobody listens
    comp = _client(port).invoke({"f": "write", "key": 1, "value": 5})
    assert comp["type"] == "fail" and "not-sent" in comp["error"], comp


def test_no_reply_is_info_after_op_timeout(peer_factory):
    p = peer_factory(lambda conn, data: None)  # swallows the command
    t0 = time.monotonic()
    comp = _client(p.port, op_timeout=0.5).invoke({"f": "write", "key": 1, "value": 5})
    assert comp["type"] == "info" and "timeout" in comp["error"], comp
    assert 0.4 <= time.monotonic() - t0 < 2.0
    assert b"EVALSHA" in p.received  # the command did reach the server: info is right


def test_reset_after_send_is_info(peer_factory):
    p = peer_factory(lambda conn, data: "close")
    comp = _client(p.port, "counter").invoke({"f": "add", "key": 1, "value": 2})
    assert comp["type"] == "info", comp
    assert b"INCRBY" in p.received


def test_idle_connection_closed_by_server_reconnects_without_info(peer_factory):
    state = {"n": 0}

    def behave(conn, data):
        state["n"] += 1
        conn.sendall(b":1\r\n")
        return "close"  # server drops the connection after answering
    p = peer_factory(behave)
    c = _client(p.port, "counter")
    assert c.invoke({"f": "add", "key": 1, "value": 1})["type"] == "ok"
    time.sleep(0.2)  # the FIN arrives while idle
    assert c.invoke({"f": "add", "key": 1, "value": 1})["type"] == "ok"
    assert p.accepted == 2


def test_reads_and_nested_replies_decode(peer_factory):
    p = peer_factory(_reply(b"*2\r\n$2\r\n42\r\n$1\r\n3\r\n"))
    comp = _client(p.port).invoke({"f": "read", "key": 1, "value": None})
    assert comp == {"type": "ok", "value": 42, "version": 3, "node": "n1"}
    p2 = peer_factory(_reply(b"*3\r\n$4\r\nabcd\r\n:5\r\n*1\r\n$-1\r\n"))
    conn = RespConnection("127.0.0.1", p2.port)
    assert conn.call("X") == [b"abcd", 5, [None]]
    conn.close()


def test_resp_phases():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NotSent):
        RespConnection("127.0.0.1", port, connect_timeout=0.3).call("PING")
    assert issubclass(Ambiguous, Exception) and not issubclass(Ambiguous, NotSent)
    assert ReplyError("READONLY x y").code == "READONLY"


def test_sentinel_primary_unknown_is_fail_without_sending():
    # No Sentinel listens anywhere: the client cannot know a primary, sends nothing.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    node = Node("n1", "127.0.0.1", LocalRemote("n1"), "/nonexistent")
    topo = RedisTopology(nodes=(node,), kind="sentinel", read_from="primary",
                         master_name="sbtest", port=port, sentinel_port=port)
    comp = RedisClient(topo, node, "set", 0).invoke({"f": "add", "key": 1, "value": 1})
    assert comp["type"] == "fail" and comp["error"] == "no-primary-known"
