"""`splitbrain report RUN_DIR` through the real CLI entry point (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from splitbrain.harness.history import write_jsonl

from sb_report_samples import build_events, build_results
from splitbrain.harness.history import history_from_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def make_run(tmp_path, with_results=True):
    run = tmp_path / "store" / "demo" / "20250101T000000"
    run.mkdir(parents=True)
    events = build_events()
    write_jsonl(events, run / "history.jsonl")
    if with_results:
        hist = history_from_events(events)
        (run / "results.json").write_text(json.dumps(build_results(hist)))
    (run / "test.json").write_text(json.dumps({"name": "demo", "workload": "register"}))
    return run


def test_report_regenerates_from_saved_results(tmp_path):
    run = make_run(tmp_path)
    before = (run / "results.json").read_text()
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "gh.md")}
    p = run_cli("report", str(run), env=env)
    assert p.returncode == 1, p.stderr  # invalid, like `check`
    for f in ("report.html", "junit.xml", "summary.md"):
        assert (run / f).stat().st_size > 0
    assert (run / "results.json").read_text() == before  # saved results are not rewritten
    assert "read-your-writes" in p.stdout and "report.html" in p.stdout
    assert "splitbrain" in (tmp_path / "gh.md").read_text()
    page = (run / "report.html").read_text()
    assert '"name": "demo"' in page or "&#34;name&#34;: &#34;demo&#34;" in page


def test_report_reruns_checkers_without_results(tmp_path):
    run = make_run(tmp_path, with_results=False)
    out = tmp_path / "out"
    p = run_cli("report", str(run), "--out", str(out), "-q")
    assert p.returncode in (0, 1, 2), p.stderr  # the verdict is the (concurrently built) checkers'
    res = json.loads((out / "results.json").read_text())
    assert "checkers" in res and res["workload"] == "register"
    assert (out / "report.html").exists() and (out / "junit.xml").exists()


def test_report_bad_input_exits_254(tmp_path):
    p = run_cli("report", str(tmp_path / "missing"))
    assert p.returncode == 254 and "no such run directory" in p.stderr
    run = make_run(tmp_path)
    (run / "results.json").write_text("{not json")
    p = run_cli("report", str(run))
    assert p.returncode == 254 and "results.json" in p.stderr
