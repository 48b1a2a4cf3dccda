"""The report's propagation panel (reports/propagation_plots.py) on simulated pipelines."""

from __future__ import annotations

import json
import math
import re

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.propagation import OUTCOMES, event_series
from splitbrain.harness.history import history_from_events
from splitbrain.reports import propagation_plots
from splitbrain.reports.html import render_html
from tests.checkers.propagation_sim import simulate

CASES = [dict(), dict(consumer="none", mode="dual-write", crash_p=0.25),
         dict(poison_p=0.15), dict(poison_p=0.2, backlog=True), dict(final=False),
         dict(consumer="none", kill_p=0.3)]


def _figures(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="sb-figures">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def _pct_ms(xs, p):  # the checker's percentile (nearest rank), in its ms rounding
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, max(0, math.ceil(p * len(xs)) - 1))] / 1e6, 3)


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(c) or "outbox")
@pytest.mark.parametrize("seed", [1, 7])
def test_panel_data_agrees_with_the_checker(seed, case):
    events, truth = simulate(seed, **case)
    hist = history_from_events(events)
    results = run_checks(hist)
    st = results["checkers"]["propagation-lag"]["stats"]
    series = event_series(hist)
    outcome = series["outcome"]
    # the funnel's outcomes partition the committed events
    assert len(outcome) == series["committed"] == st["events_committed"]
    counts = {k: sum(1 for o in outcome.values() if o == k) for k in OUTCOMES}
    assert sum(counts.values()) == st["events_committed"]
    lost_res = results["checkers"]["lost-event"]
    lost_events = {a["event"] for a in lost_res["anomalies"]}
    assert {e for e, o in outcome.items() if o == "lost"} == lost_events
    assert counts["still queued"] == lost_res["stats"].get("not_applied_at_final_reads", 0)
    if case.get("consumer") == "none" and case.get("crash_p"):
        # the derived lists are authoritative: the writer's crashed publishes are the lost
        assert lost_events == truth["lost"] and lost_events
    if case.get("final") is False:
        assert counts["lost"] == counts["still queued"] == 0 and counts["unresolved"] == 0
    assert counts["dead-lettered"] == len(set(truth["dlq"]) & set(outcome))
    if case.get("mode") != "dual-write":
        assert series["published"] == st["events_committed"]
    # the lag series is the checker's: same count and percentiles
    ups = [u for *_, u in series["lags"]]
    los = [lo for _, _, lo, _ in series["lags"]]
    assert len(ups) == st["events_measured"] > 0
    assert all(0 <= lo <= up for lo, up in zip(los, ups))
    for p in (0.5, 0.95, 0.99):
        assert _pct_ms(ups, p) == st[f"upper_p{int(p * 100)}_ms"]
    assert _pct_ms(los, 0.5) == st["lower_p50_ms"] and _pct_ms(los, 0.99) == st["lower_p99_ms"]

    page = render_html(results, history=hist)
    assert 'id="propagation-section"' in page and 'href="#propagation-section"' in page
    figs = _figures(page)
    # the CDF drawn: the first point at or past 50% / 99% is the checker's p50 / p99
    cdf = next(t for t in figs["prop-lag-cdf"]["data"] if t["name"] == "upper bound")
    for p, k in ((0.5, "upper_p50_ms"), (0.99, "upper_p99_ms")):
        assert next(x for x, y in zip(cdf["x"], cdf["y"]) if y >= p - 1e-9) == st[k]
    # the funnel drawn: the stacked outcomes add up to the committed bar
    bars = figs["prop-funnel"]["data"]
    assert sum(t["x"][0] for t in bars if t["y"] == ["outcome"]) == st["events_committed"]
    assert next(t for t in bars if t["y"] == ["committed"])["x"] == [st["events_committed"]]
    # every propagation checker with an anomaly has its first witness linked
    failing = [n for n, r in results["checkers"].items() if r.get("anomalies")]
    panel = page[page.index('id="propagation-section"'):]
    panel = panel[:panel.index("</section>")]
    for n in failing:
        assert f'<a href="#c-{n}">{n}</a>' in panel and f'id="c-{n}"' in page
    marks = [t for t in figs["prop-lag-time"]["data"] if t["name"] == "first witness"]
    with_ops = [n for n in failing if results["checkers"][n]["anomalies"][0].get("ops")]
    assert (len(marks[0]["x"]) if marks else 0) == len(with_ops)


def _spec_history(backlog: bool):
    ev = []

    def op(p, f, typ="ok", **kw):
        t = (len(ev) + 1) * 1_000_000
        ev.append({"index": len(ev), "time": t, "process": p, "type": "invoke", "f": f,
                   **{k: v for k, v in kw.items() if k in ("key", "final")}})
        ev.append({"index": len(ev), "time": t + 500_000, "process": p, "type": typ, "f": f,
                   **kw})

    op(0, "write-source", key=0, value=1, version=1)  # applied (a final read holds it)
    op(0, "write-source", key=0, value=2, version=2)  # lost (or still queued: backlog)
    op(0, "write-source", key=1, value=3, version=1, poison=True)  # dead-lettered
    op(0, "write-source", key=2, value=4, version=1)  # unresolved: key 2 has no final read
    op(0, "write-source", key=3, value=5, version=1)  # applied, seen by an apply only
    op(0, "write-source", "fail", key=0, value=6)     # never committed
    op(3, "read-derived", key=0, value={"version": 0, "events": []})  # misses e1
    for e in (1, 2, 3, 4):
        op(1, "relay", value=e)
    op(2, "apply", key=0, value=1, version=1, decision="applied")
    op(2, "apply", "fail", key=1, value=3, version=1, error="poison")
    op(2, "dlq", key=1, value=3, version=1)
    op(2, "apply", key=3, value=5, version=1, decision="applied")
    op(3, "read-derived", key=0, value={"version": 1, "events": [1]})
    op(4, "queue-backlog", value=backlog, final=True)
    op(4, "read-dlq", value=[3], final=True)
    op(4, "read-derived", key=0, value={"version": 1, "events": [1]}, final=True)
    return history_from_events(ev)


@pytest.mark.parametrize("backlog", [False, True])
def test_each_outcome_of_a_hand_built_history(backlog):
    hist = _spec_history(backlog)
    series = event_series(hist)
    assert series["outcome"] == {1: "applied", 2: "still queued" if backlog else "lost",
                                 3: "dead-lettered", 4: "unresolved", 5: "applied"}
    assert series["committed"] == 5 and series["published"] == 4
    # e1: committed at 1.5 ms, missed by the read invoked at 13 ms, first reflected by
    # the read completing at 31.5 ms
    assert series["lags"] == [(1, 1_500_000, 11_500_000, 30_000_000)]
    page = render_html(run_checks(hist), history=hist)
    assert ("lost 0, still queued 1" if backlog else "lost 1, still queued 0") in page
    panel = page[page.index('id="propagation-section"'):]
    panel = panel[:panel.index("</section>")]
    assert ('<a href="#c-lost-event">lost-event</a>' in panel) is not backlog


def test_panel_points_are_bounded(monkeypatch):
    monkeypatch.setattr(propagation_plots, "CDF_POINTS", 20)
    monkeypatch.setattr(propagation_plots, "BUDGET", 25)
    hist = history_from_events(simulate(3, n=200)[0])
    results = run_checks(hist)
    figs = _figures(render_html(results, history=hist))
    top = results["checkers"]["propagation-lag"]["stats"]["upper_max_ms"]
    for t in figs["prop-lag-cdf"]["data"]:
        assert 2 < len(t["x"]) <= 20 and t["y"][-1] == 1.0
    up = next(t for t in figs["prop-lag-time"]["data"] if t["name"] == "upper bound")
    assert len(up["x"]) <= 25 and max(up["y"]) == top  # the slowest event survives sampling
    assert "sampled" in figs["prop-lag-time"]["layout"]["title"]["text"]


def test_no_propagation_panel_for_other_histories(sample):
    hist, results = sample
    page = render_html(results, history=hist)
    assert 'id="propagation-section"' not in page and "prop-funnel" not in _figures(page)


@pytest.mark.browser
def test_propagation_panel_draws_in_chromium(tmp_path, chromium):
    from splitbrain.reports.outputs import write_outputs
    from tests.reports.test_browser import draw_all, wait_ready

    hist = history_from_events(simulate(5, consumer="none", mode="dual-write", crash_p=0.2,
                                        poison_p=0.1)[0])
    hist.nemesis.extend([{"time": 50_000_000, "type": "info", "f": "start-partition",
                          "family": "partition", "phase": "start"},
                         {"time": 150_000_000, "type": "info", "f": "stop-partition",
                          "family": "partition", "phase": "stop"}])
    results = run_checks(hist)
    assert results["checkers"]["lost-event"]["valid"] is False
    paths = write_outputs(str(tmp_path), results, history=hist, test={"name": "prop-panel"})
    page = chromium.open("file://" + paths["report.html"])
    wait_ready(chromium, page)
    draw_all(chromium, page)
    chromium.refresh_errors(page)
    assert page.errors == [], page.errors
    for fig in ("prop-lag-cdf", "prop-lag-time", "prop-funnel"):
        assert chromium.evaluate(
            page, f"document.querySelectorAll('[data-fig=\"{fig}\"] .main-svg').length") >= 1, fig
