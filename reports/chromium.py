"""Drive Debian's headless Chromium over the DevTools pipe, to prove a report renders.

Used by the browser tests and `bench/report.py`; nothing in a run depends on it. We speak
the Chrome DevTools Protocol over `--remote-debugging-pipe` (JSON messages separated by
NUL bytes on fds 3/4), so no websocket client and no downloaded browser are needed.

    with HeadlessChromium() as browser:
        page = browser.open("file:///tmp/report.html")
        assert not page.errors          # console errors, uncaught exceptions, alert() calls
        browser.screenshot(page, "/tmp/shot.png")

The browser is started with a throw-away `sb`-prefixed profile directory, stopped by its
recorded pid and the profile removed in `close()`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

CHROMIUM = "/usr/bin/chromium"


@dataclass
class PageLoad:
    """What happened while a page loaded: timing and everything that went wrong."""

    session: str
    url: str
    load_s: float
    console: list[dict] = field(default_factory=list)   # every console message
    errors: list[str] = field(default_factory=list)     # console errors, exceptions, dialogs
    dialogs: list[str] = field(default_factory=list)    # alert()/confirm() messages


class BrowserError(RuntimeError):
    """Chromium failed to start, answered with an error, or timed out."""


class HeadlessChromium:
    """One headless Chromium process spoken to over the DevTools pipe."""

    def __init__(self, executable: str = CHROMIUM, *, timeout: float = 60.0,
                 window: tuple[int, int] = (1400, 1000)):
        if not os.path.exists(executable):
            raise BrowserError(f"{executable}: no such browser")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="sbchrome-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: DevTools reads fd 3, writes fd 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        argv = [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--mute-audio", "--hide-scrollbars",
                f"--window-size={window[0]},{window[1]}", "about:blank"]
        self._proc = subprocess.Popen(argv, pass_fds=(3, 4), preexec_fn=wire_fds,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="sb-cdp-reader", daemon=True)
        self._reader.start()

    # -- protocol plumbing -----------------------------------------------------------

    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self._events.append(msg)
                    self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Call one DevTools method and return its result (BrowserError on error)."""
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise BrowserError(f"{method}: no answer from Chromium")
                self._cond.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _wait_event(self, method: str, session: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self._events:
                    if ev.get("method") == method and ev.get("sessionId") == session:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise BrowserError(f"timed out waiting for {method}")
                self._cond.wait(left)

    # -- what tests use --------------------------------------------------------------

    def open(self, url: str, *, settle_s: float = 0.3) -> PageLoad:
        """Open `url` in a fresh tab, wait for `load`, and collect errors seen meanwhile."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        t0 = time.monotonic()
        self.send("Page.navigate", {"url": url}, session=session)
        self._wait_event("Page.loadEventFired", session, self.timeout)
        load_s = time.monotonic() - t0
        time.sleep(settle_s)  # let deferred scripts (chart drawing) report their errors
        page = PageLoad(session=session, url=url, load_s=load_s)
        self._collect(page)
        return page

    def _collect(self, page: PageLoad) -> None:
        with self._cond:
            mine = [e for e in self._events if e.get("sessionId") == page.session]
            self._events = [e for e in self._events if e.get("sessionId") != page.session]
        for ev in mine:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                page.console.append({"type": p.get("type"), "text": text})
                if p.get("type") in ("error", "assert"):
                    page.errors.append(f"console.{p.get('type')}: {text}")
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                desc = d.get("exception", {}).get("description") or d.get("text")
                page.errors.append(f"uncaught exception: {desc}")
            elif m == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") == "error":
                    page.errors.append(f"log error: {e.get('text')} ({e.get('url', '')})")
            elif m == "Page.javascriptDialogOpening":
                page.dialogs.append(p.get("message", ""))
                page.errors.append(f"dialog opened: {p.get('type')} {p.get('message')!r}")
                try:
                    self.send("Page.handleJavaScriptDialog", {"accept": True}, session=page.session)
                except BrowserError:
                    pass

    def refresh_errors(self, page: PageLoad) -> PageLoad:
        """Pick up errors reported after `open` returned (e.g. after scrolling)."""
        self._collect(page)
        return page

    def evaluate(self, page: PageLoad, expression: str) -> Any:
        """Evaluate a JS expression in the page and return its JSON value."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, session=page.session)
        if "exceptionDetails" in res:
            raise BrowserError(f"evaluate failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def screenshot(self, page: PageLoad, path: str, *, full_page: bool = False) -> str:
        """Save a PNG of the page (the first screen, or the whole page) and return its path."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics", session=page.session)
            size = metrics.get("cssContentSize") or metrics.get("contentSize")
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 16000), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params, session=page.session)["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except BrowserError:
                    pass
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()  # by our recorded child handle, never by name
                    self._proc.wait(timeout=10)
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
