"""Cross-key MW/WFR, only with multi-key snapshot reads (checker-spec §3.3c/§3.4a, P20)."""

from __future__ import annotations


from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.versions import frozen as _fz
from splitbrain.harness.history import History
from splitbrain.checkers.session.findings import (
    MW, WFR, _Found, _short, _steps, _suspect, _uniq, _val)
from splitbrain.checkers.session.floors import _raises


def _pass_cross_key(found: _Found, history: History, indexes: dict, skip: set,
                    by_process: bool) -> None:
    """§3.3c/§3.4a cross-key: a snapshot read showing w2 must show, on every other key,
    at least what w2's session had written (MW) or read (WFR) before w2."""
    sessions: dict = {}
    for op in history.ops:
        if op.type == "fail" or (op.f == "read" and op.type != "ok"):
            continue
        sessions.setdefault(op.process if by_process else op.session, []).append(op)
    deps: dict = {}   # (key, frozen value) -> (w2, {k: read op}, {k: write op})
    for s, ops in sessions.items():
        top_r: dict = {}
        top_w: dict = {}
        for op, done in _steps(ops):
            k = op.key
            if not done:
                if op.f != "read" and type(k) is not tuple and k not in skip and k in indexes:
                    v = _val(indexes[k], op, False)
                    if v is not None and (top_r or top_w):
                        deps[(k, _fz(v))] = (op, {kk: r for kk, r in top_r.items() if kk != k},
                                             {kk: w for kk, w in top_w.items() if kk != k})
                continue
            if op.type != "ok":
                continue
            keys = k if type(k) is tuple else (k,)
            for kk in keys:
                ix = indexes.get(kk)
                if ix is None or kk in skip:
                    continue
                if op.f == "read" or op.f == "cas":
                    if op.index in ix.corrupt:
                        continue
                    v = ix.ver_observed(op)
                    prev = top_r.get(kk)
                    if v is not None and (prev is None or _raises(ix.cmp(v, ix.ver_observed(prev)), ix.total)):
                        top_r[kk] = op
                if op.f != "read":
                    v = ix.ver(op)
                    prev = top_w.get(kk)
                    if v is not None and (prev is None or _raises(ix.cmp(v, ix.ver(prev)), ix.total)):
                        top_w[kk] = op
    if not deps:
        return
    reported: set = set()
    for R in history.ops:
        if type(R.key) is not tuple or R.f != "read" or R.type != "ok":
            continue
        for k2 in R.key:
            ix2 = indexes.get(k2)
            if ix2 is None or k2 in skip or R.index in ix2.corrupt:
                continue
            shown = ix2.observed(R)
            cands = []
            if ix2.kind in ("list", "set"):
                for e in (shown or ()):
                    if (k2, _fz(e)) in deps:
                        cands.append((k2, _fz(e)))
            elif shown is not None and (k2, _fz(shown)) in deps:
                cands.append((k2, _fz(shown)))
            for c in cands:
                w2, reads, writes = deps[c]
                for name, table, getv in ((WFR, reads, "ver_observed"), (MW, writes, "ver")):
                    for k1, o1 in table.items():
                        if k1 not in R.key:
                            continue
                        ix1 = indexes[k1]
                        if R.index in ix1.corrupt:
                            continue
                        vr = ix1.ver_observed(R)
                        v1 = getattr(ix1, getv)(o1)
                        if ix1.cmp(vr, v1) != "<" or (name, o1.index, w2.index, R.index) in reported:
                            continue
                        reported.add((name, o1.index, w2.index, R.index))
                        ow = ix1.writer(ix1.observed(o1)) if name == WFR else None
                        what = "read" if name == WFR else "wrote"
                        seen = ix1.observed(R)
                        text = (f"Process {w2.process} {what} {k1!r}={_short(_val(ix1, o1, name == WFR))} "
                                f"(op {o1.index}) before writing {k2!r}={_short(_val(ix2, w2, False))} "
                                f"(op {w2.index}); snapshot read op {R.index} shows that write "
                                f"but {k1!r}={_short(seen)}, which is older.")
                        found.add(name, Anomaly(
                            name, text, _uniq([o1.index, ow.index if ow else None, w2.index, R.index]),
                            key=(k1, k2), process=w2.process,
                            details={"roles": {("r1" if name == WFR else "w1"): o1.index,
                                               "w2": w2.index, "evidence": R.index},
                                     "kind": "cross-key"}), _suspect(o1, w2))


