"""One HTTP/1.1 connection to etcd's JSON gRPC-gateway (`/v3/...`) whose errors say *when*
they happened.

Why the gateway over stdlib `http.client`, and not gRPC or etcd3gw: the client must tell
"certainly never reached the server" (→ `fail`) from "may have been applied" (→ `info`)
(checker-spec §1.4, P3). HTTP/1.1 has clean phases — connect, send, wait for the reply —
and each maps onto one outcome below. gRPC reports both "could not connect" and "the
connection broke mid-call" as UNAVAILABLE (a readiness check before each call could split
them), and Python's gRPC etcd clients are unmaintained (`etcd3`, 2020, protobuf 3 stubs),
so gRPC would mean our own protobuf messages. `etcd3gw` (well kept, on requests) folds connection
refused and connection reset into one `ConnectionFailedError`, and connect and read
timeouts into one `ConnectionTimeoutError`, so the distinction is lost. Measured by
bench/etcd_clients.py (3 members on loopback, interleaved slices, machine load 25-40):
one thread did 449 / 686 puts / ranges per s here, 232 / 238 with etcd3gw, 622 / 892 with
raw grpcio calls (hand-encoded, replies not decoded: gRPC's best case). With 10 threads
raw gRPC did about twice the gateway's calls/s (1,469 vs 718; 620 vs 289 at load 40): the
gateway's JSON and its in-process gRPC hop cost etcd CPU on this 2-core machine. That is
the price of exact fail/info here; a gRPC transport is the follow-up if throughput matters.

* `NotSent`     — nothing reached etcd: connect refused / timed out / unreachable.
* `Ambiguous`   — the request may have reached etcd: a send error, a timeout, a reset or EOF
                  while waiting, a malformed reply.
* `GatewayError` — etcd answered with an HTTP error; `.status`, `.grpc_code` and `.message`
                  (e.g. 503, 14, "etcdserver: request timed out") let the caller classify.

    conn = GatewayConnection("10.77.0.2", 2379, connect_timeout=1.0, op_timeout=2.0)
    conn.call("kv/put", {"key": b64("k"), "value": b64("1")})   # {"header": {...}}
    conn.close()

A connection is used by one thread at a time (one per logical process); it never retries.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
from typing import Any


class GatewayFailure(Exception):
    """Base of the transport outcomes below."""


class NotSent(GatewayFailure):
    """Nothing of the request reached etcd."""


class Ambiguous(GatewayFailure):
    """The request may or may not have been executed."""


class GatewayError(GatewayFailure):
    """etcd answered with an HTTP error status (the gateway's gRPC error JSON, if any)."""

    def __init__(self, status: int, message: str, grpc_code: int | None = None):
        super().__init__(f"HTTP {status}: {message}" + (f" (grpc code {grpc_code})"
                                                       if grpc_code is not None else ""))
        self.status = status
        self.message = message
        self.grpc_code = grpc_code


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode("ascii")


def unb64(s: str | None) -> bytes | None:
    return None if s is None else base64.b64decode(s)


def _error_of(status: int, body: bytes) -> GatewayError:
    """The gateway's error JSON is {"error": msg, "code": grpc_code, "message": msg}."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        msg = doc.get("error") or doc.get("message") or ""
        code = doc.get("code")
        return GatewayError(status, str(msg), code if isinstance(code, int) else None)
    return GatewayError(status, body.decode("utf-8", "replace").strip()[:200])


class GatewayConnection:
    """A kept-alive connection to one etcd member's client URL."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 1.0,
                 op_timeout: float = 2.0, api_path: str = "/v3/"):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self.api_path = api_path
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        try:
            conn.connect()
        except OSError as e:  # refused, unreachable, connect timeout: nothing was sent
            conn.close()
            raise NotSent(f"connect {self.host}:{self.port}: {type(e).__name__}: {e}") from None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(self.op_timeout)
        return conn

    def _usable(self) -> http.client.HTTPConnection:
        conn = self._conn
        if conn is not None and conn.sock is not None:
            # An idle kept-alive socket that is readable was closed (or spoken to) by the
            # server: sending on it would make a sure failure look ambiguous.
            try:
                readable = select.select([conn.sock], [], [], 0)[0]
            except (OSError, ValueError):
                readable = [conn.sock]
            if not readable:
                return conn
        self.close()
        self._conn = self._connect()
        return self._conn

    def call(self, path: str, body: dict, *, timeout: float | None = None) -> dict:
        """POST `body` as JSON to `<api_path><path>`; the decoded JSON reply (a dict)."""
        conn = self._usable()
        if timeout is not None:
            conn.sock.settimeout(timeout)
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            conn.request("POST", self.api_path + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            # Timeouts, resets, EOF, a garbled status line: etcd may have the request.
            self.close()
            raise Ambiguous(f"{path} on {self.host}:{self.port}: {type(e).__name__}: {e}"
                            ) from None
        finally:
            if timeout is not None and conn.sock is not None:
                conn.sock.settimeout(self.op_timeout)
        if resp.will_close:
            self.close()
        if resp.status != 200:
            raise _error_of(resp.status, raw)
        try:
            doc = json.loads(raw)
        except ValueError:
            raise Ambiguous(f"{path}: reply is not JSON: {raw[:120]!r}") from None
        if not isinstance(doc, dict):
            raise Ambiguous(f"{path}: reply is not a JSON object: {raw[:120]!r}")
        return doc

    def get(self, path: str) -> Any:
        """GET a non-API path (`/health`, `/version`); the decoded JSON. Same errors."""
        conn = self._usable()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Ambiguous(f"GET {path}: {type(e).__name__}: {e}") from None
        if resp.will_close:
            self.close()
        if resp.status != 200:
            raise _error_of(resp.status, raw)
        try:
            return json.loads(raw)
        except ValueError:
            raise Ambiguous(f"GET {path}: reply is not JSON") from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None
