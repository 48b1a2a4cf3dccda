"""The report's queue-offsets panel (reports/queue_plots.py)."""

from __future__ import annotations

import json
import re

import pytest

from splitbrain.checkers import run_checks
from splitbrain.harness.history import history_from_events
from splitbrain.reports.html import render_html
from tests.checkers.queue_sim import simulate


def _figures(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="sb-figures">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def test_queue_runs_get_an_offsets_per_key_panel_with_the_rewind_visible():
    events, _ = simulate(4, redis_ids=True)
    hist = history_from_events(events)
    page = render_html(run_checks(hist), history=hist)
    assert 'id="queue-section"' in page and 'href="#queue-section"' in page
    fig = _figures(page)["queue-offsets"]
    names = {t["name"] for t in fig["data"]}
    assert {"key 0 send", "key 0 poll"} <= names
    sends = next(t for t in fig["data"] if t["name"] == "key 0 send")
    # dense positions of acknowledged sends rise with time on a correct broker
    assert sends["y"] == sorted(sends["y"]) and len(sends["y"]) > 3
    # a consumer that goes back shows as a drop in its poll line
    ev = [{"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "poll"},
          {"index": 1, "time": 20, "process": 0, "type": "ok", "f": "poll",
           "value": {"5": [[7, 1], [8, 2]]}},
          {"index": 2, "time": 30, "process": 0, "type": "invoke", "f": "poll"},
          {"index": 3, "time": 40, "process": 0, "type": "ok", "f": "poll",
           "value": {"5": [[3, 0]]}}]
    h2 = history_from_events(ev)
    poll = next(t for t in _figures(render_html(run_checks(h2), history=h2))["queue-offsets"]["data"]
                if t["name"] == "key 5 poll")
    assert poll["y"] == [2, 0]


def test_no_queue_panel_for_other_histories(sample):
    hist, results = sample
    page = render_html(results, history=hist)
    assert 'id="queue-section"' not in page and "queue-offsets" not in _figures(page)


@pytest.mark.browser
def test_queue_panel_draws_in_chromium(tmp_path, chromium):
    from splitbrain.reports.outputs import write_outputs
    from tests.reports.test_browser import draw_all, wait_ready

    events, _ = simulate(11, "skip")
    hist = history_from_events(events)
    results = run_checks(hist)
    assert results["valid"] is False  # the skip is an anomaly, so witness charts exist too
    paths = write_outputs(str(tmp_path), results, history=hist, test={"name": "queue-panel"})
    page = chromium.open("file://" + paths["report.html"])
    wait_ready(chromium, page)
    draw_all(chromium, page)
    chromium.refresh_errors(page)
    assert page.errors == [], page.errors
    assert chromium.evaluate(
        page, "document.querySelectorAll('[data-fig=\"queue-offsets\"] .main-svg').length") >= 1
