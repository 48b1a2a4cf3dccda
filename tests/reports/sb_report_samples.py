"""Report test data: histories with known anomalies and results built from `checkers.result` types.

The real checkers are written concurrently, so these results are constructed by hand:
the report must render whatever a checker says, not re-derive it.
"""

from __future__ import annotations

import os
import shutil

from splitbrain.checkers.result import Anomaly, CheckResult
from splitbrain.harness.history import history_from_events

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)><b>bold</b>"
MS = 1_000_000


def build_events(*, xss: bool = False) -> list[dict]:
    """3 processes over ~2 s: writes/reads on k1..k3, a partition window, clock offsets,
    final reads on two nodes that disagree on k2, one info write, one fail."""
    evs: list[dict] = []
    idx = 0

    def ev(t_ms, process, typ, f, key=None, value=None, **kw):
        nonlocal idx
        e = {"index": idx, "time": int(t_ms * MS), "process": process, "type": typ, "f": f}
        if key is not None:
            e["key"] = key
        if value is not None or f == "read":
            e["value"] = value
        e.update(kw)
        evs.append(e)
        idx += 1

    v = XSS if xss else "v"
    # ops 0-3: process 0 writes k1=a then reads k1 and gets an older value (RYW witness)
    ev(0, 0, "invoke", "write", "k1", "a0")
    ev(5, 0, "ok", "write", "k1", "a0", node="n1")
    ev(10, 0, "invoke", "write", "k1", f"a1{v}")
    ev(18, 0, "ok", "write", "k1", f"a1{v}", node="n1")
    ev(20, 1, "invoke", "read", "k1")
    ev(26, 1, "ok", "read", "k1", f"a1{v}", node="n2")
    ev(30, 0, "invoke", "read", "k1")
    ev(41, 0, "ok", "read", "k1", "a0", node="n2")
    ev(100, "nemesis", "invoke", "start-partition", value="majority")
    ev(102, "nemesis", "info", "start-partition", value={"n1": ["n2", "n3"]})
    ev(110, 2, "invoke", "write", "k2", "b0")
    ev(400, 2, "info", "write", "k2", "b0", error="timeout")
    ev(420, 3, "invoke", "write", "k2", "b1")
    ev(430, 3, "fail", "write", "k2", "b1", error="READONLY")
    ev(450, 1, "invoke", "read", "k3")
    ev(460, 1, "ok", "read", "k3", None, node="n3")
    ev(500, "nemesis", "invoke", "clock-offsets")
    ev(501, "nemesis", "info", "clock-offsets", value={"n1": 0.4, "n2": -120.5, "n3": 33})
    ev(900, "nemesis", "invoke", "stop-partition")
    ev(905, "nemesis", "info", "stop-partition")
    for i in range(40):  # steady traffic so the timeline and throughput have shape
        p = 4 + i % 3
        t = 950 + i * 20
        ev(t, p, "invoke", "write", "k3", f"c{i}")
        ev(t + 3 + i % 7, p, "ok", "write", "k3", f"c{i}", node="n1")
    ev(1900, 5, "invoke", "read", "k2", final=True)
    ev(1905, 5, "ok", "read", "k2", "b0", node="n1", final=True)
    ev(1910, 6, "invoke", "read", "k2", final=True)
    ev(1915, 6, "ok", "read", "k2", f"stale{v}", node="n2", final=True)
    return evs


def op_index(history, process, f, key, value=None):
    for op in history.ops:
        if op.process == process and op.f == f and op.key == key and (value is None or op.value == value):
            return op.index
    raise LookupError((process, f, key, value))


def build_results(history, *, xss: bool = False) -> dict:
    """Results (architecture §5) naming real witness ops of `build_events`."""
    w1 = op_index(history, 0, "write", "k1", next(o.value for o in history.ops
                                                    if o.process == 0 and o.f == "write" and o.value != "a0"))
    r = op_index(history, 0, "read", "k1")
    w0 = op_index(history, 0, "write", "k1", "a0")
    f1 = [o.index for o in history.ops if o.final]
    tag = f" {XSS}" if xss else ""
    ryw = CheckResult("read-your-writes", False, [
        Anomaly("read-your-writes", f"process 0 wrote k1 (op {w1}) and its later read (op {r}) "
                f"returned a0, written before it (op {w0}){tag}", [w1, r, w0], key="k1", process=0,
                details={"confidence": "definite"})])
    conv = CheckResult("convergence", False, [
        Anomaly("divergence", f"final reads of k2 disagree: n1 sees b0, n2 sees a value never "
                f"written{tag}", f1, key="k2")], stats={"keys": 3, "converged": 2})
    checks = {
        "read-your-writes": ryw,
        "monotonic-reads": CheckResult("monotonic-reads", True),
        "lost-updates": CheckResult("lost-updates", "unknown",
                                    reason=f"key k2 has an info write and no later read{tag}"),
        "staleness": CheckResult("staleness", True, stats={
            "p50_ms": 0.4, "p90_ms": 3.5, "p99_ms": 35.0, "max_ms": 410.0, "max_versions": 3,
            "reads": 42, "histogram": [[0, 1, 30], [1, 10, 8], [10, 100, 3], [100, 1000, 1]]}),
        "convergence": conv,
    }
    return {"valid": False, "workload": "register",
            "checkers": {n: c.to_json() for n, c in checks.items()},
            "stats": history.stats(), "timings_s": {"splitbrain.checkers.session": 0.01}}


