"""The pytest plugin and the Python API gate CI with ordinary tests (real runs)."""

import pytest

pytestmark = [pytest.mark.root, pytest.mark.redis]

pytest_plugins = ["pytester"]


def test_fixture_runs_a_real_test(splitbrain_run):
    result = splitbrain_run(db="redis", workload="register", nemesis="none", time_limit=3,
                            read_from="primary", concurrency=2, rate=100, quiesce=0.5)
    assert result.valid is True, result.summary
    assert result.exit_code == 0 and result.run_dir and result.report_path


def test_failing_gate_prints_the_report_path(pytester):
    pytester.makepyfile(test_gate="""
        def test_replica_reads(splitbrain_run):
            result = splitbrain_run(workload="register", nemesis="partition", nemesis_interval=2,
                                    time_limit=8, read_from="replicas", concurrency=6, rate=600,
                                    quiesce=0.5)
            assert result.valid, result.summary
    """)
    res = pytester.runpytest_subprocess("-q")
    out = res.stdout.str()
    res.assert_outcomes(failed=1)
    assert "read-your-writes" in out or "monotonic-reads" in out, out
    assert "report.html" in out, out


def test_ctrl_c_stops_the_pytest_session_after_cleanup(tmp_path):
    """A gate suite interrupted during a run stops (pytest exit 2), after the run has cleaned
    up, instead of recording an `unknown` and starting the next test."""
    import glob
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.integration.test_interrupts import ROOT, _no_leftovers, _record

    store, marker = tmp_path / "store", tmp_path / "second-test-ran"
    (tmp_path / "test_gate.py").write_text(f"""
import splitbrain

def test_long_run():
    splitbrain.run(store={str(store)!r}, db="redis", workload="register", nemesis="none",
                   time_limit=30, concurrency=3, rate=200, quiesce=0)

def test_next():
    open({str(marker)!r}, "w").close()
""")
    env = dict(os.environ, PYTHONPATH=ROOT, SPLITBRAIN_RUN_DIR=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_gate.py"], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rec, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        rec = _record(tmp_path) or rec
        hist = glob.glob(str(store / "*" / "2*" / "history.jsonl"))
        if rec and hist and open(hist[0]).read().count("\n") >= 30:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    out = proc.communicate(timeout=180)[0].decode(errors="replace")
    assert rec, f"the run never started:\n{out[-3000:]}"
    assert proc.returncode == 2, out[-3000:]  # pytest: interrupted
    assert "KeyboardInterrupt" in out and "cleaned up" in out, out[-3000:]
    assert not marker.exists(), "pytest went on to the next test"
    assert _no_leftovers(rec) == []
