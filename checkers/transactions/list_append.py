"""list-append inference (transactions.md §2): version orders from the longest read,
ww/wr/rw edges, and the non-cycle anomalies (G1a, G1b, dirty-update, internal,
future-read, duplicate-elements, incompatible-order, lost-update, garbage-read).

Obligations: every anomaly returned holds in every interpretation of the history (Elle's
Theorem 1 for trace-recoverable observations); an element nobody appended is reported once
as garbage-read and then ignored (P-T4); info reads are ignored (D1); fail txns give no
edges; a duplicate append (two invocations appending one value to one key) makes the
inference refuse (`Precondition`), because writers would be ambiguous (P-T1).
"""

from __future__ import annotations

from splitbrain.checkers.result import Anomaly
from splitbrain.checkers.transactions.graph import RW, WR, WW, Edges
from splitbrain.checkers.transactions.txn import Precondition, Txns, fmt_list, fmt_mop

INIT = object()  # the state of a key before any append


class ListAppend:
    """Inference over `Txns` (ok + info txns are vertices, fail txns are not)."""

    def __init__(self, t: Txns):
        self.t = t
        self.anomalies: list[Anomaly] = []
        self.order: dict = {}  # key -> tuple: the longest read (the version order)
        self.off_order: dict = {}  # key -> elements read only in reads incompatible with it
        self.order_by: dict = {}  # key -> op index of the read defining the order
        self.pos: dict = {}  # key -> {element: position in order}
        self.writer: dict = {}  # key -> {element: vertex (>=0) or ~fail position (<0)}
        self.intermediate: dict = {}  # (key, element) -> its txn's final append to key
        self.edges = Edges(len(t.vertices))
        self.failed_keys: set = set()  # keys a fail txn appended to (G1a, dirty-update)

    # -- helpers -------------------------------------------------------------------
    def op_of(self, w: int):
        return self.t.vertices[w] if w >= 0 else self.t.fails[~w]

    def _add(self, typ: str, explanation: str, ops: list[int], key=None, **details) -> None:
        self.anomalies.append(Anomaly(type=typ, explanation=explanation, ops=ops, key=key,
                                      details=details))

    # -- inference ---------------------------------------------------------------
    def run(self, index_only: bool = False) -> "ListAppend":
        t = self.t
        writer = self.writer
        intermediate = self.intermediate
        # 1. writers of every element: ok + info vertices, then fail txns (one dict per
        #    key; a value appended twice to one key makes the writers ambiguous: P-T1)
        for v, op in enumerate(t.vertices):
            mops = op.value
            for f, k, x in mops:
                if f == "append":
                    ws = writer.get(k)
                    if ws is None:
                        ws = writer[k] = {}
                    if x in ws:
                        self._duplicate(k, x, ws[x], op)
                    ws[x] = v
            if len(mops) > 1:
                self._note_intermediates(mops)
        for j, op in enumerate(t.fails):
            for f, k, x in op.value:
                if f == "append":
                    self._index_writer(k, x, ~j, op)
                    self.failed_keys.add(k)
        # 2. reads (ok txns only): clean them, find the longest per key
        reads: list = []  # (vertex, key, list, external?)
        reads_append = reads.append
        order = self.order
        order_by = self.order_by
        ok = t.ok
        clean = self._clean_read
        empty: tuple = ()
        for v, op in enumerate(t.vertices):
            if not ok[v]:
                continue
            mops = op.value
            appended = None  # keys this txn appended to so far (reads after are internal)
            for f, k, x in mops:
                if f != "r":
                    if appended is None:
                        appended = {k}
                    else:
                        appended.add(k)
                    continue
                if x is None:
                    lst = empty
                elif type(x) is tuple and k in writer and len(x) == len(sx := set(x)) \
                        and writer[k].keys() >= sx:
                    lst = x  # the common case: no duplicates, no garbage (checked in C)
                else:
                    lst = clean(op, k, x)
                reads_append((v, k, lst, appended is None or k not in appended))
                cur = order.get(k)
                if cur is None or len(lst) > len(cur):
                    order[k] = lst
                    order_by[k] = op.index
        # single unread append and no non-empty read: order [v]
        for k, ws in writer.items():
            if not order.get(k):
                live = [x for x, w in ws.items() if w >= 0]
                if len(live) == 1:
                    order[k] = (live[0],)
                    order_by.pop(k, None)
        pos = self.pos
        for k, lst in order.items():
            pos[k] = dict(zip(lst, range(len(lst))))
        if index_only:  # what explain() needs (writers, orders, positions), no more
            return self
        # 3. incompatible orders, aborted and intermediate reads, readers per state
        readers: dict = {}  # (key, state) -> [vertices reading it externally]
        reported_incompat: set = set()
        failed_keys = self.failed_keys
        for v, k, lst, external in reads:
            if lst:
                full = order[k]
                n = len(lst)
                if n != len(full) and full[:n] != lst or n == len(full) and full != lst:
                    # elements this read saw that the chosen order lacks: an append of
                    # one was observed, so "never read, hence after the last element"
                    # must not be inferred for it (_edges)
                    kpos = pos[k]
                    self.off_order.setdefault(k, set()).update(
                        x for x in lst if x not in kpos)
                    if (k, lst) not in reported_incompat:
                        reported_incompat.add((k, lst))
                        self._incompatible(t.vertices[v], k, lst, full)
                if k in failed_keys:
                    self._aborted_read(t.vertices[v], k, lst)
                last = lst[-1]
                if intermediate and (k, last) in intermediate:
                    w = writer[k][last]
                    if w >= 0 and w != v:
                        op, wop = t.vertices[v], t.vertices[w]
                        self._add("G1b", f"op {op.index} read {k} = {fmt_list(lst)}, ending in "
                                  f"{last}, an intermediate append of op {wop.index} (its final "
                                  f"append to {k} is {intermediate[(k, last)]})",
                                  [op.index, wop.index], key=k, element=last)
                if external:
                    st = (k, last)
                    got = readers.get(st)
                    if got is None:
                        readers[st] = [v]
                    else:
                        got.append(v)
            elif external:
                st = (k, INIT)
                got = readers.get(st)
                if got is None:
                    readers[st] = [v]
                else:
                    got.append(v)
        self._dirty_updates()
        self._internal()
        self._lost_updates(readers)
        self._edges(readers, reads)
        return self

    def _note_intermediates(self, mops) -> None:
        """(key, element) -> the txn's final append to key, for its non-final appends."""
        last: dict = {}
        inter = []
        for f, k, x in mops:
            if f == "append":
                if k in last:
                    inter.append((k, last[k]))
                last[k] = x
        for k, x in inter:
            self.intermediate[(k, x)] = last[k]

    def _duplicate(self, k, x, prev: int, op) -> None:
        other = self.op_of(prev)
        raise Precondition(
            "duplicate-appends",
            f"ops {other.index} and {op.index} both append {x!r} to key {k!r}; appended "
            f"values must be unique per key", [other.index, op.index])

    def _incompatible(self, op, k, lst: tuple, full: tuple) -> None:
        n = next((j for j, (a, b) in enumerate(zip(lst, full)) if a != b),
                 min(len(lst), len(full)))
        ops = sorted({op.index, self.order_by.get(k, op.index)})
        self._add("incompatible-order",
                  f"op {op.index} read {k} = {fmt_list(lst)}, which is not a prefix of "
                  f"{fmt_list(full)} read by op {self.order_by.get(k)}: they differ at "
                  f"position {n}", ops, key=k, values=[list(lst), list(full)])

    def _index_writer(self, k, x, w: int, op) -> None:
        ws = self.writer.setdefault(k, {})
        prev = ws.get(x)
        if prev is not None:
            other = self.op_of(prev)
            raise Precondition(
                "duplicate-appends",
                f"ops {other.index} and {op.index} both append {x!r} to key {k!r}; appended "
                f"values must be unique per key", [other.index, op.index])
        ws[x] = w

    def _clean_read(self, op, k, x) -> tuple:
        """The read as a tuple, with duplicate and garbage elements reported and dropped."""
        lst = () if x is None else tuple(x)
        elems = set(lst)
        if len(elems) != len(lst):
            counts: dict = {}
            for e in lst:
                counts[e] = counts.get(e, 0) + 1
            dups = {e: c for e, c in counts.items() if c > 1}
            self._add("duplicate-elements",
                      f"op {op.index} read {k} = {fmt_list(lst)}, which holds "
                      + ", ".join(f"{e} {c} times" for e, c in dups.items()),
                      [op.index], key=k, duplicates={str(e): c for e, c in dups.items()})
            seen: set = set()
            lst = tuple(e for e in lst if not (e in seen or seen.add(e)))
        ws = self.writer.get(k, {})
        if elems <= ws.keys():  # the common case, checked in C
            return lst
        garbage = [e for e in lst if e not in ws]
        if garbage:
            self._add("garbage-read",
                      f"op {op.index} read {k} = {fmt_list(lst)}, but nobody appended "
                      f"{', '.join(map(str, garbage))} to {k}", [op.index], key=k,
                      elements=garbage)
            lst = tuple(e for e in lst if e in ws)
        return lst

    def _aborted_read(self, op, k, lst: tuple) -> None:
        if k not in self.failed_keys:
            return
        ws = self.writer[k]
        for e in lst:
            w = ws.get(e)
            if w is not None and w < 0:
                fop = self.t.fails[~w]
                self._add("G1a", f"op {op.index} read {k} = {fmt_list(lst)}, but {e} was "
                          f"appended by op {fop.index}, which failed",
                          [op.index, fop.index], key=k, element=e)

    def _external(self, op, i: int, k) -> bool:
        """True if mop i is the txn's read of k before any append of its own to k."""
        for f, kk, _ in op.value[:i]:
            if kk == k and f == "append":
                return False
        return True

    def _dirty_updates(self) -> None:
        t = self.t
        for k in self.failed_keys:
            lst = self.order.get(k, ())
            ws = self.writer.get(k, {})
            run: list = []
            failed = False
            for e in lst:
                w = ws.get(e)
                if w is None:
                    continue
                if w < 0:
                    failed = True
                    run.append(e)
                elif failed and not t.ok[w]:
                    run.append(e)
                elif failed:
                    run.append(e)
                    ops = [self.op_of(ws[x]).index for x in run]
                    self._add("dirty-update",
                              f"key {k}: {run[0]} was appended by op {ops[0]}, which failed, "
                              f"and op {ops[-1]} (ok) later appended {e} on top of it "
                              f"(read by op {self.order_by.get(k)})",
                              sorted(set(ops)), key=k, values=list(run))
                    break
                else:
                    run = []

    def _internal(self, candidates=None) -> None:
        """internal / future-read anomalies of ok txns (of `candidates` only, if given:
        vertex ids in increasing order, as the Rust core names them)."""
        t = self.t
        vs = range(len(t.vertices)) if candidates is None else candidates
        for v in vs:
            op = t.vertices[v]
            if not t.ok[v]:
                continue
            mops = op.value
            if len(mops) < 2 or len({m[1] for m in mops}) == len(mops):
                continue  # each key touched once: nothing internal to compare
            known: dict = {}  # key -> full known state (tuple), or None if unknown prior
            suffix: dict = {}  # key -> own appends since the state became unknown
            # key -> position of the txn's last append to it: a read at i can only hold
            # a future element of k if that is > i (the set is then built for that read)
            last_append: dict = {}
            for i, m in enumerate(mops):
                if m[0] == "append":
                    last_append[m[1]] = i
            for i, (f, k, x) in enumerate(mops):
                if f == "append":
                    if known.get(k) is not None:
                        known[k] = known[k] + (x,)
                    else:
                        known[k] = None
                        suffix[k] = suffix.get(k, ()) + (x,)
                    continue
                lst = () if x is None else tuple(x)
                later = []
                if last_append.get(k, -1) > i:
                    after = {m[2] for m in mops[i + 1:] if m[0] == "append" and m[1] == k}
                    later = [e for e in lst if e in after]
                if later:
                    self._add("future-read", f"op {op.index} read {k} = {fmt_list(lst)}, which "
                              f"holds {later[0]}, an element the same txn appends later",
                              [op.index], key=k, mop=list(fmt_mop(mops[i])), element=later[0])
                if k in known:
                    exp = known[k]
                    if exp is not None and lst != exp:
                        self._add("internal", f"op {op.index} read {k} = {fmt_list(lst)} after "
                                  f"its own earlier mops implied {fmt_list(exp)}", [op.index],
                                  key=k, mop=list(fmt_mop(mops[i])), expected=list(exp))
                    elif exp is None:
                        suf = suffix[k]
                        if lst[-len(suf):] != suf:
                            self._add("internal",
                                      f"op {op.index} read {k} = {fmt_list(lst)}, which does not "
                                      f"end with its own appends {fmt_list(suf)}", [op.index],
                                      key=k, mop=list(fmt_mop(mops[i])),
                                      expected=["..."] + list(suf))
                known[k] = lst
                suffix.pop(k, None)

    def _lost_updates(self, readers: dict) -> None:
        t = self.t
        for (k, state), vs in readers.items():
            if len(vs) < 2:
                continue
            appenders = set()
            for v in vs:  # plain loops: this runs for most read states of a big history
                for m in t.vertices[v].value:
                    if m[1] == k and m[0] == "append":
                        appenders.add(v)
                        break
            if len(appenders) >= 2:
                ops = sorted({t.vertices[v].index for v in appenders})
                st = "empty" if state is INIT else f"ending in {state}"
                self._add("lost-update", f"ops {', '.join(map(str, ops))} all read {k} in the "
                          f"same state ({st}) and all appended to {k}", ops, key=k,
                          state=None if state is INIT else state)

    def _edges(self, readers: dict, reads: list) -> None:
        t = self.t
        add = self.edges.adder()
        order, pos, writer, off_order = self.order, self.pos, self.writer, self.off_order
        for v, op in enumerate(t.vertices):
            for f, k, x in op.value:
                if f != "append":
                    continue
                o = order.get(k, ())
                p = pos.get(k, {}).get(x)
                if p is None:
                    if x in off_order.get(k, ()):
                        continue  # read, but only in a read incompatible with the order
                    prev = o[-1] if o else INIT
                else:
                    prev = o[p - 1] if p > 0 else INIT
                if prev is not INIT:
                    w = writer[k].get(prev)
                    if w is not None and w >= 0 and w != v:
                        add(w, v, WW)
                for r in readers.get((k, prev), ()):
                    if r != v:
                        add(r, v, RW)
        for v, k, lst, _ in reads:
            if lst:
                w = writer[k].get(lst[-1])
                if w is not None and w >= 0 and w != v:
                    add(w, v, WR)

    # -- explanations (one sentence per step, §6.1) ----------------------------------
    def explain(self, a: int, b: int, label: int) -> tuple[str, list[int], object]:
        """(sentence body, evidence op indexes, key) for the step a -label-> b."""
        t = self.t
        A, B = t.vertices[a], t.vertices[b]
        if label == WR:
            for f, k, x in B.value:
                if f == "r" and x:
                    w = self.writer.get(k, {}).get(tuple(x)[-1])
                    if w == a:
                        return (f"T{{b}} read {k} = {fmt_list(x)}, whose last element is "
                                f"T{{a}}'s append of {tuple(x)[-1]}", [], k)
        if label == WW:
            for f, k, x in B.value:
                if f != "append":
                    continue
                o = self.order.get(k, ())
                p = self.pos.get(k, {}).get(x)
                prev = (o[p - 1] if p else None) if p is not None else (o[-1] if o else None)
                if prev is not None and self.writer[k].get(prev) == a:
                    by = self.order_by.get(k)
                    if p is None:
                        return (f"T{{a}} appended {prev} to {k}, and T{{b}}'s append of {x} "
                                f"was never read, so it follows the last observed element, "
                                f"{prev}" + (f" [op {by} read {k} = {fmt_list(o)}]" if by is not None else ""),
                                [by] if by is not None else [], k)
                    return (f"T{{a}} appended {prev} to {k} and T{{b}} appended {x} right after "
                            f"it [op {by} read {k} = {fmt_list(o[:p + 1])}...]",
                            [by] if by is not None else [], k)
        if label == RW:
            for i, (f, k, x) in enumerate(A.value):
                if f != "r" or not self._external(A, i, k):
                    continue
                lst = () if x is None else tuple(x)
                state = lst[-1] if lst else None
                for ff, kk, y in B.value:
                    if ff != "append" or kk != k:
                        continue
                    o = self.order.get(k, ())
                    p = self.pos.get(k, {}).get(y)
                    prev = (o[p - 1] if p else None) if p is not None else (o[-1] if o else None)
                    if prev == state:
                        by = self.order_by.get(k)
                        if not lst:
                            return (f"T{{a}} read {k} empty, and T{{b}} appended {y} as the first "
                                    f"element of {k}", [by] if by is not None else [], k)
                        return (f"T{{a}} read {k} = {fmt_list(lst)} and missed T{{b}}'s append "
                                f"of {y}, which directly follows {state}"
                                + (f" [op {by} read {k} = {fmt_list(o)}]" if by is not None else ""),
                                [by] if by is not None else [], k)
        return (f"T{{a}} < T{{b}} ({'ww' if label == WW else 'wr' if label == WR else 'rw'})",
                [], None)
