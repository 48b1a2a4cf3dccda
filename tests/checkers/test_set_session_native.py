"""The set session passes with the Rust certificate (native/src/set_session.rs) against the
pure-Python passes, result for result (issue 16 item 5).

Both paths run on the same history and options; everything the session family reports
must be identical: every anomaly and notice (type, explanation, witnesses, details) in
order, the counters, the sessions and skipped keys, and the CheckResults built from
them. Histories: seeded bench set histories with injected lost adds, reads going back,
RYW misses, info and failed adds and missing final reads; simulated stores; and
hypothesis-made raw histories (repeated elements, non-int elements, info ops, failed
adds, pipelined sessions, keyless histories).
"""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers import session
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.session import native, passes
from splitbrain.harness.history import History, history_from_events, read_history
from tests.checkers import sim

pytestmark = pytest.mark.skipif(native.KEY is None, reason=f"no native core: {native.PROBLEM}")

_KEY = native.KEY


def _dump(found) -> str:
    return json.dumps({
        "anoms": {n: [a.to_json() for a in v] for n, v in found.anoms.items()},
        "notices": {n: [a.to_json() for a in v] for n, v in found.notices.items()},
        "stats": found.stats, "sessions": sorted(map(repr, found.sessions)),
        "skipped": found.skipped_keys, "flagged": sorted(found.flagged)},
        sort_keys=True, default=repr)


def _run(h: History, options: CheckOptions, engine, monkeypatch) -> tuple[str, str, int]:
    """(analysis dump, results dump, keys the Rust core judged) with `engine` as KEY."""
    calls = []

    def counting(*a):
        got = engine(*a)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(native, "KEY", counting if engine is not None else None)
    found = passes.analyse(h, options)
    used = sum(calls)
    res = session.check(h, options)
    monkeypatch.setattr(native, "KEY", _KEY)
    return (_dump(found), json.dumps({n: r.to_json() for n, r in res.items()}, sort_keys=True,
                                     default=repr), used)


def _same(h: History, monkeypatch, **opts) -> int:
    """Assert both paths agree on `h`; returns how many keys the Rust core judged."""
    options = CheckOptions(workload="set", **opts)
    a, ra, used = _run(h, options, _KEY, monkeypatch)
    b, rb, _ = _run(h, options, None, monkeypatch)
    assert a == b
    assert ra == rb
    return used


# -- seeded bench histories, anomalies injected ----------------------------------------


def _bench_events(tmp_path, seed: int, n_ops: int = 3000) -> list[dict]:
    from bench.checkers import generate

    p = os.path.join(tmp_path, f"set-{seed}.jsonl")
    generate("set", n_ops, p, seed)
    with open(p) as fh:
        return [json.loads(line) for line in fh]


def _inject(events: list[dict], seed: int, p: float = 0.03) -> list[dict]:
    """Seeded faults: lost adds (an element gone from every later read), reads going back
    (a read shows an earlier read's value), RYW misses (a process's next read lacks its
    own add), info and failed adds, missing final reads."""
    rnd = random.Random(seed)
    out: list[dict] = []
    lost: dict = {}          # key -> elements removed from later reads
    last_read: dict = {}     # key -> value of an earlier ok read
    own: dict = {}           # (process, key) -> element of its last ok add
    pending: dict = {}       # process -> index in out of its open invocation
    drop_finals = rnd.random() < 0.5
    dropped: set = set()     # processes whose final read's invocation was dropped
    for e in events:
        e = dict(e)
        k, p_ = e.get("key"), e.get("process")
        if e.get("final") and e["type"] == "invoke" and drop_finals and rnd.random() < 0.5:
            dropped.add(p_)
            continue
        if e.get("final") and e["type"] != "invoke" and p_ in dropped:
            dropped.discard(p_)  # the completion of a dropped final read
            continue
        if e.get("f") == "add" and e["type"] == "invoke":
            pending[p_] = len(out)
        elif e.get("f") == "add" and e["type"] == "ok":
            r = rnd.random()
            if r < p:
                e["type"] = "info"
            elif r < 2 * p:
                e["type"] = "fail"
            elif r < 3 * p:
                lost.setdefault(k, set()).add(e["value"])
            else:
                own[(p_, k)] = e["value"]
        elif e.get("f") == "read" and e["type"] == "ok" and isinstance(e.get("value"), list):
            v = [x for x in e["value"] if x not in lost.get(k, ())]
            r = rnd.random()
            if r < p and k in last_read:
                v = list(last_read[k])
            elif r < 2 * p and (p_, k) in own and own[(p_, k)] in v:
                v.remove(own.pop((p_, k)))
            last_read[k] = e["value"]
            e["value"] = v
        out.append(e)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_seeded_bench_histories_agree(seed, tmp_path, monkeypatch):
    evs = _bench_events(tmp_path, seed + 1)
    assert _same(history_from_events(evs), monkeypatch) > 0
    bad = history_from_events(_inject(evs, seed))
    assert _same(bad, monkeypatch) > 0
    assert _same(bad, monkeypatch, continue_session_after_info=True) > 0


def test_injected_faults_are_found_on_both_paths(tmp_path, monkeypatch):
    """The comparison is not vacuous: the perturbed histories have every kind."""
    kinds = set()
    for seed in range(4):
        h = history_from_events(_inject(_bench_events(tmp_path, seed + 1), seed, p=0.05))
        _same(h, monkeypatch)
        found = passes.analyse(h, CheckOptions(workload="set"))
        kinds |= {n for n, v in found.anoms.items() if v}
    assert {session.RYW, session.MR, session.MW, session.WFR} <= kinds, kinds


def test_clean_bench_history_takes_the_native_path_on_every_key(tmp_path, monkeypatch):
    h = read_history_of(_bench_events(tmp_path, 9), tmp_path)
    from splitbrain.checkers.versions import build_indexes

    n_keys = len(build_indexes(h, "set"))
    assert _same(h, monkeypatch) == n_keys


def read_history_of(events: list[dict], tmp_path) -> History:
    p = os.path.join(tmp_path, "h.jsonl")
    with open(p, "w") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)
    return read_history(p)


# -- simulated stores ------------------------------------------------------------------

PROFILE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@PROFILE
@given(seed=st.integers(0, 10 ** 6), store=st.sampled_from(sorted(sim.STORES)),
       faults=st.sampled_from([(), ("lost-write",), ("reorder",), ("failed-write-read",)]),
       processes=st.integers(1, 6), keys=st.integers(1, 3), p_info=st.sampled_from([0.0, 0.2]),
       after_info=st.booleans())
def test_simulated_set_stores_agree(seed, store, faults, processes, keys, p_info, after_info,
                                    monkeypatch):
    run = sim.simulate("set", store, seed=seed, processes=processes, keys=keys, ops=120,
                       p_info=p_info, faults=faults, final_reads=seed % 2 == 0)
    _same(sim.history(run), monkeypatch, continue_session_after_info=after_info)


# -- hypothesis-made raw histories -----------------------------------------------------

_ODD = st.sampled_from(["x", -1, -2, 2 ** 70, None, 3])  # non-int, colliding, huge, repeated
_ELEM = st.one_of(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), _ODD)


@st.composite
def raw_histories(draw):
    """Events of a few processes on one or two keys (or keyless): each process has at
    most one open op; completions interleave; adds of repeated elements, reads of
    mostly the elements added so far (some dropped: RYW/MR/MW/WFR findings), plus
    repeats, never-added and non-int elements; ok/fail/info completions, sometimes
    final reads."""
    n_proc = draw(st.integers(1, 4))
    keys = draw(st.sampled_from([["k0"], ["k0", "k1"], [None]]))
    odd = draw(st.sampled_from([0.0, 0.0, 0.05, 0.3]))  # how often an element is odd
    steps = draw(st.lists(st.tuples(st.integers(0, n_proc - 1), st.sampled_from(keys),
                                    st.sampled_from(["add", "read"]),
                                    st.one_of(st.just("fresh"), _ELEM if odd
                                              else st.integers(0, 40)), st.just(None),
                                    st.sampled_from(["ok", "ok", "ok", "fail", "info"]),
                                    st.booleans()),
                          max_size=60))
    keep = draw(st.sampled_from([1.0, 0.97, 0.9]))  # how often a read keeps an element
    pipelined = draw(st.booleans())  # ops carry an op_id: a process may have several open
    evs: list[dict] = []
    open_: dict = {}  # process slot -> its open invocations, oldest first
    retired = 0

    def emit(ev):
        ev["index"] = len(evs)
        ev["time"] = len(evs) * 10
        if ev.get("key") is None:
            ev.pop("key", None)
        evs.append(ev)

    added: dict = {}  # key -> elements of adds invoked so far

    def read_value(k):
        have = added.get(k, [])
        v = [e for e in have if keep == 1.0 or draw(st.floats(0, 1)) < keep]
        v += draw(st.lists(_ODD if odd and draw(st.floats(0, 1)) < odd else st.integers(0, 40),
                           max_size=2))
        return v

    def complete(p, typ, rv, which):
        opened = open_[p]
        inv = opened.pop(which % len(opened))
        ev = {"process": inv["process"], "type": typ, "f": inv["f"], "key": inv.get("key")}
        if "op_id" in inv:
            ev["op_id"] = inv["op_id"]
        if inv["f"] == "add":
            ev["value"] = inv["value"]
        elif typ == "ok":
            ev["value"] = read_value(inv.get("key"))
        emit(ev)

    for p, k, f, v, rv, typ, finish_now in steps:
        if v == "fresh":
            v = 1000 + len(evs)  # a unique element (repeats come from the other draws)
        if open_.get(p) and not (pipelined and draw(st.booleans())):
            complete(p, typ, rv, draw(st.integers(0, 3)))
            if typ == "info" and not pipelined:
                retired += 1  # a retired process comes back under a new number
            if not finish_now:
                continue
        proc = p + 10 * retired if not pipelined and draw(st.booleans()) else p
        ev = {"process": proc, "type": "invoke", "f": f, "key": k,
              "value": v if f == "add" else None}
        if pipelined:
            ev["op_id"] = len(evs)
        if f == "add":
            added.setdefault(k, []).append(v)
        emit(ev)
        open_.setdefault(p, []).append(evs[-1])
        if finish_now:
            complete(p, typ, rv, -1)
    if draw(st.booleans()):
        for k in keys:
            emit({"process": 99, "type": "invoke", "f": "read", "key": k, "value": None,
                  "final": True})
            emit({"process": 99, "type": "ok", "f": "read", "key": k, "final": True,
                  "value": read_value(k)})
    return evs


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(evs=raw_histories(), after_info=st.booleans())
def test_raw_set_histories_agree(evs, after_info, monkeypatch):
    try:
        h = history_from_events(evs)
    except Exception:
        return  # not a valid history (e.g. a process reused while open): nothing to compare
    _same(h, monkeypatch, continue_session_after_info=after_info)


def test_non_int_elements_decline_and_still_agree(monkeypatch):
    evs = []
    for i, (p, t, f, v) in enumerate([(0, "invoke", "add", "a"), (0, "ok", "add", "a"),
                                      (1, "invoke", "read", None), (1, "ok", "read", []),
                                      (0, "invoke", "read", None), (0, "ok", "read", [])]):
        evs.append({"index": i, "time": i, "process": p, "type": t, "f": f, "key": "k",
                    "value": v})
    h = history_from_events(evs)
    assert _same(h, monkeypatch) == 0  # declined: the Python passes judged it
    found = passes.analyse(h, CheckOptions(workload="set"))
    assert found.anoms[session.RYW]  # own add "a" missing from the later read


def test_env_forces_the_python_path():
    import subprocess
    import sys

    code = "from splitbrain.checkers.session import native; print(native.engine(), native.PROBLEM)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "SPLITBRAIN_SET_ENGINE": "python"}).stdout
    assert out.split()[0] == "python" and "SPLITBRAIN_SET_ENGINE" in out
