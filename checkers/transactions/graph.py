"""The transaction dependency graph: edge store, order edges, SCCs, cycle search,
classification (transactions.md §4).

Obligations:
* vertices are dense ints (positions in the checker's list of ok + info txns); an edge is
  (src, dst, mask) with the label bits below; parallel edges OR their masks;
* `sccs()` returns every strongly connected component of more than one vertex (self-loops
  never exist: inference drops them), using an iterative Tarjan over a CSR, because a
  networkx DiGraph of a 1M-txn history costs ~15 s and ~2 GB before any analysis (§9.3);
* `search_scc()` returns, per anomaly class, at most one *simple* cycle found in that SCC,
  each classified by what it is (never by what was searched for), and says which classes it
  could not finish within its budget.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from typing import Iterable

import networkx as nx

from splitbrain.checkers.transactions.models import implied_anomalies, search_order

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
LABELS = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}

BASES = ("G0", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item")
_BASE_ALLOWED = {"G0": WW, "G1c": WW | WR, "G-single-item": DATA,
                 "G-nonadjacent-item": DATA, "G2-item": DATA}


class Edges:
    """Append-only edge store; `freeze()` builds the CSR (counting sort by source)."""

    def __init__(self, n: int):
        self.n = n
        self.src = array("i")
        self.dst = array("i")
        self.mask = array("B")
        self.off: array | None = None
        self.tgt: array | None = None
        self.lab: array | None = None

    def add(self, a: int, b: int, m: int) -> None:
        if a != b:
            self.src.append(a)
            self.dst.append(b)
            self.mask.append(m)

    def adder(self):
        """A fast `add(a, b, mask)` for hot loops (self-edges dropped)."""
        sa, da, ma = self.src.append, self.dst.append, self.mask.append

        def add(a: int, b: int, m: int) -> None:
            if a != b:
                sa(a)
                da(b)
                ma(m)
        return add

    def __len__(self) -> int:
        return len(self.src) if self.src is not None else len(self.tgt)

    def freeze(self) -> None:
        """CSR with duplicate (src, dst) pairs merged (their masks OR-ed)."""
        from itertools import accumulate

        from splitbrain.checkers.transactions import native

        if native.freeze(self):  # the same counting sort in the Rust core
            return

        n = self.n
        counts = [0] * (n + 1)
        for a in self.src:
            counts[a + 1] += 1
        off = list(accumulate(counts))
        fill = off[:-1]
        m = len(self.src)
        # arrays, not lists: 4 + 1 bytes an edge instead of two boxed ints
        tgt = array("i", bytes(4 * m))
        lab = array("B", bytes(m))
        for a, b, k in zip(self.src, self.dst, self.mask):
            j = fill[a]
            tgt[j] = b
            lab[j] = k
            fill[a] = j + 1
        # Parallel edges stay separate: every consumer ORs or scans them (mask_of, SCC,
        # the search), and merging would cost a dict per vertex.
        self.off, self.tgt, self.lab = array("i", off), tgt, lab
        # the raw lists are no longer needed
        self.src = self.dst = None  # type: ignore[assignment]
        self.mask = None  # type: ignore[assignment]

    def out(self, v: int) -> Iterable[tuple[int, int]]:
        off = self.off
        lo, hi = off[v], off[v + 1]
        return zip(self.tgt[lo:hi], self.lab[lo:hi])

    def mask_of(self, a: int, b: int) -> int:
        out = 0
        for t, m in self.out(a):
            if t == b:
                out |= m
        return out

    def label_counts(self) -> dict[str, int]:
        from collections import Counter

        out = {name: 0 for name in LABELS.values()}
        for m, c in Counter(self.lab).items():  # counted in C; <= 32 distinct masks
            for bit, name in LABELS.items():
                if m & bit:
                    out[name] += c
        return out

    def sccs(self, allowed: int) -> list[list[int]]:
        """Non-trivial SCCs over edges carrying any `allowed` label (iterative Tarjan)."""
        from splitbrain.checkers.transactions import native

        got = native.sccs(self, allowed)  # the same Tarjan in the Rust core
        if got is not None:
            return got
        n = self.n
        off, tgt, lab = self.off, self.tgt, self.lab
        index = [-1] * n
        low = [0] * n
        on_stack = bytearray(n)
        stack: list[int] = []
        out: list[list[int]] = []
        counter = 0
        for root in range(n):
            if index[root] != -1 or off[root] == off[root + 1]:
                continue
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack[root] = 1
            work = [(root, off[root])]
            while work:
                v, j = work[-1]
                hi = off[v + 1]
                pushed = False
                while j < hi:
                    w = tgt[j]
                    if not (lab[j] & allowed):
                        j += 1
                        continue
                    j += 1
                    if index[w] == -1:
                        work[-1] = (v, j)
                        index[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        on_stack[w] = 1
                        work.append((w, off[w]))
                        pushed = True
                        break
                    if on_stack[w] and index[w] < low[v]:
                        low[v] = index[w]
                if pushed:
                    continue
                work.pop()
                if work:
                    u = work[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = 0
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
        return out


# ------------------------------------------------------------------------------------
# Order edges (§4.1)


def add_process_edges(edges: Edges, txns: list, ok_flags: bytearray) -> None:
    """Each ok txn -> the same session's next ok txn (never across overlapping intervals)."""
    last: dict = {}
    for v, op in enumerate(txns):
        if not ok_flags[v]:
            continue
        s = op.session
        prev = last.get(s)
        if prev is not None and txns[prev].ret_index < op.inv_index:
            edges.add(prev, v, PROCESS)
        last[s] = v


def add_realtime_edges(edges: Edges, txns: list, ok_flags: bytearray) -> None:
    """a -> b iff a is ok and a returned before b was invoked, as a transitive reduction
    (frontier of ok txns, Elle's realtime-graph). A realtime edge inside one session is
    also a process edge (D4). `txns` are in invocation order (as History.ops)."""
    n = len(txns)
    inv = [op.inv_index for op in txns]
    ret = [op.ret_index for op in txns]
    sessions = [op.session for op in txns]
    from splitbrain.checkers.transactions import native

    if native.realtime(edges, inv, ret, sessions, ok_flags):  # the same walk in Rust
        return
    done = sorted((v for v in range(n) if ok_flags[v]), key=ret.__getitem__)
    # an insertion-ordered set (a dict), so the edge order is defined (the Rust core
    # reproduces it exactly)
    frontier: dict[int, None] = {}
    linked: dict[int, list[int]] = {}
    src_extend, dst_extend, mask_extend = edges.src.extend, edges.dst.extend, edges.mask.extend
    both, rt = REALTIME | PROCESS, REALTIME
    j, m = 0, len(done)
    for v in range(n):
        t = inv[v]
        while j < m and ret[done[j]] < t:  # completions before this invocation
            d = done[j]
            j += 1
            got = linked.pop(d, None)
            if got:
                drop = frontier.pop
                for a in got:
                    drop(a, None)
            frontier[d] = None
        if frontier:
            fl = list(frontier)
            src_extend(fl)
            dst_extend([v] * len(fl))
            sv = sessions[v]
            mask_extend([both if sessions[a] == sv else rt for a in fl])
            if ok_flags[v]:
                linked[v] = fl


# ------------------------------------------------------------------------------------
# Classification (§4.3)


def step_label(mask: int, allowed: int) -> int:
    """The most severe label of a step the search allows: ww > wr > rw, process > realtime."""
    m = mask & allowed
    for bit in (WW, WR, RW, PROCESS, REALTIME):
        if m & bit:
            return bit
    return 0


def classify(labels: list[int]) -> str | None:
    rw = [l == RW for l in labels]
    n_rw = sum(rw)
    n = len(labels)
    if n_rw == 1:
        base = "G-single-item"
    elif n_rw >= 2:
        adjacent = any(rw[i] and rw[(i + 1) % n] for i in range(n))
        base = "G2-item" if adjacent else "G-nonadjacent-item"
    elif WR in labels:
        base = "G1c"
    elif WW in labels:
        base = "G0"
    else:
        return None  # order edges alone are acyclic: never reached
    if REALTIME in labels:
        return base + "-realtime"
    if PROCESS in labels:
        return base + "-process"
    return base


def cycle_classes(order_mask: int) -> list[str]:
    """Every class searchable with these order labels, most severe first."""
    out = list(BASES)
    if order_mask & PROCESS:
        out += [b + "-process" for b in BASES]
    if order_mask & REALTIME:
        out += [b + "-realtime" for b in BASES]
    return search_order(out)


def _spec(cls: str) -> tuple[str, int, int]:
    """(base, allowed mask, required order bit)."""
    if cls.endswith("-realtime"):
        base = cls[: -len("-realtime")]
        return base, _BASE_ALLOWED[base] | PROCESS | REALTIME, REALTIME
    if cls.endswith("-process"):
        base = cls[: -len("-process")]
        return base, _BASE_ALLOWED[base] | PROCESS, PROCESS
    return cls, _BASE_ALLOWED[cls], 0


class Budget(Exception):
    """The cycle search ran out of time."""


def _split_walk(walk: list[int]) -> list[list[int]]:
    """A closed walk (v0 .. vk, with vk -> v0 implied) as simple cycles (P-T8)."""
    out: list[list[int]] = []
    stack: list[int] = []
    pos: dict[int, int] = {}
    for v in walk:
        if v in pos:
            i = pos[v]
            cyc = stack[i:]
            out.append(cyc)
            for u in cyc[1:]:
                del pos[u]
            del stack[i + 1:]
        else:
            pos[v] = len(stack)
            stack.append(v)
    if len(stack) > 1:
        out.append(stack)
    return out


class SCCSearch:
    """Per-class BFS over product states inside one SCC (§4.5)."""

    def __init__(self, edges: Edges, comp: list[int], deadline: float):
        self.edges = edges
        self.members = set(comp)
        self.comp = comp
        self.deadline = deadline
        # local adjacency restricted to the SCC
        self.adj: dict[int, list[tuple[int, int]]] = {}
        for v in comp:
            merged: dict[int, int] = {}
            for w, m in edges.out(v):
                if w in self.members:
                    merged[w] = merged.get(w, 0) | m
            self.adj[v] = list(merged.items())
        self.ticks = 0
        self._sub: dict[int, dict[int, int]] = {}

    def sub_components(self, allowed: int) -> dict[int, int]:
        """vertex -> id of its non-trivial SCC in the projection onto `allowed` labels (the
        existence pass, §4.5): a cycle of a class lies inside one of them, so a class whose
        projection has none is absent, and each search stays inside one component."""
        got = self._sub.get(allowed)
        if got is None and len(self.comp) > 20_000:
            # a giant SCC: a networkx projection per class would cost more than it prunes
            got = self._sub[allowed] = dict.fromkeys(self.comp, 0)
        if got is None:
            if time.monotonic() > self.deadline:
                raise Budget()
            g = nx.DiGraph()
            for v, out in self.adj.items():
                for w, m in out:
                    if m & allowed:
                        g.add_edge(v, w)
            got = {}
            for i, c in enumerate(nx.strongly_connected_components(g)):
                if len(c) > 1:
                    for v in c:
                        got[v] = i
            self._sub[allowed] = got
        return got

    def _tick(self) -> None:
        self.ticks += 1
        if not self.ticks & 255 and time.monotonic() > self.deadline:
            raise Budget()

    def labels_of(self, cyc: list[int], allowed: int) -> list[int]:
        n = len(cyc)
        return [step_label(self.edges.mask_of(cyc[i], cyc[(i + 1) % n]), allowed)
                for i in range(n)]

    def search(self, cls: str, max_extra_starts: int = 8,
               alt: list | None = None) -> list[tuple[str, list[int], list[int]]]:
        """Simple cycles found while looking for `cls`: [(class, cycle, labels)], the one of
        class `cls` (if any) first and shortest among the starts tried. Cycles of class
        `cls` only under the labels the search chose go to `alt` (if given)."""
        base, allowed, required = _spec(cls)
        if base in ("G0",):
            first_bits = WW if not required else required
        elif base == "G1c":
            first_bits = WR if not required else required
        else:
            first_bits = RW
        found: list[tuple[str, list[int], list[int]]] = []
        best: tuple[str, list[int], list[int]] | None = None
        extra = 0
        sub = self.sub_components(allowed)
        if not sub:
            return []
        for a in self.comp:
            ca = sub.get(a)
            if ca is None:
                continue
            for b, m in self.adj[a]:
                if not (m & first_bits & allowed) or sub.get(b) != ca:
                    continue
                if first_bits in (WW, WR, RW):
                    first = first_bits
                else:
                    first = REALTIME if m & REALTIME & first_bits else PROCESS
                got = self._bfs(a, b, first, base, allowed, required, sub, ca)
                if got is None:
                    continue
                walk, walk_labels = got
                cycles = _split_walk(walk)
                for cyc in cycles:
                    labels = self.labels_of(cyc, allowed)
                    c = classify(labels)
                    if (c != cls and len(cycles) == 1 and alt is not None
                            and classify(walk_labels) == cls):
                        # an edge that is both rw and real-time (or process) order is
                        # either: t1 -rt-> t2 -rw-> t1 is also a G-single-item-realtime,
                        # though labelled most severely (rw first) it is a G2-item
                        # (Elle's g-single-misattribution note)
                        alt.append((cls, cyc, walk_labels))
                    if c is None:
                        continue
                    if c == cls:
                        if best is None or len(cyc) < len(best[1]):
                            best = (c, cyc, labels)
                    else:
                        found.append((c, cyc, labels))
                if best is not None:
                    extra += 1
                    if extra > max_extra_starts or len(best[1]) == 2:
                        return [best] + found
        return ([best] if best else []) + found

    def _bfs(self, s: int, b: int, first: int, base: str, allowed: int,
             required: int, sub: dict[int, int], comp_id: int
             ) -> tuple[list[int], list[int]] | None:
        """Shortest product-state walk s -first-> b -> ... -> s accepted by the class, with
        the label chosen for each of its steps."""
        # state flags: bit0-1 n_rw (0..2), bit2 last step rw, bit3 wr seen, bit4 order seen
        rw_classes = base in ("G-single-item", "G-nonadjacent-item", "G2-item")

        def step(flags: int, lab: int) -> int:
            n_rw = flags & 3
            if lab == RW:
                if not rw_classes:
                    return -1
                if base == "G-single-item" and n_rw >= 1:
                    return -1
                if base == "G-nonadjacent-item" and flags & 4:
                    return -1
                f = min(n_rw + 1, 2) | 4 | (flags & 24)
            else:
                f = n_rw | (flags & 24)
                if lab == WR:
                    f |= 8
                if lab & required:
                    f |= 16
            return f

        def accept(flags: int) -> bool:
            n_rw = flags & 3
            if required and not flags & 16:
                return False
            if base == "G1c" and not flags & 8:
                return False
            if base in ("G0", "G1c"):
                return n_rw == 0
            if base == "G-single-item":
                return n_rw == 1
            if base == "G-nonadjacent-item":
                return n_rw >= 2 and not (flags & 4 and first == RW)
            return n_rw >= 2

        f0 = step(0, first)
        if f0 < 0:
            return None
        start = (b, f0)
        parent: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {start: None}
        q = deque([start])
        adj = self.adj
        tick = self._tick
        while q:
            state = q.popleft()
            v, flags = state
            tick()
            for w, m in adj[v]:
                mm = m & allowed
                if not mm or sub.get(w) != comp_id:
                    continue
                # each label on the edge is a separate choice (ww/wr dominate as non-rw)
                choices = []
                if mm & (WW | WR):
                    choices.append(WR if mm & WR else WW)
                if mm & RW:
                    choices.append(RW)
                if mm & (PROCESS | REALTIME):
                    choices.append(REALTIME if mm & REALTIME & required else
                                   (PROCESS if mm & PROCESS else REALTIME))
                for lab in choices:
                    nf = step(flags, lab)
                    if nf < 0:
                        continue
                    if w == s:
                        if accept(nf):
                            walk, labels = [v], [lab]
                            p = state
                            while parent[p] is not None:
                                p, plab = parent[p]
                                walk.append(p[0])
                                labels.append(plab)
                            walk.append(s)
                            labels.append(first)
                            walk.reverse()
                            labels.reverse()
                            return walk, labels
                        continue
                    ns = (w, nf)
                    if ns not in parent:
                        parent[ns] = (state, lab)
                        q.append(ns)
        return None


def fallback_cycle(edges: Edges, comp: list[int], allowed: int) -> list[int] | None:
    """Any cycle of the SCC (a DFS on a small networkx graph), for timed-out searches."""
    g = nx.DiGraph()
    members = set(comp)
    for v in comp:
        for w, m in edges.out(v):
            if w in members and m & allowed:
                g.add_edge(v, w)
    try:
        cyc = nx.find_cycle(g, source=comp[0])
    except nx.NetworkXNoCycle:
        return None
    return [a for a, _ in cyc]


def search_scc(edges: Edges, comp: list[int], classes: list[str], deadline: float,
               allowed: int, forbidden=None
               ) -> tuple[dict[str, tuple[list[int], list[int]]], list[str], bool]:
    """Search one SCC: ({class: (cycle, labels)}, classes completed, timed_out). A cycle
    whose class (most severe labels) the claim permits, but which is of a `forbidden`
    class under other labels its edges carry, is reported as that class when nothing
    forbidden was found otherwise (Elle reports such SCCs as `<model>-cycle-exists`)."""
    s = SCCSearch(edges, comp, deadline)
    found: dict[str, tuple[list[int], list[int]]] = {}
    skip: set[str] = set()
    completed: list[str] = []
    alt: list | None = [] if forbidden else None
    try:
        for cls in classes:
            if cls in skip or cls in found:
                continue
            for c, cyc, labels in s.search(cls, alt=alt):
                if c not in found:
                    found[c] = (cyc, labels)
                    skip |= implied_anomalies([c]) - {c}
            completed.append(cls)
        for c, cyc, labels in alt or ():
            if c in forbidden and c not in found and not forbidden.intersection(found):
                found[c] = (cyc, labels)
        return found, completed, False
    except Budget:
        completed.extend(c for c in classes if (c in skip or c in found) and c not in completed)
        cyc = fallback_cycle(edges, comp, allowed)
        if cyc is not None:
            labels = s.labels_of(cyc, allowed)
            c = classify(labels)
            if c is not None and c not in found:
                found[c] = (cyc, labels)
        return found, completed, True
