"""summary.md (and $GITHUB_STEP_SUMMARY) and the terminal verdict table."""

from __future__ import annotations

import io

from splitbrain.reports.summary import md_cell, summary_markdown, write_summary
from splitbrain.reports.terminal import print_results

from sb_report_samples import XSS


def test_summary_table(tmp_path, sample, monkeypatch):
    _, results = sample
    gh = tmp_path / "step_summary.md"
    gh.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(gh))
    path = write_summary(str(tmp_path / "summary.md"), results, title="demo",
                         report_href="/x/report.html")
    text = open(path).read()
    rows = [l for l in text.splitlines() if l.startswith("| ")]
    assert len(rows) == 1 + len(results["checkers"])
    assert all(r.count(" | ") == 3 for r in rows[1:])
    assert "❌ **INVALID**" in text.splitlines()[0]
    assert "read-your-writes | ❌ **INVALID** | 1 |" in text
    assert "⚠️ unknown" in text
    appended = gh.read_text()
    assert appended.startswith("previous step\n") and text in appended


def test_summary_escapes_cells(xss_sample):
    _, results = xss_sample
    results["checkers"]["read-your-writes"]["anomalies"][0]["explanation"] += " a|b\nc"
    text = summary_markdown(results)
    assert "<script>" not in text and "&lt;script&gt;" in text
    row = next(l for l in text.splitlines() if l.startswith("| read-your-writes"))
    assert row.count(" | ") == 3 and "a\\|b c" in row
    assert md_cell("x" * 1000).endswith("…")


def test_terminal_names_first_anomaly_in_one_line_and_the_report(sample):
    from rich.console import Console

    _, results = sample
    results["checkers"]["read-your-writes"]["anomalies"][0]["explanation"] += "\nsecond line " + "y" * 300
    buf = io.StringIO()
    print_results(results, console=Console(file=buf, width=200, color_system=None),
                  source="h.jsonl", report_path="/tmp/run/report.html")
    out = buf.getvalue()
    line = next(l for l in out.splitlines() if "read-your-writes" in l and "INVALID" in l)
    assert "read-your-writes key k1: process 0 wrote k1" in line
    assert not any(l.strip().startswith("yyyy") for l in out.splitlines())
    assert "divergence key k2" in out
    assert "report: file:///tmp/run/report.html" in out


def test_terminal_shows_hostile_text_literally(xss_sample):
    from rich.console import Console

    _, results = xss_sample
    results["checkers"]["lost-updates"]["reason"] = "[bold red]not markup[/]"
    buf = io.StringIO()
    print_results(results, console=Console(file=buf, width=250, color_system=None))
    assert "[bold red]not markup[/]" in buf.getvalue()


def test_terminal_keeps_verdicts_on_a_narrow_terminal(sample):
    from rich.console import Console

    _, results = sample
    buf = io.StringIO()
    print_results(results, console=Console(file=buf, width=80, color_system=None))
    rows = [l for l in buf.getvalue().splitlines() if l.startswith("│")]
    assert len(rows) == len(results["checkers"]) and all(len(l) <= 80 for l in rows)
    assert "│ read-your-writes │ INVALID │" in rows[0]
