"""The session-order search (by_linearizability.session_completeness) never convicts a
strong-session-serializable history: histories executed serially in an order that keeps
each process's order, then recorded with the processes' events interleaved at random (so
real time says nothing), with info txns that did or did not take effect. And it finds
what the graph cannot: one process reading its own overwritten value."""

from __future__ import annotations

import random

import pytest

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.transactions import by_linearizability, check
from splitbrain.checkers.transactions.txn import Txns
from splitbrain.harness.history import history_from_events


def _session_serial(seed: int, procs: int = 3, n: int = 10, keys: str = "xy"):
    rng = random.Random(seed)
    state: dict = {}
    counter = iter(range(1, 10**6))
    per_proc: dict[int, list] = {p: [] for p in range(procs)}
    live = list(range(procs))
    pid = {p: p for p in range(procs)}  # a new process id after an info, as in Jepsen
    for _ in range(n):  # the serial order: any process may go next (keeps each one's order)
        p = rng.choice(live)
        mops, done = [], []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice(keys)
            if rng.random() < 0.5:
                v = next(counter)
                mops.append(["w", k, v])
            else:
                mops.append(["r", k, None])
        typ = rng.choice(["ok"] * 8 + ["info", "fail"])
        applies = typ == "ok" or (typ == "info" and rng.random() < 0.5)
        local = dict(state)
        for f, k, v in mops:
            if f == "w":
                local[k] = v
                done.append([f, k, v])
            else:
                done.append([f, k, local.get(k)])
        if applies:
            state = local
        per_proc[p].append((pid[p], typ, mops, done))
        if typ == "info":
            pid[p] += 100
    # record: each process's txns in its order, the processes interleaved at random
    queues = {p: list(v) for p, v in per_proc.items() if v}
    evs = []
    while queues:
        p = rng.choice(sorted(queues))
        proc, typ, mops, done = queues[p].pop(0)
        if not queues[p]:
            del queues[p]
        inv = [[f, k, None if f == "r" else v] for f, k, v in mops]
        evs.append({"process": proc, "type": "invoke", "f": "txn", "value": inv})
        evs.append({"process": proc, "type": typ, "f": "txn",
                    "value": done if typ == "ok" else inv})
    for i, e in enumerate(evs):
        e["index"], e["time"] = i, i * 1000
    return evs


@pytest.mark.parametrize("seed", range(150))
def test_a_session_serial_history_is_never_convicted(seed):
    evs = _session_serial(seed)
    h = history_from_events(evs)
    more, info = by_linearizability.session_completeness(Txns(h))
    assert not more, (info, evs)
    r = check(h, CheckOptions(consistency_models=("strong-session-serializable",)))
    assert r["transactions"].valid is not False, (r["transactions"].to_json(), evs)


def test_a_stale_own_read_is_found():
    evs = [{"process": 0, "type": t, "f": "txn", "value": v} for t, v in (
        ("invoke", [["w", "x", 1]]), ("ok", [["w", "x", 1]]),
        ("invoke", [["w", "x", 2]]), ("ok", [["w", "x", 2]]),
        ("invoke", [["r", "x", None]]), ("ok", [["r", "x", 1]]))]
    for i, e in enumerate(evs):
        e["index"], e["time"] = i, i * 1000
    h = history_from_events(evs)
    more, info = by_linearizability.session_completeness(Txns(h))
    assert [a.type for a in more] == ["strong-session-serializability-violation"]
    assert info["searched"] is True
    # an info write of 1 after the overwrite could explain it: not convicted
    evs2 = evs[:4] + [{"process": 1, "type": "invoke", "f": "txn", "value": [["w", "x", 1]]},
                      {"process": 1, "type": "info", "f": "txn", "value": [["w", "x", 1]]}]
    evs2 += evs[4:]
    for i, e in enumerate(evs2):
        e["index"], e["time"] = i, i * 1000
    more2, _ = by_linearizability.session_completeness(Txns(history_from_events(evs2)))
    assert not more2
