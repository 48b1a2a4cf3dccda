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
