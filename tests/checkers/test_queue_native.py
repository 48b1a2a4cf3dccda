"""checkers/queue: the Rust message passes (native/src/queue.rs) give results identical to
the pure-Python loops, and an older `splitbrain._native` without them falls back."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.queue import check, native
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import history_from_events
from tests.checkers.queue_sim import simulate
from tests.checkers.test_queue_fixtures import FIX, case_rows, events_of

OPTS = CheckOptions(workload="queue", max_lag_ns=10**6)
needs_native = pytest.mark.skipif(native.READ is None, reason=f"no Rust queue passes: {native.PROBLEM}")


def full(events, engine):
    """Every result of the family as JSON, with the engine field checked and dropped."""
    hist = history_from_events(json.loads(json.dumps(events)))  # fresh objects per run
    saved = native.READ, native.DENSE, native.STEPS, native.LAG
    if engine == "python":
        native.READ = native.DENSE = native.STEPS = native.LAG = None
    try:
        res = check(hist, OPTS)
    finally:
        native.READ, native.DENSE, native.STEPS, native.LAG = saved
    out = {n: r.to_json(10**6) for n, r in res.items()}
    assert out["queue"]["stats"].pop("engine") == engine
    return json.loads(json.dumps(out, default=repr, sort_keys=True))


@needs_native
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([None, "lose", "duplicate", "reorder", "skip"]),
       st.booleans(), st.booleans())
def test_native_equals_python_on_simulated_brokers(seed, fault, group, redis_ids):
    events, _ = simulate(seed, fault, group=group, redis_ids=redis_ids)
    assert full(events, "native") == full(events, "python")


@needs_native
@pytest.mark.parametrize("case", FIX["cases"], ids=[c["name"] for c in FIX["cases"]])
def test_native_equals_python_on_jepsen_fixtures(case):
    events = events_of(case_rows(case))
    assert full(events, "native") == full(events, "python")


@needs_native
def test_native_equals_python_on_odd_shapes():
    # int keys and tuple-less shapes the Rust pass declines (Python then runs), an
    # offset-less message and a repeated key spelling: still the same results
    events = [
        {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "send", "key": 1, "value": 5},
        {"index": 1, "time": 1, "process": 0, "type": "ok", "f": "send", "key": 1, "value": 5, "offset": 3},
        {"index": 2, "time": 2, "process": 1, "type": "invoke", "f": "poll"},
        {"index": 3, "time": 3, "process": 1, "type": "ok", "f": "poll", "value": {"1": [[3, 5], [None, 5]], "2": [[0, 9]]}},
        {"index": 4, "time": 4, "process": 1, "type": "invoke", "f": "poll"},
        {"index": 5, "time": 5, "process": 1, "type": "ok", "f": "poll", "value": {"1": [[[1, 2], 5]]}},
    ]
    assert full(events, "native") == full(events, "python")


def test_older_native_module_falls_back_to_python(monkeypatch):
    old = types.ModuleType("splitbrain._native")  # an .so built before queue.rs
    old.ABI = 2
    monkeypatch.setitem(sys.modules, "splitbrain._native", old)
    try:
        importlib.reload(native)
        assert native.READ is None and native.DENSE is None
        assert "no queue functions" in native.PROBLEM and native.engine() == "python"
        events, _ = simulate(7, "lose")
        res = check(history_from_events(events), OPTS)["queue"]
        assert res.stats["engine"] == "python" and res.valid is False
    finally:
        monkeypatch.undo()
        importlib.reload(native)
    assert native.engine() == ("native" if hasattr(sys.modules["splitbrain._native"], "queue_read")
                               else "python")


def test_engine_can_be_forced_to_python(monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_QUEUE_ENGINE", "python")
    try:
        importlib.reload(native)
        assert native.engine() == "python" and native.PROBLEM == "SPLITBRAIN_QUEUE_ENGINE=python"
    finally:
        monkeypatch.undo()
        importlib.reload(native)


def _mutate(events: list, seed: int) -> list:
    """A simulated history roughened so every branch of the Rust passes runs: completions
    turned info/fail, polls re-ordered, a `reset` or `rebalanced` extra, sends re-pointed
    at other offsets (nonmonotonic sends), subscribes, string and float-free times."""
    import random

    rng = random.Random(seed)
    out = []
    subscribing: set = set()
    for ev in events:
        ev = dict(ev)
        r = rng.random()
        if ev["type"] == "ok" and ev["f"] in ("poll", "send") and r < 0.08:
            ev["type"] = rng.choice(["info", "fail"])
        elif ev["type"] == "ok" and ev["f"] == "poll" and r < 0.16 and ev.get("value"):
            v = {k: list(m) for k, m in ev["value"].items()}
            k = rng.choice(sorted(v))
            rng.shuffle(v[k])
            if rng.random() < 0.5:
                ev[rng.choice(["reset", "rebalanced"])] = [k]
            ev["value"] = v
        elif ev["type"] == "ok" and ev["f"] == "send" and r < 0.22 and isinstance(ev.get("offset"), int):
            ev["offset"] = max(0, ev["offset"] - rng.choice([2, 4, 6]))
        elif ev["f"] == "assign" and not ev.get("final") and (
                ev["process"] in subscribing if ev["type"] != "invoke" else r < 0.3):
            ev["f"] = "subscribe"  # the invocation and its completion alike
            (subscribing.add if ev["type"] == "invoke" else subscribing.discard)(ev["process"])
        out.append(ev)
    return out


@needs_native
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([None, "lose", "duplicate", "reorder", "skip"]),
       st.booleans(), st.integers(0, 10**6))
def test_native_equals_python_on_roughened_histories(seed, fault, group, mseed):
    events, _ = simulate(seed, fault, group=group, n_ops=160, procs=4)
    events = _mutate(events, mseed)
    assert full(events, "native") == full(events, "python")


@pytest.mark.parametrize("engine", ["native", "python"])
def test_a_malformed_stream_id_names_its_key(engine):
    # KeyLog.freeze sorts without naming the key, then again to name it in the error
    events = [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "poll"},
              {"index": 1, "time": 1, "process": 0, "type": "ok", "f": "poll",
               "value": {"k": [["1-2", 1], ["x-y", 2]]}}]
    with pytest.raises(InputError, match=r"key k: offset 'x-y' is neither"):
        full(events, engine)
