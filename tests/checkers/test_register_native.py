"""The register checkers with the Rust core (native/src/registers.rs) against the pure-Python
reference, result for result (issue 16 item 5).

Both paths run `run_checks` on the same history and options; the full results must be
identical: verdicts, every anomaly and notice (type, explanation, witnesses, details) in
order, and every statistic (staleness percentiles, session counts, ...), minus wall-clock
timings. The reference is `registers_native.INDEX = GROUP = LAST_WRITE_TIME = None` (what a
missing or older .so, or SPLITBRAIN_REGISTER_ENGINE=python, gives): the ops are grouped,
every versioned key built and judged, and the quiet time found by the Python code. Histories: seeded bench register histories, clean and with
injected faults (stale and regressing reads, garbage values, repeated values, cas,
failed and info writes, skewed versions, missing final reads), the shapes
register_index declines one by one, and hypothesis-made raw histories.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers import registers_native, run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events
from tests.checkers.test_checker_pins import _bench_events, _perturbed, _untimed
from tests.checkers.test_register_fast_paths import _inject

pytestmark = pytest.mark.skipif(registers_native.INDEX is None,
                                reason=f"no native core: {registers_native.PROBLEM}")

_INDEX = registers_native.INDEX


def _results(events: list[dict], native: bool, **opts) -> tuple[str, int, int]:
    """(run_checks' full result as JSON text without timings, keys register_index took,
    keys it declined), with the Rust core on or off."""
    took = declined = 0

    def counting(ops):
        nonlocal took, declined
        got = _INDEX(ops)
        if got is None:
            declined += 1
        else:
            took += 1
        return got

    with pytest.MonkeyPatch.context() as m:
        m.setattr(registers_native, "INDEX", counting if native else None)
        if not native:
            m.setattr(registers_native, "GROUP", None)
            m.setattr(registers_native, "LAST_WRITE_TIME", None)
        res = run_checks(history_from_events(events, source="<register-native>"),
                         CheckOptions(workload="register", **opts))
    res.pop("timings_s", None)
    return json.dumps(_untimed(res), sort_keys=True, default=repr), took, declined


def _same(events: list[dict], **opts) -> tuple[str, int, int]:
    """Assert both paths agree on `events`; (the result, keys taken, keys declined)."""
    got, took, declined = _results(events, True, **opts)
    ref, _, _ = _results(events, False, **opts)
    assert got == ref
    return got, took, declined


@pytest.mark.parametrize("seed", [1, 2])
def test_clean_bench_history(seed):
    events = _bench_events("register", 6000, seed)
    got, took, declined = _same(events)
    assert took > 900 and declined == 0  # every key judged by the Rust core
    assert '"valid": true' in got
    _same(events, continue_session_after_info=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bench_history_with_faults(seed):
    events = _perturbed(_inject(_bench_events("register", 20000, seed), seed), seed, 0.05)
    got, took, declined = _same(events)
    assert took > 50 and declined > 50  # both paths ran on this history
    for name in ("garbage-read", "aborted-read", "version-mismatch", "lost",
                 "monotonic-reads", "read-your-writes", "monotonic-writes"):
        assert f'"type": "{name}"' in got  # the faults are found: the comparison has teeth
    got, _, _ = _same(events, staleness_bound_versions=1)  # bounded: Python staleness
    assert '"type": "stale-read"' in got


def _stale_only(events: list[dict], seed: int) -> list[dict]:
    """Stale reads alone (values and versions of a key's earlier write): every key stays
    in the shape register_index takes, so the Rust staleness and lost-update facts and
    the Python session passes (which these reads fail) are all exercised."""
    rnd = random.Random(seed)
    seen: dict = {}
    out = []
    for e in events:
        e = dict(e)
        k = e.get("key")
        if e.get("f") == "read" and e["type"] == "ok" and e.get("value") is not None:
            hist = seen.setdefault(k, [])
            if len(hist) > 3 and rnd.random() < 0.1:
                e["value"], e["version"] = hist[rnd.randrange(len(hist) - 2)]
            else:
                hist.append((e["value"], e["version"]))
        out.append(e)
    return out


@pytest.mark.parametrize("seed", [4, 5])
def test_stale_reads_keep_the_native_index(seed):
    events = _stale_only(_bench_events("register", 8000, seed), seed)
    got, took, declined = _same(events)
    assert took > 900 and declined == 0
    assert '"monotonic-reads"' in got and '"stale_reads": 0' not in got
    _same(events, staleness_bound_ns=10_000)


def _edit(events: list[dict], seed: int, how: str) -> list[dict]:
    """One declined (or merely unusual) shape injected into some keys."""
    rnd = random.Random(seed)
    keys = {f"k{i}" for i in rnd.sample(range(1000), 60)}
    out = []
    for e in events:
        e = dict(e)
        k, f, t = e.get("key"), e.get("f"), e["type"]
        hit = k in keys and not e.get("final")
        if hit and how == "int-values" and f in ("write", "read") and isinstance(e.get("value"), str):
            p, i = e["value"].split("-")
            e["value"] = int(p) * 10_000_000 + int(i)
        elif hit and how == "none-write" and f == "write" and rnd.random() < 0.05:
            e["value"] = None
        elif hit and how == "info-read" and f == "read" and t == "ok" and rnd.random() < 0.1:
            e["type"], e["value"] = "info", None
            e.pop("version", None)
        elif hit and how == "fail-read" and f == "read" and t == "ok" and rnd.random() < 0.1:
            e["type"], e["value"] = "fail", None
            e.pop("version", None)
        elif hit and how == "float-time" and t == "ok":
            e["time"] = float(e["time"])
        elif hit and how == "no-version" and t == "ok" and rnd.random() < 0.2:
            e.pop("version", None)
        elif hit and how == "bool-value" and f == "write" and t == "invoke" and rnd.random() < 0.02:
            e["value"] = rnd.random() < 0.5
        elif hit and how == "float-value" and f == "write" and t == "invoke" and rnd.random() < 0.02:
            e["value"] = rnd.random()
        elif hit and how == "version-conflict" and t == "ok" and f == "write" and rnd.random() < 0.05:
            e["version"] = 1
        elif hit and how == "info-write" and t == "ok" and f == "write" and rnd.random() < 0.1:
            e["type"] = "info"
            e.pop("version", None)
        elif hit and how == "fail-write" and t == "ok" and f == "write" and rnd.random() < 0.1:
            e["type"] = "fail"
            e.pop("version", None)
        out.append(e)
    return out


@pytest.mark.parametrize("how", ["int-values", "none-write", "info-read", "fail-read",
                                 "float-time", "no-version", "bool-value", "float-value",
                                 "version-conflict", "info-write", "fail-write"])
def test_declined_and_unusual_shapes(how):
    events = _edit(_bench_events("register", 6000, 7), 7, how)
    got, took, _ = _same(events)
    assert took > 0
    _same(events, staleness_bound_versions=2)


def test_missing_final_reads():
    events = [e for e in _bench_events("register", 4000, 8)
              if not (e.get("final") and e.get("key") in ("k1", "k2", "k3") )]
    events = [e for e in events if not (e.get("final") and e.get("node") == "n2"
                                        and e.get("key", "k0") < "k3")]
    _same(events)


def test_python_is_forced_by_the_environment(monkeypatch):
    from splitbrain.checkers import native_core

    monkeypatch.setenv("SPLITBRAIN_REGISTER_ENGINE", "python")
    fn, why = native_core.load("register_index", registers_native._FIELDS,
                               "SPLITBRAIN_REGISTER_ENGINE")
    assert fn is None and "python" in why


def test_python_fallback_builds_no_facts():
    events = _bench_events("register", 2000, 9)
    from splitbrain.checkers.analysis import Analysis

    with pytest.MonkeyPatch.context() as m:
        m.setattr(registers_native, "INDEX", None)
        a = Analysis(history_from_events(events), CheckOptions(workload="register"))
        assert all(ix.native is None for ix in a.indexes.values())
    a = Analysis(history_from_events(events), CheckOptions(workload="register"))
    assert all(ix.native is not None for ix in a.indexes.values())


# -- hypothesis: raw histories of every shape ------------------------------------------

_VALUES = st.one_of(st.integers(-3, 6), st.sampled_from(["a", "b", "c", "d", "e"]),
                    st.none(), st.booleans(), st.just(2.5))


@st.composite
def _histories(draw):
    n_proc = draw(st.integers(1, 4))
    keys = draw(st.sampled_from([["x"], ["x", "y"], [None]]))
    unique = draw(st.booleans())
    events, t, idx = [], 0, 0
    counter = iter(range(10 ** 6))
    pending: dict = {}
    versions: dict = {}
    for _ in range(draw(st.integers(1, 40))):
        p = draw(st.integers(0, n_proc - 1))
        t += draw(st.integers(1, 1000))
        if p in pending:  # complete it
            inv = pending.pop(p)
            typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
            comp = {**inv, "type": typ, "time": t}
            if inv["f"] == "read":
                comp["value"] = draw(_VALUES) if typ == "ok" else None
            if typ == "ok" and draw(st.integers(0, 4)):
                k = inv.get("key")
                if inv["f"] == "write":
                    versions.setdefault(k, 0)
                    versions[k] += draw(st.integers(0, 2))
                comp["version"] = draw(st.one_of(st.just(versions.get(inv.get("key"), 0)),
                                                 st.integers(0, 5)))
            events.append(comp)
            continue
        k = draw(st.sampled_from(keys))
        f = draw(st.sampled_from(["read", "write", "write", "cas"] if draw(st.integers(0, 9)) == 0
                                 else ["read", "write"]))
        if f == "write":
            v = f"v{next(counter)}" if unique else draw(_VALUES)
        elif f == "cas":
            v = [draw(_VALUES), draw(_VALUES)]
        else:
            v = None
        inv = {"process": p, "type": "invoke", "f": f, "value": v, "time": t}
        if k is not None:
            inv["key"] = k
        pending[p] = inv
        events.append(inv)
    for p, inv in pending.items():  # some left pending, some completed
        if draw(st.booleans()):
            t += 10
            events.append({**inv, "type": "ok", "time": t,
                           "value": draw(_VALUES) if inv["f"] == "read" else inv["value"]})
    if draw(st.booleans()):  # final reads
        for n, k in enumerate(keys):
            t += 10
            base = {"process": 100 + n, "f": "read", "final": True}
            if k is not None:
                base["key"] = k
            events.append({**base, "type": "invoke", "value": None, "time": t})
            events.append({**base, "type": "ok", "value": draw(_VALUES), "time": t + 1,
                           "version": draw(st.integers(0, 5))})
    for i, e in enumerate(events):
        e["index"] = i
    return events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_histories(), bounded=st.booleans(), by_session=st.booleans())
def test_hypothesis_histories(events, bounded, by_session):
    opts = {"continue_session_after_info": by_session}
    if bounded:
        opts["staleness_bound_versions"] = 0
    _same(events, **opts)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_histories())
def test_grouping_and_quiet_time(events):
    """group_ops_by_key and last_write_time alone against their Python loops (also on
    histories with tuple keys and float times)."""
    from splitbrain.checkers import convergence, versions

    rnd = random.Random(len(events))
    for e in events:
        if rnd.random() < 0.1:
            e["key"] = ["x", "y"]  # a multi-key snapshot read's key (a tuple once loaded)
        if rnd.random() < 0.05:
            e["time"] = e["time"] + 0.5
    h = history_from_events(events)
    got = (versions.group_by_key(h.ops), convergence._quiet_time(h))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(registers_native, "GROUP", None)
        m.setattr(registers_native, "LAST_WRITE_TIME", None)
        ref = (versions.group_by_key(h.ops), convergence._quiet_time(h))
    assert got == ref
    assert type(got[1]) is type(ref[1])
