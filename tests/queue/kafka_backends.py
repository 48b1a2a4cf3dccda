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
# `--db kafka --nemesis clock` on a backend: hour-long bumps of every node, acks=all
CLOCK_RUN = dict(db="kafka", workload="queue", nemesis="clock-bump", nemesis_interval=4,
                 time_limit=15, nemesis_options={"clock": {"min_bump_ms": HOUR_MS,
                                                           "max_bump_ms": HOUR_MS,
                                                           "targets": ["all"]}},
                 kafka_acks="all", kafka_min_insync=2, kafka_idempotence=True,
                 concurrency=6, rate=200, quiesce=3.0)
# `--workload propagation --queue kafka` on a backend: one partition (5 s to 10 s)
PROPAGATION_RUN = dict(workload="propagation", queue="kafka", nemesis="partition",
                       nemesis_interval=5, time_limit=15,
                       nemesis_options={"partition": {"shapes": ["one"]}},
                       concurrency=4, rate=100, quiesce=2.0)
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


def assert_clock_run(out) -> list[dict]:
    """A CLOCK_RUN's result: acks=all valid (only duplicates), the clock faults applied
    and healed, the JVMs on the shim's clock; the clock fault completions."""
    res = out.results
    assert res is not None, out
    q = res["checkers"]["queue"]
    assert q["stats"]["sends_ok"] >= 5 and q["stats"]["messages_read"] > 0, q["stats"]
    assert_only_duplicates(out, q)
    assert assert_faults_applied(res, 1) == {"clock"}
    done = assert_clock_faults_applied(out)
    assert_jvm_clock_moved(out, done)
    return done


def assert_propagation_through_kafka(out, faults: set[str], events: int = 20) -> None:
    """The netns verdict of propagation through Kafka (tests/queue/test_propagation_kafka.py):
    every checker valid, lag measured for more than `events` events, exactly `faults`
    applied, and every apply names its topic offset (the events came through Kafka)."""
    res = out.results
    assert res is not None, out
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    assert res["checkers"]["propagation-lag"]["stats"]["events_measured"] > events
    assert assert_faults_applied(res, 1) == faults
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    applies = [o for o in hist.ops if o.f == "apply" and o.type == "ok"]
    assert applies and all(isinstance((o.extra or {}).get("offset"), int) for o in applies)


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
