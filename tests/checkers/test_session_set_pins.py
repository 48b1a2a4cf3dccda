"""Pins the session checker's results on seeded set histories byte for byte.

The set workload's session pass was made faster (issue 16 item 5) by proving "nothing
to report" for most reads before the per-session work; these pins were written by the
code before that change, so any drift in verdicts, anomalies, witnesses, their order or
stats fails here. Regenerate only for an intended change of results:
`python tests/checkers/test_session_set_pins.py --write`.
"""

from __future__ import annotations

import json
import os
import random
import sys

import pytest

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.session import ALL_NAMES
from splitbrain.harness.history import history_from_events

PINS = os.path.join(os.path.dirname(__file__), "data", "session_set_pins.json")


def _perturbed(events: list[dict], seed: int, p: float) -> list[dict]:
    """Drop seeded elements from ok reads, so MW/WFR/RYW/MR findings of every kind occur."""
    rnd = random.Random(seed)
    out = []
    for e in events:
        e = dict(e)
        if (e.get("f") == "read" and e.get("type") == "ok" and isinstance(e.get("value"), list)
                and e["value"] and rnd.random() < p):
            v = list(e["value"])
            for _ in range(rnd.randint(1, 3)):
                if v:
                    v.pop(rnd.randrange(len(v)))
            e["value"] = v
        out.append(e)
    return out


def _cases() -> dict[str, list[dict]]:
    from tests.checkers.sim import simulate

    cases: dict[str, list[dict]] = {}
    for name, store, faults, seed in (
            ("sticky", "sticky", (), 11),
            ("lagging", "lagging", (), 12),
            ("lost-write", "sticky", ("lost-write",), 13),
            ("reorder", "sticky", ("reorder",), 14),
            ("failed-write-read", "lagging", ("failed-write-read",), 15)):
        run = simulate("set", store, seed=seed, processes=6, keys=3, ops=4000,
                       faults=faults, final_reads=True)
        cases[name] = [dict(e) for e in run.events]
    run = simulate("set", "linearizable", seed=16, processes=8, keys=4, ops=4000,
                   final_reads=True)
    cases["perturbed"] = _perturbed([dict(e) for e in run.events], 16, 0.05)
    run = simulate("set", "sticky", seed=17, processes=8, keys=2, ops=4000)
    cases["perturbed-sticky"] = _perturbed([dict(e) for e in run.events], 17, 0.02)
    return cases


def _results(events: list[dict]) -> str:
    """results.json-style text of the session family's checkers on one history."""
    from splitbrain.checkers import run_checks

    res = run_checks(history_from_events(events, source="<pin>"),
                     CheckOptions(workload="set", checkers=("session",))
                     if "checkers" in CheckOptions.__dataclass_fields__
                     else CheckOptions(workload="set"))
    # only the session family's entries: other families may change their output freely
    return json.dumps({n: r for n, r in res["checkers"].items() if n in ALL_NAMES},
                      sort_keys=True, default=str)


def _load() -> dict[str, str]:
    with open(PINS) as fh:
        return json.load(fh)


@pytest.mark.parametrize("name", ["sticky", "lagging", "lost-write", "reorder",
                                  "failed-write-read", "perturbed", "perturbed-sticky"])
def test_set_session_results_are_pinned(name):
    cases = _cases_cached()
    assert _results(cases[name]) == _load()[name]


_CACHE: dict = {}


def _cases_cached() -> dict[str, list[dict]]:
    if not _CACHE:
        _CACHE.update(_cases())
    return _CACHE


def test_pins_cover_every_set_session_anomaly_kind():
    """The pins would be weak if the histories had nothing to find: each kind occurs."""
    pins = {k: json.loads(v) for k, v in _load().items()}
    found = set()
    for res in pins.values():
        for name, r in res.items():
            if r.get("anomalies"):
                found.add(name)
    assert {"read-your-writes", "monotonic-reads", "monotonic-writes",
            "writes-follow-reads"} <= found, found


if __name__ == "__main__" and "--write" in sys.argv:
    with open(PINS, "w") as fh:
        json.dump({k: _results(v) for k, v in _cases().items()}, fh, indent=0, sort_keys=True)
        fh.write("\n")
