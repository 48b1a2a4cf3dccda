"""The register workload's fast paths (issue 16 item 5: throughput) decide exactly as the
paths they skip: `run_checks` on seeded bench register histories with anomalies injected
(stale and regressing reads, garbage, repeated values, failed and info writes, cas,
missing final reads) and on simulated register / list-append / set histories gives the
same full result — verdicts, anomalies with their witnesses and explanations, counts and
staleness percentiles — with every shortcut refused.

The shortcuts compared here: `VersionIndex.has_cas` (a key without cas skips the scans
for one in `_build_versioned` and lost-updates' `_rmw`) and lost-updates'
`_no_write_below_an_earlier_read` (a key no write of which is ranked below an earlier
read skips the `_wfr_lost` walk) and the session floors' `_clean_total_sequential` (a
sequential session on a total order — versioned registers, lists — that breaks no floor
is only counted); the version pass of
`_build_versioned`'s fast path is compared with its per-read loop in
test_versions_fast_paths.py.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers.lost_updates as L
import splitbrain.checkers.session.floors as F
import splitbrain.checkers.versions as V
from tests.checkers import sim
from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events
from tests.checkers.test_checker_pins import _bench_events, _perturbed, _untimed


def _results(workload: str, events: list[dict]) -> str:
    """results.json-style text of run_checks (no timings), with a staleness bound so
    stale reads are anomalies with explanations, not only percentiles."""
    opts = CheckOptions(workload=workload, staleness_bound_versions=1)
    res = run_checks(history_from_events(events, source="<fast-paths>"), opts)
    res.pop("timings_s", None)
    return json.dumps(_untimed(res), sort_keys=True, default=str)


def _reference(workload: str, events: list[dict]) -> str:
    """The full result with every shortcut refused: every key may hold a cas (the scans
    run), `_wfr_lost` walks every versioned key's ops and `_pass_floors` runs its
    general loop on every session."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(L, "_no_write_below_an_earlier_read", lambda ix: False)
        m.setattr(F, "_clean_total_sequential", lambda found, ix, ops: False)
        m.setattr(V.VersionIndex, "has_cas", property(lambda self: True, lambda self, v: None),
                  raising=False)
        return _results(workload, events)


def _inject(events: list[dict], seed: int) -> list[dict]:
    """Seeded register faults on a bench history: garbage reads, values written twice,
    failed and info writes, writes turned into cas, and some keys' final reads dropped
    (on top of `_perturbed`'s stale and regressing reads)."""
    rnd = random.Random(seed)
    out: list[dict] = []
    open_inv: dict = {}      # process -> position in out of its pending invocation
    written: dict = {}       # key -> values written so far
    versions: dict = {}      # value -> the version its ok write carried
    skewed: dict = {}        # value -> the lower version a skewed clock stamped it with
    no_final = {f"k{i}" for i in rnd.sample(range(1000), 200)}
    repeats = {f"k{i}" for i in rnd.sample(range(1000), 5)}  # keys the session check skips
    for e in events:
        e = dict(e)
        p, key, f = e.get("process"), e.get("key"), e.get("f")
        if e.get("final") and key in no_final:
            continue
        if e["type"] == "invoke":
            if f == "write" and key in repeats and written.get(key) and rnd.random() < 0.2:
                e["value"] = rnd.choice(written[key])  # a repeated value
            elif f == "write" and written.get(key) and rnd.random() < 0.05:
                e["f"], e["value"] = "cas", [written[key][-1], e["value"]]
            open_inv[p] = len(out)
            out.append(e)
            continue
        inv = out[open_inv.pop(p)] if p in open_inv else None
        if inv is not None and inv.get("f") != f:  # the invocation became a cas
            e["f"], e["value"] = inv["f"], inv["value"]
        if inv is not None and e["f"] in ("write", "cas"):
            e["value"] = inv["value"]
            written.setdefault(key, []).append(inv["value"][1] if e["f"] == "cas"
                                               else inv["value"])
            r = rnd.random()
            if r < 0.02:
                e["type"] = "fail"
                e.pop("version", None)
            elif r < 0.04:
                e["type"] = "info"
            if e["type"] == "ok" and "version" in e:
                versions[e["value"] if e["f"] == "write" else e["value"][1]] = e["version"]
        elif f == "read" and e["type"] == "ok" and rnd.random() < 0.01:
            e["value"] = f"garbage-{rnd.randrange(10)}"
        elif f == "read" and e["type"] == "ok" and len(written.get(key, ())) > 2 \
                and rnd.random() < 0.1:
            old = written[key][-3]  # the read goes back two writes
            e["value"], e["version"] = old, versions.get(old, e.get("version"))
        _skew_version(e, rnd, written.get(key, ()), versions, skewed)
        out.append(e)
    return out


def _skew_version(e: dict, rnd: random.Random, written, versions: dict, skewed: dict) -> None:
    """Versions times 10, and now and then an ok write stamped between two old versions
    (a skewed clock: writes-follow-reads lost writes), its reads seeing the same stamp."""
    if e.get("version") is None or e["type"] != "ok":
        return
    v = e["value"][1] if e["f"] == "cas" else e["value"]
    if e["f"] in ("write", "cas") and len(written) > 4 and rnd.random() < 0.03:
        base = versions.get(written[-4])
        if base is not None:
            skewed[v] = base * 10 + 5
    e["version"] = skewed.get(v, e["version"] * 10) if type(v) is str else e["version"] * 10


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bench_register_histories_equal_the_reference(seed):
    events = _perturbed(_inject(_bench_events("register", 20000, seed), seed), seed, 0.05)
    got = _results("register", events)
    assert got == _reference("register", events)
    for name in ("stale-read", "garbage-read", "aborted-read", "version-mismatch", "lost",
                 "monotonic-reads", "read-your-writes", "monotonic-writes"):
        assert f'"type": "{name}"' in got  # the injected faults are found, so the comparison has teeth
    assert '"wfr_lost": ' in got  # writes lost below a version their session had read


def test_clean_bench_register_history_equals_the_reference():
    events = _bench_events("register", 3000, 4)
    assert _results("register", events) == _reference("register", events)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10 ** 6), workload=st.sampled_from(sim.WORKLOADS),
       store=st.sampled_from(sim.STORES), versions=st.booleans(),
       faults=st.sampled_from([(), ("lost-write",), ("reorder",), ("lww-skew",),
                               ("failed-write-read",)]),
       final_reads=st.booleans(), perturb=st.booleans())
def test_simulated_histories_equal_the_reference(seed, workload, store, versions, faults,
                                                 final_reads, perturb):
    run = sim.simulate(workload, store, seed=seed, versions=versions, ops=80, keys=2,
                       faults=faults, final_reads=final_reads)
    events = [dict(e) for e in run.events]
    if perturb:
        events = _perturbed(events, seed, 0.1)
    if workload == "register" and seed % 3 == 0:  # keyless: one register, key None
        events = [{k: v for k, v in e.items() if k != "key"} for e in events]
    assert _results(workload, events) == _reference(workload, events)
