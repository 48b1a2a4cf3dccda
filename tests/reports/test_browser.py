"""The report in a real headless Chromium (Debian's /usr/bin/chromium, DevTools over
`--remote-debugging-pipe`; see reports/chromium.py). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import os
import threading
import time

import pytest

from splitbrain.reports.outputs import write_outputs

from sb_report_samples import XSS

pytestmark = pytest.mark.browser


def wait_ready(browser, page, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.evaluate(page, "window.sbReady === true"):
            return
        time.sleep(0.1)
    raise AssertionError("charts never finished drawing")


def draw_all(browser, page):
    browser.evaluate(page, "window.sbDrawAll()")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if browser.evaluate(page, "[...document.querySelectorAll('[data-fig]')].every(e => e.dataset.ready)"):
            return
        time.sleep(0.1)
    raise AssertionError("witness charts never finished drawing")


def test_report_renders_every_anomaly_without_errors(tmp_path, sample, chromium, artifacts_dir):
    hist, results = sample
    paths = write_outputs(str(tmp_path), results, history=hist, test={"name": "browser-sample"})
    page = chromium.open("file://" + paths["report.html"])
    wait_ready(chromium, page)
    draw_all(chromium, page)
    chromium.refresh_errors(page)
    assert page.errors == [], page.errors
    text = chromium.evaluate(page, "document.body.innerText")
    expected = [a for r in results["checkers"].values() for a in r["anomalies"]]
    assert chromium.evaluate(page, "document.querySelectorAll('article.anomaly').length") == len(expected)
    for a in expected:
        assert a["explanation"] in text
    assert chromium.evaluate(page, "document.querySelector('header.banner').innerText").startswith("INVALID")
    # Every chart drew (plotly adds its own .main-svg into each container).
    n_figs = chromium.evaluate(page, "document.querySelectorAll('[data-fig]').length")
    assert chromium.evaluate(page, "document.querySelectorAll('[data-fig] .main-svg').length") >= n_figs
    shot = chromium.screenshot(page, os.path.join(artifacts_dir, "report-sample.png"), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert os.path.getsize(shot) > 10_000


def test_hostile_values_render_as_text(tmp_path, xss_sample, chromium, artifacts_dir):
    hist, results = xss_sample
    paths = write_outputs(str(tmp_path), results, history=hist, test={"name": XSS})
    page = chromium.open("file://" + paths["report.html"])
    wait_ready(chromium, page)
    draw_all(chromium, page)
    chromium.evaluate(page, "window.scrollTo(0, document.body.scrollHeight)")
    time.sleep(0.3)
    chromium.refresh_errors(page)
    assert page.dialogs == [], "a value from the history executed as script"
    assert page.errors == [], page.errors
    # Only our scripts: figure data, plotly source, the page script and plotly's blob.
    scripts = chromium.evaluate(page, "[...document.scripts].map(s => s.id || s.src.split(':')[0])")
    assert sorted(scripts) == ["blob", "sb-figures", "sb-page", "sb-plotly"], scripts
    # The injected markup stayed text: no <img onerror>, no <b>bold</b> element.
    assert chromium.evaluate(page, "document.querySelectorAll('img, [onerror]').length") == 0
    assert chromium.evaluate(page, "[...document.querySelectorAll('b')].some(b => b.textContent === 'bold')") is False
    text = chromium.evaluate(page, "document.body.innerText")
    assert "<script>alert(1)</script>" in text
    assert chromium.evaluate(page, "document.title").find("<script>alert(1)</script>") >= 0
    chromium.screenshot(page, os.path.join(artifacts_dir, "report-xss.png"))


def test_serve_index_and_report_in_the_browser(tmp_path, sample, chromium):
    from splitbrain.reports.serve import make_server

    hist, results = sample
    write_outputs(str(tmp_path / "store" / "t1" / "20250101T000000"), results, history=hist)
    srv = make_server(str(tmp_path / "store"), "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, name="sb-serve-browser", daemon=True)
    t.start()
    try:
        base = "http://%s:%d" % srv.server_address[:2]
        page = chromium.open(base + "/")
        assert page.errors == []
        assert chromium.evaluate(page, "document.querySelectorAll('tbody tr').length") == 1
        href = chromium.evaluate(page, "document.querySelector('a[href$=\"report.html\"]').href")
        rpage = chromium.open(href)
        wait_ready(chromium, rpage)
        chromium.refresh_errors(rpage)
        assert rpage.errors == []
        # The browser normalises ../ itself; send the raw path with http.client too (test_serve).
        status = chromium.evaluate(page, f"fetch('{base}/%2e%2e/%2e%2e/etc/passwd').then(r => r.status)")
        assert status in (403, 404)
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)
