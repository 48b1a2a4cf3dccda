"""Pins every default checker's results on seeded histories of each workload, byte for byte.

The checkers were restructured and made faster (issue 16 item 5: an analysis context
built once, session.py split, faster set passes); these pins were written by the code
before that change, so any drift in verdicts, anomalies, witnesses, their order or stats
fails here. Regenerate only for an intended change of results:
`python tests/checkers/test_checker_pins.py --write`.
"""

from __future__ import annotations

import json
import os
import random
import sys

import pytest

from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events

PINS = os.path.join(os.path.dirname(__file__), "data", "checker_pins.json")


def _perturbed(events: list[dict], seed: int, p: float) -> list[dict]:
    """Seeded corruption of ok reads: drop list/set elements, roll back register values
    and counter sums, so findings of every kind occur."""
    rnd = random.Random(seed)
    out = []
    last: dict = {}  # key -> an earlier value an ok read returned
    for e in events:
        e = dict(e)
        if e.get("f") == "read" and e.get("type") == "ok" and rnd.random() < p:
            v = e.get("value")
            if isinstance(v, list) and v:
                v = list(v)
                for _ in range(rnd.randint(1, 3)):
                    if v:
                        v.pop(rnd.randrange(len(v)))
                e["value"] = v
            elif isinstance(v, int) and not isinstance(v, bool):
                e["value"] = v - rnd.randint(1, 3)
            elif e.get("key") in last:
                e["value"], ver = last[e["key"]]
                if "version" in e:
                    e["version"] = ver
        elif e.get("f") == "read" and e.get("type") == "ok":
            last[e.get("key")] = (e.get("value"), e.get("version"))
        out.append(e)
    return out


def _bench_events(workload: str, n: int, seed: int) -> list[dict]:
    import importlib.util
    import tempfile

    # bench/checkers.py by path, under its own name: "checkers" may name another module
    path = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "checkers.py")
    spec = importlib.util.spec_from_file_location("sb_bench_checkers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "h.jsonl")
        bench.generate(workload, n, path, seed)
        with open(path) as fh:
            return [json.loads(line) for line in fh]


def _cases() -> dict[str, tuple[str, list[dict]]]:
    from tests.checkers.sim import simulate

    cases: dict[str, tuple[str, list[dict]]] = {}
    for wl in ("register", "list-append", "set"):
        for store, faults, seed in (("sticky", ("lost-write", "reorder"), 21),
                                    ("lagging", ("failed-write-read",), 22),
                                    ("lagging", ("lww-skew",), 23)):
            run = simulate(wl, store, seed=seed, processes=5, keys=3, ops=1500,
                           faults=faults, final_reads=True, versions=(seed == 22))
            cases[f"sim-{wl}-{store}-{seed}"] = (wl, [dict(e) for e in run.events])
        run = simulate(wl, "linearizable", seed=24, processes=6, keys=3, ops=1500,
                       final_reads=True)
        cases[f"sim-{wl}-perturbed-24"] = (wl, _perturbed([dict(e) for e in run.events], 24, 0.05))
    for wl in ("register", "list-append", "set", "counter"):
        for seed in (1, 2):
            ev = _bench_events(wl, 4000, seed)
            cases[f"bench-{wl}-{seed}"] = (wl, ev)
            cases[f"bench-{wl}-{seed}-perturbed"] = (wl, _perturbed(ev, seed, 0.03))
    # a register history checked as cas-register (its default checkers add linearizable)
    cases["bench-cas-register-1"] = ("cas-register", _bench_events("register", 300, 1))
    return cases


def _results(workload: str, events: list[dict]) -> str:
    """results.json-style text of run_checks, without the timings."""
    from splitbrain.checkers import run_checks

    res = run_checks(history_from_events(events, source="<pin>"), CheckOptions(workload=workload))
    res.pop("timings_s", None)
    return json.dumps(_untimed(res), sort_keys=True, default=str)


def _untimed(x):
    """x without wall-clock figures (`time_s` stats), which differ run to run."""
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k != "time_s"}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


_CACHE: dict = {}


def _cases_cached() -> dict:
    if not _CACHE:
        _CACHE.update(_cases())
    return _CACHE


def _load() -> dict[str, str]:
    with open(PINS) as fh:
        return json.load(fh)


def _names() -> list[str]:
    if not os.path.exists(PINS):  # only while writing them; test_pins_find_anomalies fails
        return []
    with open(PINS) as fh:
        return sorted(json.load(fh))


@pytest.mark.parametrize("name", _names())
def test_checker_results_are_pinned(name):
    wl, events = _cases_cached()[name]
    assert _results(wl, events) == _load()[name]


def test_pins_find_anomalies():
    """The pins would be weak if the histories had nothing to find."""
    pins = {k: json.loads(v) for k, v in _load().items()}
    invalid = {k for k, r in pins.items() if r["valid"] is False}
    for wl in ("register", "list-append", "set", "counter"):
        assert any(wl in k for k in invalid), (wl, sorted(invalid))


if __name__ == "__main__" and "--write" in sys.argv:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(PINS, "w") as fh:
        json.dump({k: _results(*v) for k, v in _cases().items()}, fh, indent=0, sort_keys=True)
        fh.write("\n")
