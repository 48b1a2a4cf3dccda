"""A 32 s Redis Sentinel run under partition, clock, kill and pause faults (issue
acceptance): the history is complete and checkable, every fault started is undone, and
nothing is left behind.

32 s at a 4 s interval is 8 fault slots, a start and its heal alternating: starts at
~4, ~12, ~20 and ~28 s. The schedule is a shuffled round-robin (nemesis/schedule.py
_next_family), so the first three starts are three different families whatever the
seed, and the fourth is the fourth family unless the slots drift by more than 4 s;
the third start has 12 s of margin. (The run was 60 s, 15 slots, before: the same
families, each twice.)"""

import os

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.history import read_history
from tests.integration.leftovers import new_since, snapshot

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]


def test_sentinel_thirty_two_seconds_of_mixed_faults(tmp_path):
    from splitbrain.harness.runner import run_test

    before = snapshot(str(tmp_path))
    out = run_test(build_test({
        "topology": "sentinel", "workload": "list-append", "nemesis": "partition,clock,kill,pause",
        "nemesis_interval": 4, "time_limit": 32, "concurrency": 6, "rate": 300,
        "read_from": "any", "quiesce": 2, "seed": 424242, "store": str(tmp_path / "store")}))
    res = out.results
    assert res is not None
    for name, r in res["checkers"].items():
        assert "checker error" not in (r.get("reason") or ""), (name, r)
    raw = [l for l in open(os.path.join(out.run_dir, "history.jsonl"))]
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    # complete: every invocation has its completion (none left pending at the end)
    assert len(raw) == 2 * len(hist.ops) + len(hist.nemesis)
    assert all(o.t_ret_seen is not None for o in hist.ops)
    fs = [e["f"] for e in hist.nemesis if e["type"] == "info"]
    families = {"partition": {"start-partition"}, "clock": {"clock-bump", "clock-strobe", "clock-drift"},
                "kill": {"kill"}, "pause": {"pause"}}
    seen = {fam for fam, names in families.items() if names & set(fs)}
    assert len(seen) >= 3, fs  # 8 fault slots, round-robin: at least three families fire
    assert "clock-offsets" in fs
    # the final phase undid everything that was started
    assert {"stop-partition", "clock-reset", "start", "resume"} & set(fs)
    last_offsets = [e for e in hist.nemesis if e["f"] == "clock-offsets" and e["type"] == "info"][-1]
    offsets = (last_offsets.get("value") or {}).get("offsets_ms") or last_offsets.get("value")
    assert offsets, last_offsets
    assert not new_since(before, snapshot(str(tmp_path)))
