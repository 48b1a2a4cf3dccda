"""The pipeline fault families (nemesis/pipeline.py) without a cluster: what --nemesis
accepts, what a run refuses before it starts, and how the nemesis drives the workload's
agents (a fake here; the real ones run in tests/queue/test_propagation_faults.py)."""

from __future__ import annotations

import random

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.errors import InputError
from splitbrain.nemesis.pipeline import PipelineNemesis
from splitbrain.nemesis.schedule import build_package, parse_spec

ALL = "kill-consumer,pause-consumer,kill-relay,replay,poison"


class FakeAgents:
    def __init__(self):
        self.calls = []
        self.poison_p = 0.0

    def kill(self, role):
        self.calls.append(("kill", role))
        return {"type": "info", "value": {"role": role, "pid": 1}}

    def start(self, role):
        self.calls.append(("start", role))
        return {"type": "info", "value": {"role": role, "pid": 2}}

    def pause(self, role):
        self.calls.append(("pause", role))
        return {"type": "info", "value": {"role": role}}

    def resume(self, role):
        self.calls.append(("resume", role))
        return {"type": "info", "value": {"role": role}}

    def replay(self, count):
        self.calls.append(("replay", count))
        if count == 13:
            raise RuntimeError("boom")
        return {"type": "info", "value": {"redelivered": count}}

    def ensure_running(self):
        self.calls.append(("ensure",))


def test_every_pipeline_fault_is_a_family_with_its_heal():
    fams = parse_spec(ALL)
    assert set(fams) == set(ALL.split(","))
    pkg = build_package(ALL, nodes=[], db=None, prefix="sbtest", rng=random.Random(3),
                        interval=1.0)
    assert pkg.describe({"f": "kill-consumer"}) == ("kill-consumer", "start")
    assert pkg.describe({"f": "start-consumer"}) == ("kill-consumer", "stop")
    assert pkg.describe({"f": "resume-consumer"}) == ("pause-consumer", "stop")
    assert pkg.describe({"f": "start-relay"}) == ("kill-relay", "stop")
    assert pkg.describe({"f": "replay"}) == ("replay", "start")
    assert pkg.describe({"f": "stop-poison"}) == ("poison", "stop")
    # one nemesis serves them all, and starts then heals each in turn
    assert isinstance(pkg.pipeline, PipelineNemesis)
    seen = [pkg.next_fault()["f"] for _ in range(10)]
    assert sorted(seen[0::2]) == sorted(["kill-consumer", "pause-consumer", "kill-relay",
                                         "replay", "start-poison"])
    assert all(f in ("start-consumer", "resume-consumer", "start-relay", "end-replay",
                     "stop-poison") for f in seen[1::2])


def test_faults_drive_the_attached_agents_and_never_raise():
    nem = PipelineNemesis("sbtest", {"replay": {"count": 13}, "poison": {"p": 0.5}})
    out = nem.invoke({"f": "kill-consumer"})
    assert "no propagation pipeline" in out["error"]  # before the workload attached
    agents = FakeAgents()
    nem.attach(agents)
    nem.invoke({"f": "kill-consumer"})
    assert nem.active() == ["killed consumer"]
    nem.invoke({"f": "start-consumer"})
    nem.invoke({"f": "pause-consumer"})
    nem.invoke({"f": "resume-consumer"})
    nem.invoke({"f": "kill-relay"})
    nem.invoke({"f": "start-relay"})
    assert agents.calls == [("kill", "consumer"), ("start", "consumer"), ("pause", "consumer"),
                            ("resume", "consumer"), ("kill", "relay"), ("start", "relay")]
    assert "boom" in nem.invoke({"f": "replay"})["error"]  # an error, not an exception
    nem.invoke({"f": "start-poison"})
    assert agents.poison_p == 0.5 and "poisoning writes" in nem.active()
    nem.invoke({"f": "stop-poison"})
    assert agents.poison_p == 0.0 and nem.active() == []
    nem.invoke({"f": "start-poison"})
    nem.heal_all()
    assert agents.poison_p == 0.0 and agents.calls[-1] == ("ensure",)
    assert "no fault" in nem.invoke({"f": "teleport"})["error"]


@pytest.mark.parametrize("flags, message", [
    ({"workload": "register", "nemesis": "kill-consumer"}, "needs a propagation workload"),
    ({"workload": "propagation-dual-write", "nemesis": "kill-relay"}, "needs a relay"),
    ({"workload": "propagation", "consumer_idempotency": "maybe"}, "allowed: none, dedupe, version"),
    ({"workload": "register", "consumer_idempotency": "dedupe"}, "option of the propagation"),
    ({"workload": "propagation", "nemesis": "replay",
      "nemesis_options": {"replay": {"count": 0}}}, "replay.count"),
    ({"workload": "propagation", "nemesis": "poison",
      "nemesis_options": {"poison": {"p": 2}}}, "poison.p"),
    ({"workload": "propagation", "queue": "rabbit"}, "--queue 'rabbit'"),
    ({"workload": "propagation-dual-write", "queue": "kafka"}, "outbox workloads"),
])
def test_a_run_that_cannot_inject_its_pipeline_faults_is_refused(flags, message):
    with pytest.raises(InputError, match=message):
        build_test({"time_limit": 10, "nemesis_interval": 2, **flags})


def test_consumer_idempotency_and_poison_reach_the_workload():
    from splitbrain.harness.runner import _make_workload

    wl = _make_workload(build_test({"workload": "propagation", "consumer_idempotency": "dedupe",
                                    "nemesis": "replay,poison", "time_limit": 10,
                                    "nemesis_interval": 2}))
    assert wl.consumer == "dedupe" and "dlq-conservation" in wl.checkers
    wl = _make_workload(build_test({"workload": "propagation", "nemesis": "replay",
                                    "time_limit": 10, "nemesis_interval": 2}))
    assert wl.consumer == "version" and "dlq-conservation" not in wl.checkers


def test_cli_refuses_a_bad_idempotency_mode_with_254():
    import subprocess
    import sys

    from tests.integration.runs import ROOT

    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--workload", "propagation",
                        "--consumer-idempotency", "sometimes"], capture_output=True, text=True,
                       timeout=60, env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 254, r.stderr
    assert "Traceback" not in r.stderr


def test_fault_windows_follow_family_and_phase_not_words():
    from splitbrain.checkers.groups import fault_windows

    ev = [{"f": "kill-consumer", "time": 1, "family": "kill-consumer", "phase": "start"},
          {"f": "start-consumer", "time": 2, "family": "kill-consumer", "phase": "stop"},
          {"f": "kill", "time": 3, "family": "kill", "phase": "start"},
          {"f": "start", "time": 4, "family": "kill", "phase": "stop"}]
    assert fault_windows(ev, 10) == [(1, 2, "kill-consumer #1"), (3, 4, "kill #1")]
