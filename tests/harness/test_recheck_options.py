"""One CheckOptions.from_test (issue 16.6): a run, `report --recheck` and the Python API
judge with the same options — the staleness bound included."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.config import build_test

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_from_a_test_and_from_its_test_json_alike():
    t = build_test({"staleness_bound": "250ms,3v", "workload": "cas-register"})
    a = CheckOptions.from_test(t, history="register")
    b = CheckOptions.from_test(t.to_json(), history="register")
    assert a == b
    assert (a.workload, a.staleness_bound_ns, a.staleness_bound_versions) == \
        ("register", 250_000_000, 3)
    # a recorded workload the checkers do not know by name is inferred from the ops
    assert CheckOptions.from_test({"workload": "no-such-workload"}).workload is None
    assert CheckOptions.from_test({}).staleness_bound_ns is None


def _ev(i, p, typ, f, key, value, t, version=None):
    ev = {"index": i, "time": t, "process": p, "type": typ, "f": f, "key": key, "value": value}
    if version is not None:
        ev["version"] = version
    return ev


def test_report_recheck_keeps_the_staleness_bound(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    evs = [_ev(0, 0, "invoke", "write", 1, 1, 0), _ev(1, 0, "ok", "write", 1, 1, 10, 1),
           _ev(2, 0, "invoke", "write", 1, 2, 20), _ev(3, 0, "ok", "write", 1, 2, 30, 2),
           _ev(4, 1, "invoke", "read", 1, None, 5_000_000_000),
           _ev(5, 1, "ok", "read", 1, 1, 5_000_000_010, 1)]
    (run / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs))
    (run / "test.json").write_text(json.dumps({"workload": "register",
                                               "staleness_bound": "1ms",
                                               "checkers": ["staleness"]}))
    r = subprocess.run([sys.executable, "-m", "splitbrain", "report", str(run), "--recheck", "-q"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    res = json.loads((run / "results.json").read_text())
    st = res["checkers"]["staleness"]
    assert st["stats"].get("bound_ms") == 1.0, st
    assert st["valid"] is False and st["anomaly_count"] == 1  # 5 s stale > 1 ms
    assert list(res["checkers"]) == ["staleness"]
    assert r.returncode == 1, r.stderr
