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


# the Rust functions that need others to run at all: the compact index (DENSE), and
# for the send table (SENDS) the passes that read it
_NEEDS = {"STEPS": {"DENSE"}, "LAG": {"DENSE"}, "SENDS": {"DENSE", "STEPS", "LAG"},
          "PROCS": {"DENSE", "STEPS", "LAG"}, "RECS": {"OPS", "DENSE", "STEPS", "LAG", "PROCS"}}


def full(events, engine):
    """Every result of the family as JSON, with the engine field checked and dropped.
    engine: "native" (every Rust function), "python" (none), or the name of one function
    of native.FUNCTIONS to run alone (with what it needs, `_NEEDS`), the
    others switched off: each Rust function is then compared with Python on its own."""
    hist = history_from_events(json.loads(json.dumps(events)))  # fresh objects per run
    saved = {f: getattr(native, f) for f in native.FUNCTIONS}
    keep = (set(native.FUNCTIONS) if engine == "native" else set() if engine == "python"
            else {engine} | _NEEDS.get(engine, set()))
    for f in native.FUNCTIONS:
        if f not in keep:
            setattr(native, f, None)
    try:
        res = check(hist, OPTS)
    finally:
        for f, fn in saved.items():
            setattr(native, f, fn)
    out = {n: r.to_json(10**6) for n, r in res.items()}
    assert out["queue"]["stats"].pop("engine") == ("native" if "READ" in keep else "python")
    return json.loads(json.dumps(out, default=repr, sort_keys=True))


def outcome(events, engine):
    """`full`, or the InputError's message when the history is refused."""
    try:
        return full(events, engine)
    except InputError as e:
        return ("InputError", str(e))


def assert_engines_agree(events):
    """All Rust functions, and each alone, give the Python path's result."""
    ref = outcome(events, "python")
    assert outcome(events, "native") == ref
    for f in native.FUNCTIONS:
        if getattr(native, f) is not None:
            assert outcome(events, f) == ref, f"native.{f} alone differs from Python"


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


def _roughen_more(events: list, seed: int, drop_final: bool, rate: float = 1.0) -> list:
    """Shapes `_mutate` leaves out: values sent twice to one key (repeated values), poll
    messages no send attempted (unexpected), offset-less messages, str spellings of int
    keys, `ack` ops, info sends whose value is read, and (drop_final) no final phase at
    all; `rate` scales how often (0: only drop_final)."""
    import random

    rng = random.Random(seed)
    sent: dict = {}
    out = []
    for ev in events:
        if drop_final and ev.get("final"):
            continue
        ev = json.loads(json.dumps(ev))
        r = rng.random() / rate if rate else 1.0
        if ev["f"] == "send" and ev.get("key") is not None:
            prev = sent.setdefault(ev["key"], [])
            if ev["type"] == "invoke":
                if prev and r < 0.05:
                    ev["value"] = rng.choice(prev)  # a repeated value
                prev.append(ev["value"])
            elif prev:
                ev["value"] = prev[-1]  # the completion names the invocation's value
            if ev["type"] == "ok" and 0.05 <= r < 0.1:
                ev["type"] = "info"  # its value may still be read: committed
            if r > 0.97 and isinstance(ev["key"], int):
                ev["key"] = str(ev["key"]) if rng.random() < 0.5 else ev["key"]
        elif ev["f"] in ("poll", "dequeue") and ev["type"] == "ok" and ev.get("value"):
            v = ev["value"]
            k = rng.choice(sorted(v))
            if r < 0.04:
                v[k].append([None, v[k][-1][1]])  # no offset: placed by value
            elif r < 0.06:
                v[k].insert(0, [v[k][0][0], 10**9 + rng.randrange(5)])  # unexpected, offset taken
            elif r < 0.08 and isinstance(v[k][-1][0], int):
                v[k].append([v[k][-1][0] + 1, 10**9 + rng.randrange(5)])  # unexpected, new offset
        out.append(ev)
        if rate and r > 0.985 and ev["type"] == "ok" and ev["f"] == "poll":
            p = ev["process"]
            out.append({"process": p, "type": "invoke", "f": "ack", "time": ev["time"]})
            out.append({"process": p, "type": "ok", "f": "ack", "time": ev["time"]})
    for i, ev in enumerate(out):
        ev["index"] = i
    return out


@needs_native
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([None, "lose", "duplicate", "reorder", "skip"]),
       st.booleans(), st.booleans(), st.integers(0, 10**6), st.booleans(),
       st.sampled_from([0.0, 0.2, 1.0]), st.booleans())
def test_each_native_function_equals_python(seed, fault, group, redis_ids, mseed, drop_final,
                                            rate, mutate):
    """Every Rust function, alone and together, on simulated brokers (log-ordered and
    group queues, Redis IDs, injected losses/duplicates/reorders/skips) roughened with
    info/fail completions, subscribes, resets, repeated and unexpected values, and with
    or without the final phase."""
    events, _ = simulate(seed, fault, group=group, redis_ids=redis_ids, n_ops=160, procs=4)
    events = _roughen_more(_mutate(events, mseed) if mutate else events, mseed, drop_final, rate)
    assert_engines_agree(events)


def _bench_events(n_ops: int, seed: int) -> list:
    """bench/queue_checker.py's history (sends with Redis IDs, assign-mode polls, keys
    retired, a final re-read) as events."""
    import os
    import tempfile

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    try:
        from queue_checker import generate
    finally:
        sys.path.pop(0)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "h.jsonl")
        generate(n_ops, path, seed=seed)
        with open(path) as f:
            return [json.loads(line) for line in f]


@needs_native
@pytest.mark.parametrize("seed,fault", [(1, None), (2, "lose"), (3, "duplicate"), (4, "reorder"),
                                        (5, "drop-final"), (6, "mutate")])
def test_native_equals_python_on_bench_histories(seed, fault):
    import random

    events = _bench_events(1500, seed)
    rng = random.Random(seed)
    polls = [ev for ev in events if ev["f"] == "poll" and ev["type"] == "ok" and ev.get("value")
             and not ev.get("final")]
    finals = [ev for ev in events if ev.get("final") and ev["f"] == "poll" and ev["type"] == "ok"]
    if fault == "lose":  # an acknowledged message gone from the final re-read and a poll
        msgs = finals[0]["value"][next(iter(finals[0]["value"]))]
        gone = msgs.pop(len(msgs) // 2)
        for ev in polls:
            for m in ev["value"].values():
                if gone in m:
                    m.remove(gone)
    elif fault == "duplicate":  # one value at a second offset
        msgs = finals[1]["value"][next(iter(finals[1]["value"]))]
        msgs.append([msgs[-1][0] + "9", msgs[0][1]])
    elif fault == "reorder":
        for ev in rng.sample(polls, 5):
            m = next(iter(ev["value"].values()))
            m.reverse()
    elif fault == "drop-final":
        events = [ev for ev in events if not ev.get("final")]
    elif fault == "mutate":
        events = _roughen_more(_mutate(events, seed), seed, False)
    assert_engines_agree(events)


def _batch_sends(events: list, seed: int, odd_times: bool) -> list:
    """Sends turned into batch sends (no `key`, value [[key, value], ...], `offsets`):
    the recorded pair plus, some of the time, a second message to another key or the
    same key (offset null or the pair's own: int-nonmonotonic-send), or to a key no
    read ever shows (no log); `odd_times`: some completion times floats (queue_lag
    declines, Python measures). queue_sends places such sends row by row."""
    import random

    rng = random.Random(seed)
    out = []
    batched: dict = {}  # process -> the draw of its pending send (invocation and completion alike)
    for ev in events:
        ev = json.loads(json.dumps(ev))
        if ev["f"] == "send" and ev["type"] == "invoke":
            batched[ev["process"]] = rng.random() if rng.random() < 0.4 else None
        r = batched.get(ev["process"]) if ev["f"] == "send" else None
        if r is not None and ev.get("key") is not None:
            k, v = ev.pop("key"), ev["value"]
            pairs, offs = [[k, v]], [ev.pop("offset", None)]
            if r < 0.3:
                pairs.append([k, -v - 1])  # same key, offset taken or none
                offs.append(offs[0] if r < 0.15 else None)
            elif r < 0.6:
                pairs.append(["nolog", v])  # a key without a log
                offs.append(None if r < 0.45 else 7)
            elif r < 0.8:
                pairs.insert(0, [k, v])  # the pair twice (a repeated value)
                offs.insert(0, offs[0])
            ev["value"] = pairs
            if ev["type"] != "invoke":
                ev["offsets"] = offs
        if odd_times and ev["type"] != "invoke" and rng.random() < 0.05:
            ev["time"] = ev["time"] + 0.5
        out.append(ev)
    return out


@needs_native
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([None, "lose", "duplicate", "reorder", "skip"]),
       st.booleans(), st.integers(0, 10**6), st.booleans(), st.booleans())
def test_send_table_equals_python_on_batch_sends(seed, fault, group, mseed, odd_times, mutate):
    """queue_sends' table (read by queue_steps / queue_lag) on batch sends, sends to
    keys without a log, repeated pairs and non-int times: every Rust function alone and
    together give the Python result."""
    events, _ = simulate(seed, fault, group=group, n_ops=120, procs=3)
    if mutate:
        events = _mutate(events, mseed)
    assert_engines_agree(_batch_sends(events, mseed, odd_times))


def _odd_scalars(events: list, seed: int) -> list:
    """Message values and offsets the Rust passes must tell apart exactly as Python's
    dicts do, or leave to them: a value re-spelt as a
    float (1.0 == 1), a bool, a big int, None, a str spelling of an int ("5" vs 5);
    offsets re-spelt as str ("5" vs 5: two offsets) or as a non-canonical stream ID
    ("1-00" vs "1-0": two offsets the broker orders alike); the same in sends."""
    import random

    rng = random.Random(seed)
    out = []
    for ev in events:
        ev = json.loads(json.dumps(ev))
        if ev["f"] in ("poll", "dequeue", "drain") and ev["type"] != "invoke" and isinstance(ev.get("value"), dict):
            for k, msgs in ev["value"].items():
                for m in msgs:
                    r = rng.random()
                    if r < 0.03 and isinstance(m[1], int):
                        m[1] = float(m[1])
                    elif r < 0.04:
                        m[1] = rng.choice([True, False])
                    elif r < 0.05:
                        m[1] = 2**70 + rng.randrange(3)
                    elif r < 0.06:
                        m[1] = None
                    elif r < 0.08:
                        m[1] = str(m[1])
                    elif r < 0.11 and isinstance(m[0], int):
                        m[0] = str(m[0])
                    elif r < 0.14 and isinstance(m[0], str) and "-" in m[0]:
                        a, b = m[0].split("-")
                        m[0] = f"{a}-0{b}"
                    elif r < 0.15:
                        m[0] = None
        elif ev["f"] == "send" and ev["type"] == "ok" and rng.random() < 0.05:
            off = ev.get("offset")
            if isinstance(off, int):
                ev["offset"] = str(off)
        out.append(ev)
    return out


@needs_native
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([None, "lose", "duplicate", "reorder", "skip"]),
       st.booleans(), st.booleans(), st.integers(0, 10**6), st.booleans())
def test_native_equals_python_on_odd_scalars(seed, fault, group, redis_ids, mseed, drop_final):
    """The Rust passes on values and offsets that are equal across types (1 == 1.0 ==
    True), unequal across spellings ("5" vs 5, "1-00" vs "1-0"), big, or None: every
    Rust function alone and together give Python's result."""
    events, _ = simulate(seed, fault, group=group, redis_ids=redis_ids, n_ops=160, procs=4)
    events = _roughen_more(events, mseed, drop_final)
    assert_engines_agree(_odd_scalars(events, mseed))



def _kinds(res: dict) -> set:
    """Every anomaly and notice type of a `full` result."""
    return {a["type"] for r in res.values() for a in r.get("anomalies", []) + r.get("notices", [])}


def _mixed_history(seed: int) -> list:
    """One simulated history through every roughening above: Kafka ints or Redis IDs,
    a log consumer or a group queue (dequeue/drain), crashes and assigns between
    queue_ops' runs, batch sends, info/fail completions, subscribes, resets, repeated
    and unexpected values, with or without the final phase."""
    fault = [None, "lose", "duplicate", "reorder", "skip"][seed % 5]
    events, _ = simulate(seed, fault, group=seed % 3 == 0, redis_ids=seed % 2 == 0,
                         n_ops=200, procs=4)
    events = _roughen_more(_mutate(events, seed), seed, drop_final=seed % 7 == 0)
    if seed % 2:
        for ev in events:  # times 10^5 ns apart: lags beyond OPTS' 1 ms bound
            if isinstance(ev.get("time"), int):
                ev["time"] *= 10**5
    if seed % 3 == 1:  # a poll read again at once by its process: nonmonotonic-poll
        at = next((i for i, ev in enumerate(events) if ev["f"] == "poll" and ev["type"] == "ok"
                   and ev.get("value") and not ev.get("final")), None)
        if at is not None:
            ev = events[at]
            again = [{**ev, "type": "invoke", "value": None}, json.loads(json.dumps(ev))]
            events[at + 1:at + 1] = again
            for i, e in enumerate(events):
                e["index"] = i
    return _batch_sends(events, seed, odd_times=False) if seed % 4 == 1 else events


# anomaly kinds _mixed_history's seeds below produce, each compared between the engines
_MIXED_KINDS = {"lost-write", "unseen", "aborted-read", "unexpected", "duplicate",
                "poll-skip", "nonmonotonic-poll", "int-poll-skip", "nonmonotonic-send",
                "int-nonmonotonic-send", "lag", "repeated-value"}


@needs_native
def test_native_equals_python_with_every_anomaly_kind():
    """queue_writers (the writer index, aborted/unexpected, unseen and ok-send count in
    one pass), queue_procs with queue_ops' records (ops placed by Rust and by Python in
    one process list), the send table's lag times and the reads' items views: on
    histories whose findings together cover _MIXED_KINDS, every Rust function alone and
    all together give the Python result, finding for finding."""
    seen: set = set()
    for seed in range(40):
        events = _mixed_history(seed)
        ref = outcome(events, "python")
        assert outcome(events, "native") == ref, seed
        for f in ("WRITERS", "PROCS", "RECS", "SENDS", "OPS"):
            assert outcome(events, f) == ref, (seed, f)
        if isinstance(ref, dict):
            seen |= _kinds(ref)
    assert _MIXED_KINDS <= seen, f"kinds never produced: {_MIXED_KINDS - seen}"


@needs_native
def test_native_model_keeps_records_and_item_views():
    """The fast path is taken on the usual shapes: queue_ops keeps an op record for
    every op it places (QueueRecs) and a read's pairs are its value's items view; with
    RECS off, the records are not kept and the result is the same."""
    from splitbrain.checkers.queue.model import QueueHistory

    events, _ = simulate(3, "skip", n_ops=120, procs=3)
    qh = QueueHistory(history_from_events(json.loads(json.dumps(events))))
    assert type(qh.op_recs).__name__ == "QueueRecs"
    plain = [pairs for op, pairs in qh.reads if not op.final]
    assert plain and all(type(p).__name__ == "dict_items" for p in plain)
    assert full(events, "native") == full(events, "python")
