"""One TCP connection speaking RESP2, with errors that say *when* they happened.

Why not redis-py: the client must tell "certainly never reached the server" (→ `fail`)
from "may have been applied" (→ `info`) (checker-spec §1.4, pitfall P3), and must never
retry a write on its own (P11). This layer makes the phase explicit:

* `NotSent`   — the command was not sent: connect refused / timed out, or the handshake
                failed before our bytes were written. Safe to report as `fail`.
* `Ambiguous` — the command may have reached the server: a send error, a read timeout,
                a reset or EOF while waiting for the reply. Must be `info`.
* `ReplyError` — the server answered with an error reply; the caller classifies it.

    conn = RespConnection("10.77.0.2", 6379, connect_timeout=1.0, op_timeout=1.5)
    conn.call("SET", "k", "1")      # b"OK"
    conn.close()

A connection is used by one thread at a time (one per logical process).
"""

from __future__ import annotations

import errno
import select
import socket
from typing import Any


class RespFailure(Exception):
    """Base of the transport outcomes below."""


class NotSent(RespFailure):
    """Nothing of the command reached the server."""


class Ambiguous(RespFailure):
    """The command may or may not have been executed."""


class ReplyError(RespFailure):
    """An error reply (`-ERR …`, `-READONLY …`). `.code` is its first word."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.code = message.split(" ", 1)[0] if message else ""


def encode_command(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _ProtocolError(Exception):
    pass


class RespConnection:
    """A lazily connected RESP2 connection with separate connect and op timeouts."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 1.0,
                 op_timeout: float = 1.5):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the TCP connection; raises NotSent on any failure."""
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as e:
            raise NotSent(f"connect {self.host}:{self.port}: {_describe(e)}") from None
        sock.settimeout(self.op_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf = b""

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf = b""
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def call(self, *args: Any) -> Any:
        """Send one command and return its decoded reply (bytes / int / list / None).

        Raises NotSent, Ambiguous or ReplyError; after NotSent or Ambiguous the connection
        is closed, so the next call reconnects.
        """
        if self._sock is not None and self._peer_gone():
            # The server closed an idle connection (restart, timeout): noticed before we
            # send anything, so reconnecting here cannot duplicate a command.
            self.close()
        self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(encode_command(args))
        except OSError as e:
            self.close()
            raise Ambiguous(f"send to {self.host}:{self.port}: {_describe(e)}") from None
        try:
            reply = self._read_reply()
        except (OSError, _ProtocolError) as e:
            self.close()
            raise Ambiguous(f"reply from {self.host}:{self.port}: {_describe(e)}") from None
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    # -- internals ---------------------------------------------------------------------

    def _peer_gone(self) -> bool:
        """True if the idle socket is readable: EOF, a reset, or stray bytes (desync)."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable) or bool(self._buf)

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise _ProtocolError("connection closed by server")
        self._buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self._buf) < n + 2:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n + 2:]
        return data

    def _read_reply(self) -> Any:
        line = self._line()
        if not line:
            raise _ProtocolError("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            # Nested error replies stay as ReplyError values inside the list.
            return [self._read_reply() for _ in range(n)]
        raise _ProtocolError(f"unexpected reply type {kind!r}")


def _describe(e: BaseException) -> str:
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno)).lower() + f" ({e.strerror})"
    return str(e) or type(e).__name__
