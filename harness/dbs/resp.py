"""One Redis connection whose errors say *when* they happened, on redis-py's Connection.

The client must tell "certainly never reached the server" (→ `fail`) from "may have been
applied" (→ `info`) (checker-spec §1.4, pitfall P3), and must never retry a write on its
own (P11). redis-py's low-level `Connection` separates the phases (connect, send, read);
with retries switched off, each phase maps onto one outcome:

* `NotSent`   — the command was not sent: connect refused / timed out, or the handshake
                failed before our bytes were written. Safe to report as `fail`.
* `Ambiguous` — the command may have reached the server: a send error, a read timeout,
                a reset or EOF while waiting for the reply. Must be `info`.
* `ReplyError` — the server answered with an error reply; `.code` is its first word
                (READONLY, NOSCRIPT, …), which the caller classifies.

    conn = RespConnection("10.77.0.2", 6379, connect_timeout=1.0, op_timeout=1.5)
    conn.call("SET", "k", "1")      # b"OK"
    conn.close()

A connection is used by one thread at a time (one per logical process).
"""

from __future__ import annotations

import socket
from typing import Any

import redis.exceptions as rx
from redis.backoff import NoBackoff
from redis.connection import Connection
from redis.retry import Retry

_TRANSPORT = (rx.ConnectionError, rx.TimeoutError, OSError)

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


def _server_reply_code(e: BaseException) -> str | None:
    """The error code of a server error reply, or None if `e` is not one.

    redis-py strips the code (`READONLY`, `LOADING`, …) from the message and keeps it as
    `status_code`; some replies (LOADING, MASTERDOWN) even become ConnectionError
    subclasses, though the server did answer."""
    code = getattr(e, "status_code", None)
    if code:
        return str(code)
    if isinstance(e, rx.ResponseError):
        return ""
    return None


def _reply_error(e: BaseException, code: str | None = None) -> ReplyError:
    text = str(e)
    code = _server_reply_code(e) if code is None else code
    return ReplyError(f"{code} {text}" if code and not text.startswith(code) else text)


class RespConnection:
    """A lazily connected connection with separate connect and op timeouts, no retries."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 1.0,
                 op_timeout: float = 1.5):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self._conn = Connection(host=host, port=port, socket_connect_timeout=connect_timeout,
                                socket_timeout=op_timeout, retry=Retry(NoBackoff(), 0),
                                retry_on_timeout=False, retry_on_error=[], protocol=2,
                                health_check_interval=0, driver_info=None)
        # driver_info=None: no CLIENT SETINFO on connect — the handshake sends nothing, so a
        # connect failure can only mean our command was never sent.

    @property
    def connected(self) -> bool:
        return self._conn._sock is not None

    def connect(self) -> None:
        """Open the TCP connection; raises NotSent on any failure."""
        if self.connected:
            return
        try:
            self._conn.connect()
        except _TRANSPORT as e:
            self.close()
            raise NotSent(f"connect {self.host}:{self.port}: {_describe(e)}") from None
        try:
            self._conn._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        try:
            self._conn.disconnect()
        except Exception:
            pass

    def call(self, *args: Any) -> Any:
        """Send one command and return its raw reply (bytes / int / list / None).

        Raises NotSent, Ambiguous or ReplyError; after NotSent or Ambiguous the connection
        is closed, so the next call reconnects.
        """
        if self.connected and self._peer_gone():
            # The server closed an idle connection (restart, timeout): noticed before we
            # send anything, so reconnecting here cannot duplicate a command.
            self.close()
        self.connect()
        try:
            self._conn.send_command(*args, check_health=False)
        except _TRANSPORT as e:
            self.close()
            raise Ambiguous(f"send to {self.host}:{self.port}: {_describe(e)}") from None
        try:
            reply = self._conn.read_response(disable_decoding=True)
        except Exception as e:
            code = _server_reply_code(e)
            if code is not None:
                raise _reply_error(e, code) from None
            if isinstance(e, (*_TRANSPORT, rx.InvalidResponse)):
                self.close()
                raise Ambiguous(f"reply from {self.host}:{self.port}: {_describe(e)}") from None
            raise
        if isinstance(reply, list):
            reply = [_reply_error(x) if isinstance(x, rx.RedisError) else x for x in reply]
        return reply

    def _peer_gone(self) -> bool:
        """True if the idle connection has something to read: EOF, a reset, stray bytes."""
        try:
            return bool(self._conn.can_read(timeout=0))
        except Exception:
            return True


def _describe(e: BaseException) -> str:
    if isinstance(e, (socket.timeout, rx.TimeoutError)):
        return "timeout"
    return str(e) or type(e).__name__
