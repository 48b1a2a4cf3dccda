"""propagation-lag's per-event bounds (checkers/propagation `_lag_bounds`, windowed scans
over sorted reads) against the plain definition, on random concurrent histories."""

from __future__ import annotations

import random

import pytest

from splitbrain.checkers.propagation import _collect, _lag_bounds, _reflects
from splitbrain.harness.history import history_from_events


def _reference(committed, derived):
    """The definition, read by read: first reflecting read completed at or after the
    commit; the last read invoked after the commit, before that, that missed it."""
    out = []
    for e, w in committed.items():
        if w.type != "ok":
            continue
        t0 = w.t_ret
        hits = [r.t_ret for r in derived.get(w.key, ()) if _reflects(r, w.version, e)
                and r.t_ret >= t0]
        if not hits:
            continue
        first = min(hits)
        misses = [r.t_inv - t0 for r in derived.get(w.key, ())
                  if not _reflects(r, w.version, e) and t0 < r.t_inv < first]
        out.append((e, w, max(misses, default=0), first - t0))
    return out


def _concurrent(seed: int, events_lists: bool):
    """Writers, a consumer and overlapping readers on 2 keys; reads return either the
    applied event ids or only the applied version (and some complete out of order)."""
    rng = random.Random(seed)
    ev, t = [], 0
    applied = {0: [], 1: []}
    ver = {0: 0, 1: 0}
    pending: list = []  # (complete at, process, op)
    eid = 0

    def add(d):
        d["index"] = len(ev)
        ev.append(d)

    for step in range(80):
        t += rng.randint(1, 4) * 1_000_000
        due = sorted((p for p in pending if p[0] <= t), key=lambda p: p[0])
        for p in due:
            pending.remove(p)
            add({**p[2], "time": p[0]})
        r = rng.random()
        k = rng.randrange(2)
        if r < 0.3:
            eid += 1
            ver[k] += 1
            add({"time": t, "process": 0, "type": "invoke", "f": "write-source", "key": k,
                 "value": eid})
            add({"time": t + 500_000, "process": 0, "type": "ok", "f": "write-source",
                 "key": k, "value": eid, "version": ver[k]})
            if rng.random() < 0.8:  # applied at once; else never (lost)
                applied[k].append((eid, ver[k]))
            t += 500_000
        elif len([p for p in pending if p[1] >= 10]) < 4:
            proc = 10 + rng.randrange(4)
            if any(p[1] == proc for p in pending):
                continue
            add({"time": t, "process": proc, "type": "invoke", "f": "read-derived", "key": k})
            # the read sees a prefix of what was applied (a lagging replica)
            seen = applied[k][:max(0, len(applied[k]) - rng.randrange(3))]
            val = {"version": max((v for _, v in seen), default=0),
                   "events": [e for e, _ in seen] if events_lists else None}
            pending.append((t + rng.randint(1, 12) * 1_000_000, proc,
                            {"process": proc, "type": "ok", "f": "read-derived", "key": k,
                             "value": val}))
    for p in sorted(pending, key=lambda p: p[0]):
        add({**p[2], "time": max(p[0], t + 1)})
    return history_from_events(ev)


@pytest.mark.parametrize("events_lists", [True, False])
def test_lag_bounds_match_the_definition(events_lists):
    measured = 0
    for seed in range(40):
        parsed = _collect(_concurrent(seed, events_lists))
        committed, derived = parsed[9], parsed[4]
        got = _lag_bounds(committed, derived)
        assert got == _reference(committed, derived), seed
        measured += len(got)
        assert all(0 <= lo <= up for _, _, lo, up in got)
    assert measured > 200  # the histories exercised it
