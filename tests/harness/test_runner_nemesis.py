"""The runner's side of the nemesis (issue 15.3, 16.4), without a cluster: events carry
family and phase, follow-ups run at once, a dying nemesis thread and a nemesis that never
applied a fault make the verdict unknown, and faults are counted per family."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from splitbrain.harness.config import Test
from splitbrain.harness.dbs.validate import ValidatingClient
from splitbrain.harness.history import HistoryWriter, read_history
from splitbrain.harness.models import OpSpec
from splitbrain.harness.runner import LiveStats, _judge_nemesis, _nemesis_loop, _Recorder, nemesis_accounting
from splitbrain.nemesis.schedule import build_package
from splitbrain.reports.plots import nemesis_windows
from splitbrain.reports.terminal import faults_line


@dataclass
class FakeNode:
    name: str
    address: str = "10.0.0.1"
    workdir: str = "/nonexistent"


class FakeDB:
    name = "fake"

    def primaries(self):
        return []

    def kill(self, node):
        pass

    def start(self, node):
        pass

    def pause(self, node):
        raise RuntimeError("cannot pause")

    def resume(self, node):
        pass


class Quiet:
    def __init__(self, name):
        self.name = name

    def setup(self):
        pass

    def invoke(self, fault):
        return {"type": "info", "value": fault.get("value")}

    def teardown(self):
        pass


NODES = [FakeNode(f"n{i}") for i in range(1, 4)]


def _pkg(spec, interval=0.01):
    pkg = build_package(spec, nodes=NODES, db=FakeDB(), prefix="sbtest", rng=random.Random(5),
                        interval=interval)
    for key in ("partition", "clock"):
        if getattr(pkg, key) is not None:
            setattr(pkg, key, Quiet(key))
    return pkg


def _record(tmp_path, pkg, seconds=0.3):
    path = str(tmp_path / "history.jsonl")
    writer = HistoryWriter(path)
    rec = _Recorder(writer, LiveStats())
    stop, state = threading.Event(), {}
    t = threading.Thread(target=_nemesis_loop, args=(pkg, rec, stop, LiveStats(), state))
    t.start()
    threading.Event().wait(seconds)
    stop.set()
    t.join(5)
    writer.close()
    return read_history(path), state


def test_events_carry_family_and_phase_and_follow_ups_run_at_once(tmp_path):
    hist, state = _record(tmp_path, _pkg("partition,clock"))
    assert not state
    evs = hist.nemesis
    assert evs and all(e["family"] in ("partition", "clock") for e in evs)
    assert {e["phase"] for e in evs} >= {"start", "sample"}
    # a clock op's offsets sample comes right after it, not one interval later
    fs = [e["f"] for e in evs if e["type"] == "invoke"]
    for i, f in enumerate(fs[:-1]):
        if f.startswith("clock-") and f != "clock-offsets":
            assert fs[i + 1] == "clock-offsets"
    acct = nemesis_accounting(["partition", "clock"], evs)
    assert acct["applied"]["partition"] >= 1 and acct["applied"]["clock"] >= 1


def test_windows_come_from_family_and_phase():
    evs = [{"time": 1e9, "f": "kill", "type": "invoke", "family": "kill", "phase": "start"},
           {"time": 2e9, "f": "start", "type": "invoke", "family": "kill", "phase": "stop"},
           {"time": 3e9, "f": "pause", "type": "invoke", "family": "pause", "phase": "start"}]
    ws = nemesis_windows(evs, 5e9)
    assert [(w.kind, w.start_s, w.end_s) for w in ws] == [("kill", 1.0, 2.0), ("pause", 3.0, 5.0)]
    # an imported EDN history without the fields: the word list still draws it
    old = nemesis_windows([{"time": 1e9, "f": "start-partition"},
                           {"time": 2e9, "f": "stop-partition"}], 5e9)
    assert [(w.kind, w.start_s, w.end_s) for w in old] == [("partition", 1.0, 2.0)]


def test_a_dying_nemesis_thread_makes_the_run_unknown(tmp_path):
    pkg = _pkg("partition")

    def boom():
        raise OverflowError("timeout value is too large")

    pkg.next_fault = boom
    hist, state = _record(tmp_path, pkg, 0.1)
    assert "OverflowError" in state["error"]
    results = {"valid": True, "checkers": {}}
    _judge_nemesis(results, Test(nemesis="partition", nemesis_interval=1.0), hist, state)
    assert results["valid"] == "unknown"
    assert "nemesis thread died" in results["nemesis"]["reason"]


def test_a_nemesis_that_applied_nothing_makes_the_run_unknown(tmp_path):
    hist, state = _record(tmp_path, _pkg("pause"), 0.2)  # every pause fails on FakeDB
    results = {"valid": True, "checkers": {}}
    _judge_nemesis(results, Test(nemesis="pause", nemesis_interval=1.0), hist, state)
    assert results["valid"] == "unknown"
    assert results["nemesis"]["applied"] == {"pause": 0}
    assert results["nemesis"]["failed"]["pause"] >= 1
    assert "applied no fault" in results["nemesis"]["reason"]
    assert faults_line(results).startswith("faults applied: pause 0 (")
    # an INVALID verdict stays INVALID: its anomalies are real whatever the faults did
    bad = {"valid": False, "checkers": {}}
    _judge_nemesis(bad, Test(nemesis="pause", nemesis_interval=1.0), hist, state)
    assert bad["valid"] is False
    # no nemesis requested: nothing to judge, and the line says so
    none = {"valid": True, "checkers": {}}
    _judge_nemesis(none, Test(nemesis="none"), hist, {})
    assert none["valid"] is True and faults_line(none) == "faults applied: none (no nemesis requested)"


class _Broken:
    def __init__(self, comp):
        self.comp = comp

    def invoke(self, op):
        return self.comp

    def close(self):
        pass


def test_validating_client_names_the_client_that_broke_its_contract():
    spec = OpSpec("list")
    cases = [("nope", "returned str"), ({"type": "done"}, "completion type 'done'"),
             ({"type": "ok", "f": "write"}, "completion f 'write'"),
             ({"type": "ok"}, "an ok read without a value"),
             ({"type": "ok", "value": 3}, "an ok list read returned int")]
    for comp, why in cases:
        out = ValidatingClient(_Broken(comp), spec, name="redis n1").invoke({"f": "read", "key": 1})
        assert out["type"] == "info" and "_Broken (redis n1) broke its contract" in out["error"]
        assert why in out["error"]
    good = {"type": "ok", "value": [1, 2]}
    assert ValidatingClient(_Broken(good), spec, name="x").invoke({"f": "read"}) is good
