"""The §3.6 session version graph of plain unique-value registers (assumption A-LWW): SCCs,
then a shortest cycle, labelled by the guarantee(s) on it.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.cycles import shortest_cycle, strongly_connected
from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import BOTTOM, VersionIndex
from splitbrain.harness.history import Op
from splitbrain.checkers.session.findings import (
    MR, MW, NAMES, RYW, SESSION, SHORT, WFR, _Found, _suspect, _uniq)


_LABEL = {("W", "R"): RYW, ("R", "R"): MR, ("W", "W"): MW, ("R", "W"): WFR}


def _items(ix: VersionIndex, ops: list[Op]) -> list[tuple[str, Any, Op]]:
    """(kind, version node, op) per ok op side, in session order; corrupt sides dropped."""
    out = []
    for op in ops:
        if op.type != "ok" or op.index in ix.corrupt:
            continue
        if op.f in ("read", "cas"):
            v = ix.ver_observed(op)
            if v is not None:
                out.append(("R", v, op))
        if op.f != "read":
            v = ix.ver(op)
            if v is not None:
                out.append(("W", v, op))
    return out


def _data_edges(ix: VersionIndex, nodes: set) -> dict:
    edges: dict = {}
    for n in nodes:
        if n is not BOTTOM:
            edges.setdefault(BOTTOM, {})[n] = ("data", None, None)
    for a, bs in ix.data_successors.items():
        for b in bs:
            edges.setdefault(a, {}).setdefault(b, ("data", None, None))
    return edges


def _pass_cycles(found: _Found, indexes: dict, groups: dict, keys: set) -> None:
    for k in keys:
        ix = indexes[k]
        flagged = found.flagged
        # an edge into an op a floor rule reported later in the pass is dropped here (the
        # floor finding already explains that op)
        flat = [e for e in found.plain_edges.get(k, ()) if e[5].index not in flagged]
        if not flat or not _maybe_cyclic(ix, flat):
            continue
        nodes: set = set()
        edges: dict = {}
        for va, vb, ka, kb, a, b in flat:
            nodes.add(va)
            nodes.add(vb)
            edges.setdefault(va, {}).setdefault(vb, (_LABEL[(ka, kb)], a, b))
        data = _data_edges(ix, nodes)
        for a, bs in data.items():
            for b, lab in bs.items():
                edges.setdefault(a, {}).setdefault(b, lab)
        succ = {a: list(bs) for a, bs in edges.items()}
        for comp in strongly_connected(succ):
            cyc = shortest_cycle(succ, comp)
            if not cyc:
                continue
            steps = [(a, b, edges[a][b]) for a, b in zip(cyc, cyc[1:] + cyc[:1])]
            labels = {lab for _, _, (lab, _, _) in steps if lab != "data"}
            if not labels:
                continue  # data-only: cyclic-versions, reported by integrity
            items_by_s = {s: _items(ix, ops) for (s, kk), ops in groups.items() if kk == k}
            _report_cycle(found, ix, steps, labels, comp, items_by_s)


def _maybe_cyclic(ix: VersionIndex, flat: list) -> bool:
    """False when every edge goes forward in writer-invocation order (then no cycle).

    A cheap certificate of acyclicity: most keys of a well-behaved history pass it, so
    the SCC search runs only where a session edge points backwards.
    """
    pos = {v: w.inv_index for v, w in ix.sole_writers.items()}
    pos[BOTTOM] = -1
    pg = pos.get
    for e in flat:
        pa, pb = pg(e[0]), pg(e[1])
        if pa is None or pb is None or pa >= pb:
            return True
    for a, bs in ix.data_successors.items():
        pa = pg(a)
        for b in bs:
            pb = pg(b)
            if pa is None or pb is None or pa >= pb:
                return True
    return False


def _step_text(ix: VersionIndex, a, b, lab) -> str:
    name, oa, ob = lab
    if name == "data":
        w = ix.writer(b) if b is not BOTTOM else None
        if a is BOTTOM:
            return f"⊥ < {b!r} because every write follows the initial state"
        return f"{a!r} < {b!r} because {w.describe() if w else 'a cas'} replaced {a!r} by {b!r}"
    verb = {RYW: ("wrote", "read"), MR: ("read", "read"), MW: ("wrote", "wrote"),
            WFR: ("read", "wrote")}[name]
    fa = "⊥" if a is BOTTOM else repr(a)
    fb = "⊥" if b is BOTTOM else repr(b)
    return (f"{fa} < {fb} because process {ob.process} {verb[0]} {fa} (op {oa.index}) and then "
            f"{verb[1]} {fb} (op {ob.index}) [{SHORT[name]}]")


def _cycle_anomaly(name: str, ix: VersionIndex, steps, label_set, note: str = "") -> Anomaly:
    ops: list[int] = []
    for a, b, (lab, oa, ob) in steps:
        if lab == "data":
            if a is not BOTTOM:
                w = ix.writer(b)
                if w is not None:
                    ops.append(w.index)
        else:
            ops += [oa.index, ob.index]
    procs = [ob.process for _, _, (lab, _, ob) in steps if lab != "data"]
    text = ("Under a single-valued register (A-LWW) these orders form a cycle: "
            + "; ".join(_step_text(ix, a, b, lab) for a, b, lab in steps) + "." + note)
    return Anomaly(name, text, _uniq(ops), key=ix.key, process=procs[0] if procs else None,
                   details={"method": "session-version-graph", "guarantees": sorted(SHORT[l] for l in label_set),
                            "cycle": [None if x is BOTTOM else x for x, _, _ in steps],
                            "confidence": "assumption:lww-register"})


def _report_cycle(found: _Found, ix: VersionIndex, steps, labels: set, comp: set,
                  items_by_s: dict) -> None:
    suspect = _suspect(*[lab[1] for _, _, lab in steps if lab[0] != "data"],
                       *[lab[2] for _, _, lab in steps if lab[0] != "data"])
    if len(labels) == 1:
        name = next(iter(labels))
        found.add(name, _cycle_anomaly(name, ix, steps, labels), suspect)
        return
    # Mixed: attribute to single guarantees by rebuilding each one's full edge set on the
    # SCC's sessions (§3.6); an SCC may hide a single-guarantee cycle behind a mixed one.
    involved = [items for items in items_by_s.values() if any(it[1] in comp for it in items)]
    attributed = False
    for name in NAMES:
        cyc = _single_guarantee_cycle(ix, name, comp, involved, found.flagged)
        if cyc is not None:
            sus = _suspect(*[lab[1] for _, _, lab in cyc if lab[0] != "data"],
                           *[lab[2] for _, _, lab in cyc if lab[0] != "data"])
            found.add(name, _cycle_anomaly(name, ix, cyc, {name}), sus)
            attributed = True
    if not attributed:
        model = "causal consistency" if WFR in labels else "PRAM"
        note = (f" {model} is violated: {', '.join(sorted(SHORT[l] for l in labels))} cannot "
                f"all hold, so at least one of them is broken (no single one provably is).")
        for name in labels:
            found.notices[name].append(_cycle_anomaly(name, ix, steps, labels, note))
        a = _cycle_anomaly(SESSION, ix, steps, labels, note)
        a.details["candidates"] = sorted(labels)
        found.add(SESSION, a, suspect)


def _single_guarantee_cycle(ix, name: str, comp: set, item_lists: list, flagged: set,
                            limit: int = 3000):
    """A cycle of data edges and `name`'s full (not only consecutive) session edges inside
    the SCC `comp`, or None. Quadratic in the SCC's session lengths, hence the limit."""
    edges: dict = {}
    for items in item_lists:
        items = [it for it in items if it[1] in comp]
        if len(items) > limit:
            return None
        want = {RYW: ("W", "R"), MR: ("R", "R"), MW: ("W", "W"), WFR: ("R", "W")}[name]
        for i, (ka, va, a) in enumerate(items):
            if ka != want[0]:
                continue
            for kb, vb, b in items[i + 1:]:
                if (kb != want[1] or va == vb or a is b or not a.ret_index < b.inv_index
                        or b.index in flagged):
                    continue
                edges.setdefault(va, {}).setdefault(vb, (name, a, b))
    data = _data_edges(ix, set(comp))
    for a, bs in data.items():
        for b, lab in bs.items():
            edges.setdefault(a, {}).setdefault(b, lab)
    succ = {a: list(bs) for a, bs in edges.items()}
    for c in strongly_connected(succ):
        cyc = shortest_cycle(succ, c)
        if cyc:
            steps = [(a, b, edges[a][b]) for a, b in zip(cyc, cyc[1:] + cyc[:1])]
            if any(lab[0] != "data" for _, _, lab in steps):
                return steps
    return None


