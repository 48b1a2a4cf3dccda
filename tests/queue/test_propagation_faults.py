"""The pipeline faults (nemesis/pipeline.py) on real Redis in namespaces, with the relay
and consumer as real processes in n1's namespace (issue 13 item 4):

* outbox + `version` consumer under partition, pause, kill-consumer, pause-consumer,
  kill-relay and replay -> every checker valid, lag measured, converged;
* `none` consumer + replay -> duplicate effects, witnessed by real ops;
* `dedupe` consumer + kill-consumer and replay -> no duplicate effect;
* poison events -> dead-lettered exactly once (dlq-conservation valid, some dead letters).
"""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]
RUN = dict(workload="propagation", concurrency=4, rate=150, quiesce=2.0)


def _nemesis_fs(out) -> set:
    return {e["f"] for e in read_history(os.path.join(out.run_dir, "history.jsonl")).nemesis}


def test_outbox_version_consumer_under_every_fault_is_valid_and_converges(tmp_path):
    out = run_in(tmp_path, nemesis="partition,pause,kill-consumer,pause-consumer,kill-relay,replay",
                 nemesis_interval=1.5, time_limit=20, **RUN)
    res = out.results
    assert res is not None
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    assert res["checkers"]["propagation-lag"]["stats"]["events_measured"] > 50
    assert res["checkers"]["derived-regression"]["anomaly_count"] == 0  # no stale-final
    # every pipeline fault was injected and healed, recorded with its family and phase
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    tagged = {(e["f"], e.get("family"), e.get("phase")) for e in hist.nemesis}
    for start, stop, fam in (("kill-consumer", "start-consumer", "kill-consumer"),
                             ("pause-consumer", "resume-consumer", "pause-consumer"),
                             ("kill-relay", "start-relay", "kill-relay"),
                             ("replay", "end-replay", "replay")):
        assert (start, fam, "start") in tagged and (stop, fam, "stop") in tagged, fam
    pipeline = {"kill-consumer", "pause-consumer", "kill-relay", "replay"}
    assert not [e for e in hist.nemesis
                if e.get("family") in pipeline and e["type"] != "invoke" and e.get("error")]
    # the killed relay / consumer were replaced (new pids), the replay rewound the group
    replays = [e["value"] for e in hist.nemesis if e["f"] == "replay" and e["type"] == "info"]
    assert any((r or {}).get("redelivered", 0) > 0 for r in replays)


def test_none_consumer_under_replay_duplicates_effects(tmp_path):
    out = run_in(tmp_path, nemesis="replay", nemesis_interval=2, time_limit=10,
                 consumer_idempotency="none", **RUN)
    res = out.results
    dup = res["checkers"]["duplicate-effect"]
    assert dup["valid"] is False and dup["anomaly_count"] > 0
    assert_witnesses_are_real(out.run_dir, res, "duplicate-effect")
    assert "replay" in _nemesis_fs(out)
    assert res["checkers"]["lost-event"]["valid"] is True  # redelivery loses nothing


def test_dedupe_consumer_under_kills_and_replay_has_no_duplicate_effect(tmp_path):
    out = run_in(tmp_path, nemesis="kill-consumer,replay", nemesis_interval=1.5, time_limit=10,
                 consumer_idempotency="dedupe", **RUN)
    res = out.results
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    # redeliveries happened and were recognised as duplicates
    assert any(o.f == "apply" and (o.extra or {}).get("decision") == "skipped-duplicate"
               for o in hist.ops)
    st = res["checkers"]["duplicate-effect"]["stats"]
    assert st["events_redelivered"] > 0 and st["applies_skipped"] > 0


def test_poison_events_are_dead_lettered_exactly_once(tmp_path):
    out = run_in(tmp_path, nemesis="poison", nemesis_interval=2, time_limit=10, **RUN)
    res = out.results
    d = res["checkers"]["dlq-conservation"]
    assert d["valid"] is True, (d["anomalies"][:2], d.get("reason"))
    assert d["stats"]["dead_lettered"] > 0
    assert d["stats"]["dead_lettered"] == d["stats"]["poisoned_committed"]
    for name, c in res["checkers"].items():
        assert c["valid"] is True, (name, c["anomalies"][:2], c.get("reason"))
