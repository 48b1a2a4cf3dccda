"""What every Kafka acks=all run must show, on any backend (tests/queue/test_kafka.py has
the netns run and the reasoning): nothing acknowledged lost or reordered; the one finding
this setup has shown here is `duplicate` (one idempotent send stored twice, librdkafka
under partitions/pauses), which stays a finding, each naming its single send. A clock
run also shows its clock faults applied (`assert_clock_faults_applied`)."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from splitbrain.harness.history import read_history

HOUR_MS = 3_600_000  # a clock bump no log line near the run's real time can be mistaken for
_STAMP = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+\]", re.M)
_AGED = re.compile(rb"elapsed time since creation: (\d+)ms")


def assert_only_duplicates(out, q: dict) -> None:
    kinds = {a["type"] for a in q["anomalies"]}
    assert kinds <= {"duplicate"}, q["anomalies"][:3]
    if not kinds:
        assert q["valid"] is True, q
        return
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    sends = {o.index: o for o in hist.ops if o.f == "send"}
    for a in q["anomalies"]:
        assert a["writer"] in sends and sends[a["writer"]].value == a["value"]
        assert a["count"] >= 2


def assert_faults_applied(res: dict, at_least: int) -> set[str]:
    """At least `at_least` fault families were applied and none failed; which ran."""
    nem = res["nemesis"]
    assert not any(nem["failed"].values()), nem
    ran = {f for f, n in nem["applied"].items() if n > 0}
    assert len(ran) >= at_least, nem
    return ran


def assert_clock_faults_applied(out) -> list[dict]:
    """The run skewed clocks: clock faults (bump / strobe / drift) completed without an
    error and were reset, as the nemesis events in the history show; the completions."""
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    done = [e for e in hist.nemesis if e["type"] != "invoke"
            and e["f"] in ("clock-bump", "clock-strobe", "clock-drift")]
    assert done, [e["f"] for e in hist.nemesis]
    assert not [e for e in done if e.get("error")], done
    assert all(e["value"]["nodes"] for e in done), done
    resets = [e for e in hist.nemesis if e["type"] != "invoke" and e["f"] == "clock-reset"]
    assert resets and not [e for e in resets if e.get("error")], resets
    return done


def assert_jvm_clock_moved(out, done: list[dict]) -> None:
    """The bumped brokers' JVMs ran on the shim's clock, as their server.log shows: a line
    stamped (log4j's `[%d]`, the JVM's wall clock, UTC) ≥ 30 min outside the run's real
    time span (the history file's creation to its last write, ± 10 min), or a request the
    JVM found an hour old (`elapsed time since creation: N ms`, N ≥ 50 min: Kafka's
    NetworkClient times requests by the wall clock, so a forward jump — a bump, or the
    reset after a negative one — expires the in-flight ones). Needs bumps of HOUR_MS on
    every node (targets all), so some broker has a request in flight when it jumps."""
    hist = os.path.join(out.run_dir, "history.jsonl")
    t0, t1 = os.path.getctime(hist) - 600, os.path.getmtime(hist) + 600
    bumped = {n for e in done for n in e["value"]["nodes"]}
    skewed = real = aged = 0
    for n in sorted(bumped):
        with open(os.path.join(out.run_dir, "nodes", n, "server.log"), "rb") as f:
            text = f.read()
        for m in _STAMP.finditer(text):
            t = datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=timezone.utc).timestamp()
            real += t0 <= t <= t1
            skewed += t < t0 - 1800 or t > t1 + 1800
        aged += sum(int(ms) >= 3_000_000 for ms in _AGED.findall(text))
    assert real > 0 and skewed + aged > 0, (sorted(bumped), real, skewed, aged)
