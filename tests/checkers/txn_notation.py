"""Elle's test notation -> histories, for fixtures (transactions.md §8.1).

`ax1` append 1 to x, `rx12` read x = [1, 2] (list-append; `rx` = empty), `wx1` write,
`rx1` / `rx_` register read of 1 / nil; `;` separates txns; `f:` / `i:` mark fail / info.
Layouts: "completion" (Elle's completion-only histories: every txn invoked, on its own
process, before the first completion, so no order edges exist: §1.4), "sequential"
(one process, each txn completes before the next is invoked), "concurrent-p0"... see
`events()`.
"""

from __future__ import annotations

import re

from splitbrain.harness.history import history_from_events

_MOP = re.compile(r"([arw])([a-z])(_|\d*)")


def parse_txn(s: str, kind: str) -> tuple[str, list]:
    s = s.strip()
    typ = "ok"
    if s.startswith("f:"):
        typ, s = "fail", s[2:]
    elif s.startswith("i:"):
        typ, s = "info", s[2:]
    mops = []
    pos = 0
    for m in _MOP.finditer(s):
        assert m.start() == pos, f"cannot parse {s!r} at {pos}"
        pos = m.end()
        f, k, v = m.groups()
        if f == "a":
            mops.append(["append", k, int(v)])
        elif f == "w":
            mops.append(["w", k, int(v)])
        elif kind == "list-append":
            mops.append(["r", k, [int(c) for c in v]])
        else:
            mops.append(["r", k, None if v in ("_", "") else int(v)])
    assert pos == len(s), f"cannot parse {s!r}"
    return typ, mops


def _invoke(mops):
    return [[f, k, None if f == "r" else v] for f, k, v in mops]


def events(spec: str, kind: str = "list-append", layout: str = "completion",
           processes: list | None = None, versions: list | None = None) -> list[dict]:
    """`versions[i]`, if given, is txn i's aligned per-mop version list (ok completions)."""
    txns = [parse_txn(s, kind) for s in spec.split(";")]
    evs: list[dict] = []
    vers = iter(versions) if versions else None

    def add(**e):
        if vers is not None and e["type"] != "invoke":  # one entry per txn, in order
            v = next(vers)
            if v is not None and e["type"] == "ok":
                e["versions"] = v
        e["index"] = len(evs)
        e["time"] = len(evs) * 1000
        e["f"] = "txn"
        evs.append(e)

    if layout == "completion":
        for p, (typ, mops) in enumerate(txns):
            add(type="invoke", process=p, value=_invoke(mops))
        for p, (typ, mops) in enumerate(txns):
            add(type=typ, process=p, value=mops if typ == "ok" else _invoke(mops))
    elif layout == "sequential":
        procs = processes or [0] * len(txns)
        for p, (typ, mops) in zip(procs, txns):
            add(type="invoke", process=p, value=_invoke(mops))
            add(type=typ, process=p, value=mops if typ == "ok" else _invoke(mops))
    else:
        raise ValueError(layout)
    return evs


def history(spec: str, kind: str = "list-append", layout: str = "completion",
            processes: list | None = None, versions: list | None = None):
    return history_from_events(events(spec, kind, layout, processes, versions), source=spec)
