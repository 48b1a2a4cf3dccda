"""Single-key histories whose :index values repeat are read in line order, which their
authors did not mean as real time: the real-time checkers' findings there are notices
and the verdict unknown (checkers/__init__.py `_realtime_assumed`), never INVALID."""

from __future__ import annotations

from splitbrain.checkers import run_checks
from splitbrain.harness.history import read_history

LINES = ["{:type :invoke, :f :write, :value 1, :process 0, :index %d}",
         "{:type :ok, :f :write, :value 1, :process 0, :index %d}",
         "{:type :invoke, :f :read, :value nil, :process 1, :index %d}",
         "{:type :ok, :f :read, :value nil, :process 1, :index %d}"]


def judge(tmp_path, indexes):
    p = tmp_path / "h.edn"
    p.write_text("\n".join(l % i for l, i in zip(LINES, indexes)) + "\n")
    return run_checks(read_history(str(p)))


def test_unique_indexes_decide(tmp_path):
    # the read began after the write completed and saw nothing: the write is lost
    res = judge(tmp_path, [0, 1, 2, 3])
    assert res["valid"] is False and res["checkers"]["convergence"]["valid"] is False


def test_repeated_indexes_leave_it_unknown_with_the_finding_as_a_notice(tmp_path):
    # each process numbered 1, 2: the read may have run beside the write
    res = judge(tmp_path, [1, 2, 1, 2])
    conv = res["checkers"]["convergence"]
    assert res["valid"] == "unknown" and conv["valid"] == "unknown"
    assert conv["reason"].startswith("realtime-order-assumed") and conv["notices"]
    assert conv["anomaly_count"] == 0
