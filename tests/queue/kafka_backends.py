"""What every Kafka acks=all run must show, on any backend (tests/queue/test_kafka.py has
the netns run and the reasoning): nothing acknowledged lost or reordered; the one finding
this setup has shown here is `duplicate` (one idempotent send stored twice, librdkafka
under partitions/pauses), which stays a finding, each naming its single send."""

from __future__ import annotations

import os

from splitbrain.harness.history import read_history


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
