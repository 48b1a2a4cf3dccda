"""Issue 15 item 11: `serve` closes idle connections, bounds concurrent ones, and refuses
Host headers a DNS-rebinding page would send. A real server on 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from splitbrain.reports import serve as S
from splitbrain.reports.serve import host_allowed, make_server


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setattr(S.StoreHandler, "timeout", 1.0)
    (tmp_path / "store").mkdir()
    srv = make_server(str(tmp_path / "store"), "127.0.0.1", 0, max_connections=4,
                      allow_hosts=("runs.example",))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


def _get(srv, host_header):
    h, p = srv.server_address[:2]
    c = http.client.HTTPConnection(h, p, timeout=5)
    c.putrequest("GET", "/", skip_host=True)
    if host_header is not None:
        c.putheader("Host", host_header)
    c.endheaders()
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8080", True), ("localhost:8080", True), ("[::1]:8080", True),
    ("10.1.2.3", True), ("runs.example:8080", True), ("attacker.com", False),
    ("attacker.com:8080", False), ("127.0.0.1.nip.io", False), (None, True),
])
def test_host_header_check(tiny, host, ok):
    assert host_allowed(host, frozenset({"runs.example"})) is ok
    assert _get(tiny, host) == (200 if ok else 403)


def test_idle_connections_are_closed(tiny):
    h, p = tiny.server_address[:2]
    s = socket.create_connection((h, p))
    s.settimeout(5)
    t0 = time.monotonic()
    assert s.recv(1) == b""  # the server hung up on a silent client
    assert time.monotonic() - t0 < 4
    s.close()


def test_concurrent_connections_are_bounded_and_freed(tiny):
    h, p = tiny.server_address[:2]
    held = [socket.create_connection((h, p)) for _ in range(4)]
    time.sleep(0.2)
    extra = socket.create_connection((h, p))
    extra.settimeout(3)
    extra.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert extra.recv(100) == b"", "a 5th connection was served while 4 were held"
    extra.close()
    for s in held:
        s.close()
    time.sleep(0.3)
    assert _get(tiny, "127.0.0.1") == 200  # slots come back
