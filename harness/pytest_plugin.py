"""pytest plugin (auto-loaded when splitbrain is installed).

Gives tests a `splitbrain_run` fixture that runs a test into the session's temporary store
and, on failure, points at the report:

    def test_redis_keeps_acknowledged_writes(splitbrain_run):
        result = splitbrain_run(db="redis", workload="set", nemesis="partition", time_limit=20)
        assert result.valid, result.summary
"""

from __future__ import annotations

import pytest


@pytest.fixture
def splitbrain_run(tmp_path_factory, request):
    import splitbrain

    results = []

    def _run(**settings):
        settings.setdefault("store", str(tmp_path_factory.mktemp("splitbrain-store")))
        res = splitbrain.run(**settings)
        results.append(res)
        return res

    yield _run
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for res in results:
            where = res.report_path or res.run_dir
            request.node.add_report_section("call", "splitbrain", f"report: {where}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep
