"""rw-register inference (transactions.md §3): external reads and writes, wr edges from
unique writers, per-key version graphs from the sources the user accepts, and the
non-cycle anomalies (G1a, G1b, internal, lost-update, garbage-read, cyclic-versions).

Obligations: only sound sources are on by default (A: the initial state precedes every
value; D: the store's `versions` when recorded); B (`wfr`) is opt-in; a source whose edges
make a key's version graph cyclic is reported as `cyclic-versions` and its edges for that key
are dropped; info txns write (D2) but never read; two txns writing one value to one key
make the inference refuse (`Precondition("duplicate-writes")`).
"""

from __future__ import annotations

import networkx as nx

from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.transactions.graph import RW, WR, WW, Edges
from splitbrain.checkers.transactions.txn import Precondition, Txns, fmt_mop

NIL = None
_ABSENT = object()


class _Init:
    """The initial version of every key (networkx nodes cannot be None)."""

    def __repr__(self) -> str:
        return "nil"


INIT = _Init()


def _node(x):
    return INIT if x is None else x


def _value(n):
    return None if n is INIT else n


def _versions(op) -> tuple | None:
    vs = op.extra.get("versions") if op.extra else None
    if vs is None and isinstance(op.version, (list, tuple)):
        vs = op.version
    if isinstance(vs, (list, tuple)) and len(vs) == len(op.value):
        return tuple(vs)
    return None


class RWRegister:
    def __init__(self, t: Txns, assume: frozenset[str] = frozenset()):
        self.t = t
        self.assume = assume
        self.anomalies: list[Anomaly] = []
        self.edges = Edges(len(t.vertices))
        self.ext_writer: dict = {}  # (k, v) -> vertex
        self.ext_readers: dict = {}  # (k, v) -> [vertices]
        self.version_edges: dict = {}  # key -> {(v1, v2): source}
        self.sources_used: set[str] = set()
        # (key, v1, v2) -> the two txns whose session / real-time order gave v1 < v2
        self.order_evidence: dict = {}
        self.version_evidence: dict = {}

    def _add(self, typ, explanation, ops, key=None, **details):
        self.anomalies.append(Anomaly(type=typ, explanation=explanation, ops=ops, key=key,
                                      details=details))

    def run(self) -> "RWRegister":
        t = self.t
        any_writer: dict = {}  # (k, v) -> (vertex or ~fail, final?)
        ext_w: dict = {}  # vertex -> {k: v}
        ext_r: dict = {}  # vertex -> {k: v}
        for v, op in enumerate(t.vertices):
            ew, er = self._externals(op, v, any_writer, reads=bool(t.ok[v]))
            ext_w[v], ext_r[v] = ew, er
            for k, x in ew.items():
                self.ext_writer[(k, x)] = v
        for j, op in enumerate(t.fails):
            for f, k, x in op.value:
                if f == "w":
                    self._index(any_writer, k, x, ~j, op, final=True)
        # reads: garbage, G1a, G1b, wr
        for v, op in enumerate(t.vertices):
            if not t.ok[v]:
                continue
            for k, x in list(ext_r[v].items()):
                got = any_writer.get((k, x)) if x is not NIL else None
                if x is not NIL and got is None:
                    # P-T4: reported once, then ignored by every other inference
                    self._add("garbage-read", f"op {op.index} read {k} = {x}, which nobody wrote",
                              [op.index], key=k, value=x)
                    del ext_r[v][k]
                    continue
                self.ext_readers.setdefault((k, x), []).append(v)
                if x is NIL:
                    continue
                w, final = got
                if w < 0:
                    fop = t.fails[~w]
                    self._add("G1a", f"op {op.index} read {k} = {x}, written by op {fop.index}, "
                              f"which failed", [op.index, fop.index], key=k, value=x)
                    continue
                if w == v:
                    continue
                if not final:
                    wop = t.vertices[w]
                    self._add("G1b", f"op {op.index} read {k} = {x}, an intermediate write of "
                              f"op {wop.index}", [op.index, wop.index], key=k, value=x)
                    continue
                self.edges.add(w, v, WR)
        self._internal()
        self._lost_updates(ext_r, ext_w)
        self._version_graphs(ext_r, ext_w)
        return self

    def _index(self, idx, k, x, w, op, final):
        if (k, x) in idx and idx[(k, x)][0] != w:
            other = idx[(k, x)][0]
            oop = self.t.vertices[other] if other >= 0 else self.t.fails[~other]
            raise Precondition("duplicate-writes", f"ops {oop.index} and {op.index} both write "
                               f"{x!r} to key {k!r}; written values must be unique per key",
                               [oop.index, op.index])
        idx[(k, x)] = (w, final)

    def _externals(self, op, v, any_writer, reads: bool):
        ew: dict = {}
        er: dict = {}
        written: set = set()
        mops = op.value
        last_w: dict = {}
        for i, (f, k, x) in enumerate(mops):
            if f == "w":
                written.add(k)
                last_w[k] = i
            elif reads and k not in written and k not in er:
                er[k] = x
        for i, (f, k, x) in enumerate(mops):
            if f == "w":
                self._index(any_writer, k, x, v, op, final=(last_w[k] == i))
                if last_w[k] == i:
                    ew[k] = x
        return ew, er

    def _internal(self):
        t = self.t
        for v, op in enumerate(t.vertices):
            if not t.ok[v]:
                continue
            state: dict = {}
            for f, k, x in op.value:
                if f == "w":
                    state[k] = x
                    continue
                if k in state and state[k] != x:
                    self._add("internal", f"op {op.index} read {k} = {x} after its own earlier "
                              f"mops implied {state[k]}", [op.index], key=k,
                              mop=list(fmt_mop((f, k, x))), expected=state[k])
                state[k] = x

    def _lost_updates(self, ext_r, ext_w):
        t = self.t
        groups: dict = {}
        for v in range(len(t.vertices)):
            if not t.ok[v]:
                continue
            for k, x in ext_r[v].items():
                if k in ext_w[v]:
                    groups.setdefault((k, x), []).append(v)
        for (k, x), vs in groups.items():
            if len(vs) >= 2:
                ops = sorted(t.vertices[v].index for v in vs)
                self._add("lost-update", f"ops {', '.join(map(str, ops))} all read {k} = {x} and "
                          f"all wrote {k}", ops, key=k, value=x)

    def _version_graphs(self, ext_r, ext_w):
        t = self.t
        per_key: dict = {}  # key -> {source: set of (v1, v2)}
        values: dict = {}
        for (k, x) in self.ext_writer:
            values.setdefault(k, set()).add(x)
        for (k, x) in self.ext_readers:
            if x is not NIL:
                values.setdefault(k, set()).add(x)
        for k, xs in values.items():
            per_key.setdefault(k, {})["initial-state"] = {(INIT, x) for x in xs}
        # D: recorded versions
        vers: dict = {}
        vers_by: dict = {}  # (k, x) -> the first txn that recorded x's version: evidence
        for v, op in enumerate(t.vertices):
            if not t.ok[v]:
                continue
            vs = _versions(op)
            if vs is None:
                continue
            for (f, k, x), n in zip(op.value, vs):
                if n is None or x is None or isinstance(n, bool):
                    continue
                vers.setdefault(k, {})[x] = n
                vers_by.setdefault((k, x), v)
        for k, m in vers.items():
            chain = sorted(m.items(), key=lambda kv: kv[1])
            pairs = {(a[0], b[0]) for a, b in zip(chain, chain[1:]) if a[1] != b[1]}
            per_key.setdefault(k, {})["versions"] = pairs
            for a, b in pairs:
                # a witness resting on recorded versions carries the txns that recorded
                # them, so it replays on its own (they may be readers outside the cycle)
                self.version_evidence[(k, a, b)] = (vers_by[(k, a)], vers_by[(k, b)])
        if "wfr" in self.assume:
            for v in range(len(t.vertices)):
                if not t.ok[v]:
                    continue
                for k, x in ext_r[v].items():
                    if k in ext_w[v] and ext_w[v][k] != x:
                        per_key.setdefault(k, {}).setdefault("wfr", set()).add(
                            (_node(x), ext_w[v][k]))
        for src in ("sequential-keys", "linearizable-keys"):
            if src in self.assume:
                for k, es in self._order_version_edges(ext_r, ext_w, src).items():
                    per_key.setdefault(k, {})[src] = {(_node(a), _node(b)) for a, b in es}
        for k, srcs in per_key.items():
            g = nx.DiGraph()
            kept: dict = {}
            for src in ("initial-state", "versions", "wfr", "sequential-keys",
                        "linearizable-keys"):
                es = srcs.get(src)
                if not es:
                    continue
                h = g.copy()
                h.add_edges_from(es)
                cyc = [c for c in nx.strongly_connected_components(h) if len(c) > 1]
                if cyc:
                    scc = sorted((_value(x) for x in cyc[0]), key=repr)
                    ops = sorted({t.vertices[w].index for (kk, x), w in self.ext_writer.items()
                                  if kk == k and x in cyc[0]})
                    self._add("cyclic-versions", f"key {k}: the version order from "
                              f"{' + '.join(list(kept) + [src])} is cyclic over values "
                              f"{', '.join(map(str, scc))}", ops, key=k, scc=scc,
                              sources=list(kept) + [src])
                    continue
                g = h
                kept[src] = es
                self.sources_used.add(src)
            for a, b in g.edges:
                a, b = _value(a), _value(b)
                wb = self.ext_writer.get((k, b))
                if wb is None:
                    continue
                if a is not NIL:
                    wa = self.ext_writer.get((k, a))
                    if wa is not None and wa != wb:
                        self.edges.add(wa, wb, WW)
                for r in self.ext_readers.get((k, a), ()):
                    if r != wb:
                        self.edges.add(r, wb, RW)
            self.version_edges[k] = {(a, b): next(s for s in ("versions", "wfr", "initial-state",
                                                              "sequential-keys",
                                                              "linearizable-keys")
                                                  if (a, b) in kept.get(s, ()))
                                     for a, b in g.edges}
            self.version_edges[k] = {(_value(a), _value(b)): s
                                     for (a, b), s in self.version_edges[k].items()}

    def _order_version_edges(self, ext_r, ext_w, src: str) -> dict:
        """C / C' (§3.2): along process (or realtime) order, a txn's last external value of k
        precedes the first external value of k of the nearest later ok txn touching k."""
        t = self.t
        ok_vs = [v for v in range(len(t.vertices)) if t.ok[v]]

        def first_last(v, k):
            r = ext_r[v].get(k, _ABSENT)
            w = ext_w[v].get(k, _ABSENT)
            first = r if r is not _ABSENT else w
            last = w if w is not _ABSENT else r
            return first, last

        out: dict = {}
        if src == "sequential-keys":
            last_by: dict = {}  # (session, key) -> last value
            for v in ok_vs:
                op = t.vertices[v]
                for k in set(ext_r[v]) | set(ext_w[v]):
                    first, last = first_last(v, k)
                    prev, pv = last_by.get((op.session, k), (_ABSENT, None))
                    if prev is not _ABSENT and prev != first:
                        out.setdefault(k, set()).add((prev, first))
                        self.order_evidence.setdefault((k, prev, first), (pv, v))
                    last_by[(op.session, k)] = (last, v)
            return out
        # linearizable-keys: per key, a realtime frontier of the ok txns touching it
        per_key_events: dict = {}
        for v in ok_vs:
            op = t.vertices[v]
            for k in set(ext_r[v]) | set(ext_w[v]):
                ev = per_key_events.setdefault(k, [])
                ev.append((op.inv_index, 0, v))
                ev.append((op.ret_index, 1, v))
        for k, evs in per_key_events.items():
            evs.sort()
            frontier: set = set()
            linked: dict = {}
            for _, kind, v in evs:
                if kind == 0:
                    first, _ = first_last(v, k)
                    for a in frontier:
                        _, last = first_last(a, k)
                        if last != first:
                            out.setdefault(k, set()).add((last, first))
                            self.order_evidence.setdefault((k, last, first), (a, v))
                    linked[v] = tuple(frontier)
                else:
                    frontier.difference_update(linked.pop(v, ()))
                    frontier.add(v)
        return out

    def explain(self, a: int, b: int, label: int):
        B = self.t.vertices[b]
        if label == WR:
            for f, k, x in B.value:
                if f == "r" and x is not None and self.ext_writer.get((k, x)) == a:
                    return f"T{{a}} wrote {k} = {x}, which T{{b}} read", [], k
        for (k, x), w in self.ext_writer.items():
            if w != b:
                continue
            for (p, q), src in self.version_edges.get(k, {}).items():
                if q != x:
                    continue
                why = {"initial-state": "initial state", "versions": "recorded versions",
                       "wfr": "writes-follow-reads",
                       "sequential-keys": "session order (assumption: sequential keys)",
                       "linearizable-keys": "real-time order (assumption: linearizable keys)",
                       }[src]
                ev = [self.t.vertices[u].index
                      for u in self.order_evidence.get((k, p, q), ())]
                if src == "versions":
                    ev += [self.t.vertices[u].index
                           for u in self.version_evidence.get((k, p, q), ())]
                if label == WW and p is not None and self.ext_writer.get((k, p)) == a:
                    return (f"T{{a}} set {k} = {p} and T{{b}} set it to {x}, later in the version "
                            f"order [{why}]", ev, k)
                if label == RW and a in self.ext_readers.get((k, p), ()):
                    shown = "nothing" if p is None else p
                    w = self.ext_writer.get((k, p)) if p is not None else None
                    if w is not None:  # who wrote what T{a} read: without it, a garbage read
                        ev.append(self.t.vertices[w].index)
                    return (f"T{{a}} read {k} = {shown} and T{{b}} set it to {x}, later in the "
                            f"version order [{why}]", ev, k)
        return (f"T{{a}} < T{{b}} ({'ww' if label == WW else 'wr' if label == WR else 'rw'})",
                [], None)
