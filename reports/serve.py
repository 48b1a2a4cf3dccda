"""`splitbrain serve`: browse a store of runs over HTTP (stdlib ThreadingHTTPServer).

    server = make_server("./store", host="127.0.0.1", port=8080)
    server.serve_forever()

Routes: `/` lists runs (`store/<test>/<YYYYMMDDTHHMMSS>/` dirs holding results.json),
newest first, verdict-coloured; `/<test>/<run>/<file>` serves a run's files (report.html
and the `nodes/...` logs it links to); `/zip/<test>/<run>.zip` downloads a run directory.

Obligation: nothing outside the store is ever served. Every path is percent-decoded once,
`.`/`..`/empty segments, backslashes, NUL and dot-files are refused (403), and the real
path (symlinks resolved) must stay inside the store's real path (else 403); missing files
are 404. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

RUN_NAME = re.compile(r"^\d{8}T\d{6}")
TEXT_TYPES = {".jsonl": "application/x-ndjson", ".log": "text/plain", ".edn": "text/plain",
              ".md": "text/markdown", ".json": "application/json", ".xml": "application/xml",
              ".html": "text/html", ".txt": "text/plain"}


@dataclass(frozen=True)
class RunEntry:
    """One run directory with a results.json."""

    test: str
    run: str
    valid: Any
    anomalies: int
    failing: tuple[str, ...]
    has_report: bool
    ops: int | None

    @property
    def href(self) -> str:
        return f"/{quote(self.test)}/{quote(self.run)}/"


class Forbidden(Exception):
    """The request names a path outside the store (or one we never serve)."""


def list_runs(store: str) -> list[RunEntry]:
    """Runs in the store, newest first (run dir names are timestamps). Symlinked dirs
    (`latest`) are skipped so each run is listed once; unreadable results read as unknown."""
    from splitbrain.harness.history import loads

    out = []
    if not os.path.isdir(store):
        return out
    for test in sorted(os.listdir(store)):
        tdir = os.path.join(store, test)
        if test.startswith(".") or os.path.islink(tdir) or not os.path.isdir(tdir):
            continue
        for run in os.listdir(tdir):
            rdir = os.path.join(tdir, run)
            res_path = os.path.join(rdir, "results.json")
            if run.startswith(".") or os.path.islink(rdir) or not os.path.isfile(res_path):
                continue
            try:
                with open(res_path, "rb") as fh:
                    res = loads(fh.read())
                checkers = res.get("checkers") or {}
                valid = res.get("valid", "unknown")
                count = sum(int(c.get("anomaly_count") or 0) for c in checkers.values())
                failing = tuple(n for n, c in checkers.items() if c.get("valid") is False)
                ops = (res.get("stats") or {}).get("ops")
            except Exception:  # a half-written results.json must not break the listing
                valid, count, failing, ops = "unknown", 0, (), None
            out.append(RunEntry(test, run, valid, count, failing,
                                os.path.isfile(os.path.join(rdir, "report.html")), ops))
    out.sort(key=lambda r: (r.run, r.test), reverse=True)
    return out


def resolve(store_real: str, url_path: str) -> str:
    """The real filesystem path for a URL path, or Forbidden if it could leave the store."""
    path = unquote(url_path, errors="strict")
    if "\x00" in path or "\\" in path:
        raise Forbidden(url_path)
    parts = path.split("/")
    if parts and parts[0] == "":
        parts = parts[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    for p in parts:
        if p in ("", ".", "..") or p.startswith("."):
            raise Forbidden(url_path)
    real = os.path.realpath(os.path.join(store_real, *parts))
    if real != store_real and os.path.commonpath([real, store_real]) != store_real:
        raise Forbidden(url_path)
    return real


@lru_cache(maxsize=1)
def _index_template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")), autoescape=True)
    return env.get_template("serve_index.html.j2")


def index_html(store: str) -> str:
    from splitbrain.reports.html import verdict_of

    runs = list_runs(store)
    return _index_template().render(runs=runs, store=os.path.abspath(store),
                                    verdict_of=verdict_of, quote=quote)


def zip_run(run_real: str, fh) -> None:
    """Write a run directory into `fh` as a zip; files reached through symlinks that leave
    the run directory are left out."""
    base = os.path.basename(run_real)
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(run_real, followlinks=False):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                real = os.path.realpath(full)
                if os.path.commonpath([real, run_real]) != run_real or not os.path.isfile(real):
                    continue
                zf.write(real, os.path.join(base, os.path.relpath(full, run_real)))


# An idle (or slow-loris) connection is closed after this many seconds without a byte.
IDLE_TIMEOUT = 10.0
# Connections served at once; more are closed at accept (each one is a thread).
MAX_CONNECTIONS = 32


def host_allowed(host_header: str | None, extra: frozenset[str] = frozenset()) -> bool:
    """DNS rebinding defence: a browser sends the name it resolved in Host. Only IP
    literals, `localhost` and names given with --allow-host pass; a page of attacker.com
    rebound to 127.0.0.1 sends `Host: attacker.com` and is refused."""
    import ipaddress

    if host_header is None:
        return True  # HTTP/1.0 tools; every browser sends Host
    h = host_header.strip().lower()
    if h.startswith("["):  # [v6]:port
        name = h[1:h.find("]")] if "]" in h else h
    else:
        name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    if name in ("localhost", "localhost.") or name in extra:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class StoreHandler(BaseHTTPRequestHandler):
    """Read-only HTTP view of one store directory (set `store_real` on the class)."""

    store_real = ""
    server_version = "splitbrain"
    sys_version = ""
    timeout = IDLE_TIMEOUT  # socket timeout: an idle keep-alive or a stalled request ends
    allowed_hosts: frozenset[str] = frozenset()

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet unless asked
        if getattr(self.server, "verbose", False):
            super().log_message(fmt, *args)

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not host_allowed(self.headers.get("Host"), self.allowed_hosts):
            self._send(HTTPStatus.FORBIDDEN, b"403 forbidden: unexpected Host header "
                       b"(use an IP address or localhost, or start serve with --allow-host)\n")
            return
        try:
            path = urlsplit(self.path).path
            if path in ("", "/", "/index.html"):
                self._send(200, index_html(self.store_real).encode("utf-8"), "text/html; charset=utf-8")
                return
            if path.startswith("/zip/"):
                self._zip(path[len("/zip/"):])
                return
            real = resolve(self.store_real, path)
            if os.path.isdir(real):
                report = os.path.join(real, "report.html")
                if os.path.isfile(report) and path.endswith("/"):
                    real = report
                else:
                    raise FileNotFoundError(path)
            if not os.path.isfile(real):
                raise FileNotFoundError(path)
            self._file(real)
        except Forbidden:
            self._send(HTTPStatus.FORBIDDEN, b"403 forbidden: outside the store\n")
        except (FileNotFoundError, UnicodeDecodeError):
            self._send(HTTPStatus.NOT_FOUND, b"404 not found\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _file(self, real: str) -> None:
        ext = os.path.splitext(real)[1].lower()
        ctype = TEXT_TYPES.get(ext) or mimetypes.guess_type(real)[0] or "text/plain"
        if ctype.startswith("text/") or ctype.endswith(("json", "xml", "ndjson")):
            ctype += "; charset=utf-8"
        size = os.path.getsize(real)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            with open(real, "rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def _zip(self, rest: str) -> None:
        if not rest.endswith(".zip"):
            raise FileNotFoundError(rest)
        run_real = resolve(self.store_real, rest[: -len(".zip")])
        # Only whole run directories: store/<test>/<run>.
        rel = os.path.relpath(run_real, self.store_real).split(os.sep)
        if len(rel) != 2 or not os.path.isdir(run_real):
            raise FileNotFoundError(rest)
        with tempfile.SpooledTemporaryFile(max_size=64 << 20, prefix="sbzip-") as tmp:
            zip_run(run_real, tmp)
            size = tmp.tell()
            tmp.seek(0)
            name = f"{rel[0]}-{rel[1]}.zip".replace('"', "")
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(size))
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
            self.end_headers()
            if self.command != "HEAD":
                shutil.copyfileobj(tmp, self.wfile, 1 << 20)


class BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once: the next ones are
    closed right away instead of holding a thread each."""

    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        import threading

        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().server_activate()

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_server(store: str, host: str = "127.0.0.1", port: int = 8080, *,
                verbose: bool = False, allow_hosts: tuple[str, ...] = (),
                max_connections: int = MAX_CONNECTIONS) -> ThreadingHTTPServer:
    """A ready (not yet serving) server for `store`; port 0 picks a free port."""
    store_real = os.path.realpath(store)
    handler = type("BoundStoreHandler", (StoreHandler,), {
        "store_real": store_real,
        "allowed_hosts": frozenset(h.lower() for h in allow_hosts)})
    server_cls = type("BoundServer", (BoundedServer,), {"max_connections": max_connections})
    server = server_cls((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    return server
