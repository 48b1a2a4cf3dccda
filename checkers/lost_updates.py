"""Lost updates: acknowledged effects missing from the final state (checker-spec §5).

Anomaly types (one checker, distinct types, §5):

* `lost` — an acknowledged add/append is in no node's final read (§5.1, §5.2 lists), or a
  versioned register's final value is older than an acknowledged write (§5.2);
* `unexpected` — a final read holds an element / value no invocation ever attempted;
* `aborted-present` — a final read holds an element / value written only by a `fail` op;
* `counter-bounds` — a counter read outside what the adds allow (§5.4): lost increments
  (value below the lower bound) or over-count (above the upper bound). Positive and
  negative deltas are tracked separately so negative deltas are sound;
* `rmw-collision` — two atomic read-modify-writes (ok `cas`, or an info `cas` whose new
  value was observed) that read the same value of a key and both wrote it (§5.3).

Obligations:

* only acknowledged (`ok`) effects can be lost; `info` effects that turn up are
  "recovered" (P2); a plain register's write that no read saw is never lost (P21) —
  loss against the final value of a plain register is the convergence checker's business
  (§6, it needs a real-time claim);
* the final state of a key on a node is its last ok `final` read (`checkers.final_state`,
  P15); an element counts as present if *any* node's final state holds it (a node that
  lacks it while another holds it has diverged: the convergence checker reports that);
* a key that needs a final read and has none is unjudgeable: counted in the stats; the
  verdict is unknown only when no key at all could be judged;
* keys whose written values are not unique (P1) are unjudgeable, never invalid;
* per-read counter bounds during the run use only what any replica could have applied
  (`Σ negatives possibly applied ≤ value ≤ Σ positives possibly applied`) unless the
  store claims real-time order (`realtime_claim`), which enables Jepsen's linearizable
  bounds. Final reads always get the eventual bounds `Σ ok ≤ final ≤ Σ (ok + info)`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import replace
from itertools import accumulate, compress, filterfalse, repeat
from operator import attrgetter, ge
from typing import TYPE_CHECKING, Any

from splitbrain.checkers.final_state import FinalReads
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN, nothing_checked_reason
from splitbrain.checkers import set_native
from splitbrain.checkers.analysis import Analysis
from splitbrain.harness.history import History, Op, freeze

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis

NAME = "lost-updates"
COUNTER_FS = ("add", "incr")
SUMMARY_LIMIT = 50  # element lists longer than this are summarised as intervals (§5.1(e))
TIMELINE_BUDGET = 5_000_000  # Σ|read| above which the set-full timeline stats are skipped


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    analysis = Analysis.of(history, options, analysis)
    workload = analysis.workload
    if workload is None:
        from splitbrain.checkers import infer_workload

        workload = infer_workload(history)
    if workload != analysis.workload:  # inferred here: index by the inferred shape
        analysis = Analysis(history, replace(analysis.options, workload=workload))
    job = _Job(history, options, analysis.final_reads, analysis)
    if workload == "counter":
        job.counters()
    elif workload == "set":
        job.sets()
    elif workload == "list-append":
        job.lists()
    else:
        job.registers()
    return {NAME: job.result()}


def _no_write_below_an_earlier_read(ix) -> bool:
    """True when no write of a versioned key is ranked below a read of it earlier in its
    op order, whatever the session, type or corruption: a session's floor in `_wfr_lost`
    only holds reads earlier in that order, so no write can fall below one. C-level,
    one touch of each op (the per-op loop reads five of its fields); computed by the
    Rust core while building the index when it built it (registers_native.Facts)."""
    if ix.native is not None:
        return ix.native.no_write_below
    idx = list(map(_INDEX, ix.ops))
    read_rank = map(ix.read_versions.get, idx, repeat(-1))
    # before[i]: the highest rank read by ops[:i] (-1: none); writes compare against it
    before = accumulate(read_rank, max, initial=-1)
    return all(map(ge, map(ix.write_versions.get, idx, repeat(_INF)), before))


_INDEX = attrgetter("index")
_INF = float("inf")


# False: every list key takes `_collection` (the differential tests compare the two)
_LIST_FAST = True
_VALUE, _TYPE, _F = attrgetter("value"), attrgetter("type"), attrgetter("f")


def _fz(v: Any) -> Any:
    return v if isinstance(v, (int, str, float, type(None))) else freeze(v)


_ATOMS = frozenset((int, str, float, bool, type(None)))  # _fz(x) is x for these types
_VALUE = attrgetter("value")
_INV = attrgetter("inv_index")
_F = attrgetter("f")


def _group(analysis: "Analysis") -> dict[Any, list[Op]]:
    """key -> its single-key ops (transactions' writes count, issue 10 item 4)."""
    return analysis.groups[0]


class _Job:
    def __init__(self, history: History, options: CheckOptions, fin: FinalReads,
                 analysis: "Analysis"):
        self.h = history
        self.a = analysis
        self.o = options
        self.fin = fin
        self.anomalies: list[Anomaly] = []
        self.stats: dict[str, Any] = {"keys": 0, "keys_judged": 0, "keys_without_final_read": 0,
                                      "keys_with_duplicate_values": 0, "acked": 0, "lost": 0,
                                      "recovered": 0, "unexpected": 0, "aborted_present": 0}
        self.assumptions: list[str] = ["unique-values"]
        if fin.assumption:
            self.assumptions.append(fin.assumption)
        self.unjudged_reasons: list[str] = []
        self.lost_elements: list = []
        self.stable_lat: list[float] = []
        self.lost_lat: list[float] = []
        self.never_read = 0
        self.timeline_done = False

    # -- verdict ---------------------------------------------------------------------

    def result(self) -> CheckResult:
        st = self.stats
        if self.lost_elements:
            st["lost_elements"] = _summarise(self.lost_elements)
        if self.timeline_done:
            from splitbrain.checkers.distribution import ms_summary

            st["set_full"] = {
                "stable": len(self.stable_lat), "lost_by_reads": len(self.lost_lat),
                "never_read": self.never_read,
                "stale": sum(1 for x in self.stable_lat if x > 0),
                **ms_summary(self.stable_lat, "stable_latency_"),
                **ms_summary(self.lost_lat, "lost_latency_")}
        anomalies = self.anomalies
        anomalies.sort(key=lambda a: (a.ops[0] if a.ops else -1))
        if anomalies:
            return CheckResult(NAME, False, anomalies, stats=st, assumptions=self.assumptions)
        if st["keys_judged"] == 0:
            why = "; ".join(dict.fromkeys(self.unjudged_reasons)) or nothing_checked_reason(
                self.h, "writes")
            return CheckResult(NAME, UNKNOWN, stats=st, reason=why, assumptions=self.assumptions)
        return CheckResult(NAME, True, stats=st, assumptions=self.assumptions)

    def _no_final(self, key: Any) -> None:
        self.stats["keys_without_final_read"] += 1
        self.unjudged_reasons.append(
            "no ok final read (final: true) of keys with acknowledged writes, so nothing can "
            "be said about what was lost (P15)")

    def _duplicates(self, key: Any, value: Any, ops: list[Op]) -> None:
        self.stats["keys_with_duplicate_values"] += 1
        self.unjudged_reasons.append(
            f"written values are not unique (e.g. {key!r}={value!r} by ops "
            f"{', '.join(str(o.index) for o in ops[:4])}), so observations cannot be mapped "
            f"to one write (P1)")

    def _final_union_is(self, key: Any, attempts: dict) -> bool:
        """True when the nodes' last final reads of key together hold exactly the
        attempted elements (`_final_union`'s keys, compared in C); False when there is no
        final read, the union differs, or an element is unhashable as it is."""
        last = self.fin.last_per_node(key)
        if not last:
            return False
        try:
            union = set().union(*[r.value if isinstance(r.value, (list, tuple)) else ()
                                  for r in last.values()])
        except TypeError:  # a list element: `_final_union` freezes it
            return False
        return union == attempts.keys()

    def _final_union(self, key: Any) -> tuple[dict[Any, Op], list[Op]] | None:
        """element -> one final read holding it; plus the last final read of every node."""
        last = self.fin.last_per_node(key)
        if not last:
            return None
        present: dict[Any, Op] = {}
        seen = present.__contains__
        for r in last.values():
            v = r.value if isinstance(r.value, (list, tuple)) else ()
            if not _ATOMS.issuperset(map(type, v)):
                v = map(_fz, v)
            # setdefault semantics (the first read holding e wins), the test done in C;
            # filterfalse is lazy, so an element repeated within v is caught too
            for e in filterfalse(seen, v):
                present[e] = r
        return present, sorted(last.values(), key=lambda o: o.index)

    # -- sets and lists (§5.1, §5.2) ---------------------------------------------------

    def sets(self) -> None:
        for key, ops in _group(self.a).items():
            self._collection(key, ops, "add", timeline=True)

    def lists(self) -> None:
        for key, ops in _group(self.a).items():
            if not (_LIST_FAST and self._clean_list(key, ops)):
                self._collection(key, ops, "append", timeline=False)

    def _index_writes(self, key: Any, ops: list[Op], f: str) -> list[Op] | None:
        """The key's `f` ops in order from its index's writes, when the analysis built
        it from these ops and every write it holds is an `f` (no pass over ops), else None.
        Read-only (the index's own list)."""
        ix = (self.a.built("indexes") or {}).get(key)
        if ix is not None and ix.ops is ops and set(map(_F, ix.writes)) == {f}:
            return ix.writes
        return None

    def _clean_list(self, key: Any, ops: list[Op]) -> bool:
        """`_collection` for the common list key, in C-level tests: every append ok, of
        its own atom, and the final reads' union exactly the appended elements (nothing
        lost, unexpected or aborted). False, having changed nothing, for any other key."""
        ix = (self.a.built("indexes") or {}).get(key)  # its writes: no pass over ops
        if (ix is not None and ix.ops is ops and ix.native is not None and ix.kind == "list"
                and ix.native.final_clean and self.fin.assumption is None
                and self.fin.reads.get(key)):
            # list_index proved it (lists_native.ListFacts): every append ok, of its own
            # int, and the nodes' last final reads together hold every one of them
            st = self.stats
            st["keys"] += 1
            st["acked"] += len(ix.writes)
            st["keys_judged"] += 1
            return True
        writes = self._index_writes(key, ops, "append")  # no pass over ops
        if writes is None:
            writes = [op for op in ops if op.f == "append"]
        vals = list(map(_VALUE, writes))
        if (not writes or not _ATOMS.issuperset(map(type, vals)) or len(set(vals)) != len(vals)
                or set(map(_TYPE, writes)) != {"ok"}):
            return False
        got = self._final_union(key)
        if got is None or len(got[0]) != len(vals) or not all(map(got[0].__contains__, vals)):
            return False
        st = self.stats
        st["keys"] += 1
        st["acked"] += len(writes)
        st["keys_judged"] += 1
        return True

    def _collection(self, key: Any, ops: list[Op], f: str, timeline: bool) -> None:
        ix = (self.a.built("indexes") or {}).get(key) if f == "add" else None
        facts = ix.set_facts if ix is not None and ix.ops is ops else None
        if facts is not None:
            # set_index built the key (set_native.SetFacts): its writes are its adds, each
            # of its own distinct int, so `_attempts` is its sole-writer table, in order
            writes = ix.writes
            if not writes:
                return
            self.stats["keys"] += 1
            attempts = ix._writer  # read-only here, as every index table
            n_acked, all_ok = facts.ok_writes, facts.ok_writes == len(writes)
        else:
            writes = self._index_writes(key, ops, f)
            if writes is None:
                writes = list(compress(ops, map(f.__eq__, map(_F, ops))))
            if not writes:
                return
            self.stats["keys"] += 1
            attempts, dup = _attempts(writes)
            if dup is not None:
                self._duplicates(key, *dup)
                return
            wtypes = list(map(_TYPE, attempts.values()))
            n_acked = sum(map("ok".__eq__, wtypes))
            all_ok = set(wtypes) == {"ok"}
        self.stats["acked"] += n_acked
        if timeline:
            self._set_timeline(key, ops, attempts, no_fail=facts is not None
                               and facts.nonfail_writes == len(writes))
        if facts is not None and all_ok and self._final_union_is(key, attempts):
            self.stats["keys_judged"] += 1
            return  # nothing lost, unexpected or aborted: what the loops below conclude
        got = self._final_union(key)
        if got is None:
            self._no_final(key)
            return
        present, finals = got
        self.stats["keys_judged"] += 1
        final_ids = [r.index for r in finals]
        covers = self.fin.covers
        # attempts[e] is a write of e, so the acked writes missing from present are the
        # ok attempts whose element is not there (none when present covers them all)
        lost = ([] if present.keys() >= attempts.keys() else
                [w for e, w in attempts.items()
                 if w.type == "ok" and e not in present and covers(key, w)])
        if lost:
            last_seen = _last_containing(ops, {_fz(w.value) for w in lost})
            for w in lost:
                e = _fz(w.value)
                seen = last_seen.get(e)
                ops_ = [w.index] + ([seen.index] if seen is not None else []) + final_ids
                what = "added" if f == "add" else "appended"
                self.anomalies.append(Anomaly(
                    "lost",
                    f"{w.describe()} {what} {e!r} to {key!r} and was acknowledged, but no "
                    f"node's final read contains it (final reads: ops "
                    f"{', '.join(map(str, final_ids))})"
                    + (f"; it was last seen by op {seen.index}" if seen is not None
                       else "; no read ever saw it"),
                    ops_, key, w.process,
                    {"roles": {"write": w.index, "last_present": seen.index if seen else None,
                               "final_reads": final_ids}, "element": e}))
            self.stats["lost"] += len(lost)
            self.lost_elements.extend(_fz(w.value) for w in lost)
        if present.keys() <= attempts.keys() and all_ok:
            return  # every present element an ok attempt: nothing unexpected, aborted or recovered
        for e, r in present.items():
            w = attempts.get(e)
            if w is None:
                self.stats["unexpected"] += 1
                self.anomalies.append(Anomaly(
                    "unexpected",
                    f"final read {r.describe()} of {key!r} contains {e!r}, which no "
                    f"operation ever tried to {f}", [r.index], key, r.process,
                    {"roles": {"final_read": r.index}, "element": e}))
            elif w.type == "fail":
                self.stats["aborted_present"] += 1
                self.anomalies.append(Anomaly(
                    "aborted-present",
                    f"final read {r.describe()} of {key!r} contains {e!r}, but its "
                    f"{f} ({w.describe()}) failed, i.e. definitely did not take effect",
                    [w.index, r.index], key, r.process,
                    {"roles": {"write": w.index, "final_read": r.index}, "element": e}))
            elif w.type == "info":
                self.stats["recovered"] += 1

    def _set_timeline(self, key: Any, ops: list[Op], attempts: dict[Any, Op],
                      no_fail: bool = False) -> None:
        """set-full's per-element stable/lost latencies, as stats (§5.1(a), O(Σ|read|)).
        no_fail: the caller knows no attempt failed."""
        if self._kept_timeline(key, ops, attempts, no_fail):
            return
        reads = self._collection_reads(key, ops)
        if sum(map(len, map(_VALUE, reads))) > TIMELINE_BUDGET:
            self.stats["set_full"] = "skipped: reads too large"
            return
        reads.sort(key=_INV)
        if set_native.TIMELINE is not None:
            got = set_native.TIMELINE(reads, *self._live(attempts))
            if got is not None:  # the loop below, in Rust (integer elements and times)
                stable_lat, lost_lat, never_read = got
                self.stable_lat.extend(stable_lat)
                self.lost_lat.extend(lost_lat)
                self.never_read += never_read
                self.timeline_done = True
                return
        live = [(e, w) for e, w in attempts.items() if w.type != "fail"]
        firsts, lasts, absents = (self._native_presence(reads, live)
                                  or self._python_presence(key, reads, live))
        stable_lat, lost_lat = [], []
        never_read = 0
        for (e, w), p0, last_p, j in zip(live, firsts, lasts, absents):
            known_t = w.t_ret if w.type == "ok" else float("inf")
            known_i = w.ret_index
            if p0 >= 0 and reads[p0].ret_index < known_i:
                known_t, known_i = reads[p0].t_ret, reads[p0].ret_index
            # j: the last read that does not contain e
            last_a = j if j >= 0 and reads[j].inv_index > w.inv_index else None
            if last_p >= 0 and (last_a is None or last_a < last_p):
                t_stable = reads[last_a].t_inv + 1 if last_a is not None else 0
                stable_lat.append(max(0, t_stable - known_t) if known_t != float("inf") else 0)
            elif (known_t != float("inf") and last_a is not None
                  and reads[last_a].inv_index > known_i):
                t_lost = reads[last_p].t_inv + 1 if last_p >= 0 else 0
                lost_lat.append(max(0, t_lost - known_t))
            else:
                never_read += 1
        self.stable_lat.extend(stable_lat)
        self.lost_lat.extend(lost_lat)
        self.never_read += never_read
        self.timeline_done = True

    @staticmethod
    def _live(attempts: dict[Any, Op], no_fail: bool = False) -> tuple[list, list]:
        """(elements, their strongest writes) of the attempts that did not fail
        (no_fail: the caller knows none did)."""
        elems, ws = list(attempts), list(attempts.values())
        if not no_fail and "fail" in set(map(_TYPE, ws)):
            live_ = [(e, w) for e, w in zip(elems, ws) if w.type != "fail"]
            elems, ws = [e for e, _ in live_], [w for _, w in live_]
        return elems, ws

    def _kept_timeline(self, key: Any, ops: list[Op], attempts: dict[Any, Op],
                       no_fail: bool = False) -> bool:
        """`_set_timeline` from what the index's Rust scan kept of the reads
        (set_native.TIMELINE_KEY), when it holds exactly the reads `_collection_reads`
        would select; False (nothing changed) when it cannot say."""
        if set_native.TIMELINE_KEY is None:
            return False
        ix = (self.a.built("indexes") or {}).get(key)
        if (ix is None or ix._set_reads is None or ix.ops is not ops or ix._obs
                or ix.kind != "set"):
            return False
        got = set_native.TIMELINE_KEY(ix._set_reads, *self._live(attempts, no_fail),
                                      TIMELINE_BUDGET)
        if got is None:
            return False
        skipped, stable_lat, lost_lat, never_read = got
        if skipped:
            self.stats["set_full"] = "skipped: reads too large"
            return True
        self.stable_lat.extend(stable_lat)
        self.lost_lat.extend(lost_lat)
        self.never_read += never_read
        self.timeline_done = True
        return True

    def _collection_reads(self, key: Any, ops: list[Op]) -> list[Op]:
        """The key's ok reads whose value is a list or tuple, in `ops` order: from the set
        index's reads when it was built and holds exactly the key's ok `read`s (no
        snapshot or cas observations), the selection then done in C."""
        ix = (self.a.built("indexes") or {}).get(key)
        if ix is not None and ix.ops is ops and not ix._obs and ix.kind == "set":
            reads = ix.reads
            if set(map(_F, reads)) <= {"read"}:
                return list(compress(reads, map(isinstance, map(_VALUE, reads),
                                                repeat((list, tuple)))))
        return [r for r in ops if r.f == "read" and r.type == "ok"
                and isinstance(r.value, (list, tuple))]

    @staticmethod
    def _native_presence(reads: list[Op], live: list[tuple[Any, Op]]) -> tuple | None:
        """`_python_presence` from the Rust core (integer elements only), else None."""
        if set_native.PRESENCE is None:
            return None
        return set_native.PRESENCE(list(map(_VALUE, reads)), [e for e, _ in live])

    def _python_presence(self, key: Any, reads: list[Op], live: list[tuple[Any, Op]]) -> tuple:
        """Per live attempt (element e): the first and last read position holding e and
        the last one not holding it (for e in the last read: the last earlier read
        without it; otherwise the last read), -1 for none."""
        atoms = _ATOMS
        # the set index's members of each read when the analysis built them (the same
        # frozensets, built once), else built here
        ix = (self.a.built("indexes") or {}).get(key)
        known = ix._members if ix is not None and ix._members is not None else {}
        members = [known.get(r.index) or (
                   frozenset(r.value) if atoms.issuperset(map(type, r.value))
                   else frozenset(_fz(e) for e in r.value)) for r in reads]
        first, last, last_absent = _presence(members)
        n = len(reads)
        tail = members[-1] if members else frozenset()
        elems = [e for e, _ in live]
        return ([first.get(e, -1) for e in elems], [last.get(e, -1) for e in elems],
                [last_absent.get(e, -1) if e in tail else n - 1 for e in elems])

    # -- registers (§5.2, §5.3) ------------------------------------------------------------

    def registers(self) -> None:
        a = self.a
        if a.workload != (self.o.workload or "register"):
            a = Analysis(self.h, replace(self.o, workload=self.o.workload or "register"))
        indexes = a.indexes
        for key, ix in indexes.items():
            if not ix.writes:
                continue
            self.stats["keys"] += 1
            self._rmw(key, ix)
            if ix.duplicates:
                v, ops = ix.duplicates[0]
                self._duplicates(key, v, ops)
                continue
            # a key the Rust core built counted its ok writes (registers_native.Facts);
            # _versioned_lost lists them only when one may be lost
            acked = None if ix.native is not None else [w for w in ix.writes if w.type == "ok"]
            self.stats["acked"] += len(acked) if acked is not None else ix.native.ok_writes
            tie_lost = self._tie_lost(key, ix, set()) if ix.kind == "versioned" else set()
            if tie_lost:
                self.stats["keys_judged"] += 1  # judged without a final read
            last = self.fin.last_per_node(key)
            if not last:
                if (ix.native.ok_writes if acked is None else acked) and not tie_lost:
                    self._no_final(key)
                continue
            if not tie_lost:
                self.stats["keys_judged"] += 1
            finals = sorted(last.values(), key=lambda o: o.index)
            self._final_register_values(key, ix, finals)
            if ix.kind == "versioned":
                judged = [w for w in (acked if acked is not None else ix.writes)
                          if w.type == "ok" and w.index not in tie_lost] if tie_lost else acked
                reported = self._versioned_lost(key, ix, judged, finals)
                reported |= tie_lost
                self._wfr_lost(key, ix, finals, reported)

    def _final_register_values(self, key: Any, ix, finals: list[Op]) -> None:
        for r in finals:
            if r.value is None:
                continue
            w = ix.writer(r.value)
            if w is None:
                self.stats["unexpected"] += 1
                self.anomalies.append(Anomaly(
                    "unexpected",
                    f"final read {r.describe()} returned {r.value!r}, a value no operation "
                    f"ever wrote to {key!r}", [r.index], key, r.process,
                    {"roles": {"final_read": r.index}}))
            elif w.type == "fail":
                self.stats["aborted_present"] += 1
                self.anomalies.append(Anomaly(
                    "aborted-present",
                    f"final read {r.describe()} returned {r.value!r}, written only by "
                    f"{w.describe()}, which failed", [w.index, r.index], key, r.process,
                    {"roles": {"write": w.index, "final_read": r.index}}))
            elif w.type == "info":
                self.stats["recovered"] += 1

    def _versioned_lost(self, key: Any, ix, acked: list[Op] | None, finals: list[Op]) -> set[int]:
        """§5.2: the converged final version must be ≥ every acknowledged write's.
        acked None: the key's ok writes, listed here only if one may be lost."""
        best, best_r = None, None
        for r in finals:
            if r.index in ix.corrupt:
                continue
            v = ix.ver(r)
            if v is not None and (best is None or v > best):
                best, best_r = v, r
        if best is None:
            return set()
        if acked is None:
            if ix.native.max_ok_rank <= best:
                return set()
            acked = [w for w in ix.writes if w.type == "ok"]
        final_ids = [r.index for r in finals]
        wver = ix.write_versions.get  # == ix.ver(w): acked holds write-like ops only
        lost = [(v, w) for w in acked if (v := wver(w.index)) is not None and v > best
                and self.fin.covers(key, w)]
        lost.sort(key=lambda t: t[0])
        for v, w in lost:
            self.anomalies.append(Anomaly(
                "lost",
                f"{w.describe()} was acknowledged with version {v} of {key!r}, but the newest "
                f"final read ({best_r.describe()}) has version {best}: the write is gone",
                [w.index] + final_ids, key, w.process,
                {"roles": {"write": w.index, "final_reads": final_ids},
                 "write_version": v, "final_version": best}))
        self.stats["lost"] += len(lost)
        return {w.index for _, w in lost}

    def _tie_lost(self, key: Any, ix, reported: set[int]) -> set[int]:
        """Issue 10 item 1: two acknowledged writes stamped with one version, the store's
        tie-break ordering the real-time *later* one first. After the earlier write was
        acknowledged the later one was acknowledged too, yet it can never be read: it
        lost to a write that finished before it began. Both writes are the witness."""
        if not ix.ties:
            return set()
        tied = {ver for ver, _ in ix.ties}
        by_ver: dict[Any, list[Op]] = {}
        for w in ix.writes:
            v = w.version
            if w.type == "ok" and type(v) is tuple and v[0] in tied:
                by_ver.setdefault(v[0], []).append(w)
        out: set[int] = set()
        for ver, ws in by_ver.items():
            for a in ws:
                for b in ws:
                    if (a is b or not a.ret_index < b.inv_index or not b.version < a.version
                            or b.index in reported or b.index in out):
                        continue
                    out.add(b.index)
                    self.stats["lost"] += 1
                    self.stats["tie_lost"] = self.stats.get("tie_lost", 0) + 1
                    self.anomalies.append(Anomaly(
                        "lost",
                        f"{b.describe()} was acknowledged, but it carries the same version "
                        f"({ver}) as {a.describe()}, which completed before it was invoked, "
                        f"and the store's tie-break ({ix.tiebreak}: the greater serialised "
                        f"value wins) orders {a.value!r} after {b.value!r}: the later write "
                        f"can never be read",
                        [a.index, b.index], key, b.process,
                        {"roles": {"earlier_write": a.index, "lost_write": b.index},
                         "version": ver, "cause": "version-tie"}))
        return out

    def _wfr_lost(self, key: Any, ix, finals: list[Op], reported: set[int]) -> None:
        """§5.2 "WFR-lost": an acknowledged write ordered (by the store's own version) below
        a version its session had already read can never win under last-write-wins, so it
        is lost even when the final version is the highest one (Jepsen's 2013 Cassandra
        finding: a skewed clock stamps later writes with older timestamps)."""
        if _no_write_below_an_earlier_read(ix):
            return
        final_vals = {freeze(r.value) for r in finals if r.type == "ok"}
        floor: dict[Any, tuple[int, Op]] = {}  # session -> (highest version read, its read)
        pending: dict[Any, list[Op]] = {}      # reads not yet known to precede later ops
        rver = ix.read_versions.get
        wver = ix.write_versions.get
        corrupt = ix.corrupt
        for op in ix.ops:
            if op.type != "ok" or op.index in corrupt:
                continue
            s = op.session
            waiting = pending.get(s)
            if waiting:
                # session order is completion-before-invocation (§1.3, P7)
                keep = []
                for r in waiting:
                    if r.ret_index < op.inv_index:
                        v = rver(r.index)  # == ix.ver(r): r is a read
                        if v is not None and (s not in floor or v > floor[s][0]):
                            floor[s] = (v, r)
                    else:
                        keep.append(r)
                pending[s] = keep
            if op.f == "read":
                pending.setdefault(s, []).append(op)
                continue
            if op.f not in ("write", "cas") or op.index in reported or s not in floor:
                continue
            v = wver(op.index)  # == ix.ver(op): op is a write or cas
            top, r1 = floor[s]
            if v is None or v >= top or freeze(op.value) in final_vals:
                continue
            w1 = ix.writer(r1.value)
            self.stats["lost"] += 1
            self.stats["wfr_lost"] = self.stats.get("wfr_lost", 0) + 1
            witness = [r1.index, op.index] + ([w1.index] if w1 is not None else [])
            self.anomalies.append(Anomaly(
                "lost",
                f"{op.describe()} was acknowledged, but the store ordered it (version rank "
                f"{v}) before {r1.value!r} (version rank {top}), which process {op.process} "
                f"had already read in {r1.describe()}: under last-write-wins it can never "
                f"become visible",
                witness, key, op.process,
                {"roles": {"read": r1.index, "write": op.index,
                           **({"observed_writer": w1.index} if w1 is not None else {})},
                 "write_version": v, "read_version": top, "cause": "writes-follow-reads"}))

    def _rmw(self, key: Any, ix) -> None:
        """§5.3: ok cas ops (and observed info ones) that read the same value."""
        if not ix.has_cas:
            return  # no cas on this key (known from building its index)
        cas = [w for w in ix.writes if w.f == "cas" and w.type in ("ok", "info")
               and isinstance(w.value, (list, tuple)) and len(w.value) == 2]
        if len(cas) < 2:
            return
        dups = {v for v, _ in ix.duplicates}
        observed = None
        groups: dict[Any, list[Op]] = {}
        for w in cas:
            if w.type == "info":
                if observed is None:
                    observed = {_fz(r.value) for r in ix.reads if r.f == "read"}
                    observed |= {_fz(r.value[0]) for r in ix.reads if r.f == "cas"}
                if _fz(w.value[1]) not in observed:
                    continue
            x0 = _fz(w.value[0])
            if x0 in dups or _fz(w.value[1]) in dups:
                continue
            groups.setdefault(x0, []).append(w)
        for x0, ops in groups.items():
            if len(ops) < 2:
                continue
            wr = ix.writer(x0) if x0 is not None else None
            new = ", ".join(repr(o.value[1]) for o in ops)
            self.anomalies.append(Anomaly(
                "rmw-collision",
                f"ops {' and '.join(str(o.index) for o in ops)} all read {key!r}={x0!r} "
                + (f"(written by op {wr.index}) " if wr is not None else "")
                + f"and each wrote {key!r} ({new}); all but one update was lost",
                sorted(o.index for o in ops) + ([wr.index] if wr is not None else []), key,
                None, {"roles": {"read_value_writer": wr.index if wr else None,
                                 "ops": [o.index for o in ops]}, "read_value": x0,
                       "confidence": "definite" if all(o.type == "ok" for o in ops)
                       else "observed-info"}))

    # -- counters (§5.4) -----------------------------------------------------------------------

    def counters(self) -> None:
        for key, ops in _group(self.a).items():
            if any(op.f in COUNTER_FS for op in ops):
                self.stats["keys"] += 1
                self._counter(key, ops)

    def _counter(self, key: Any, ops: list[Op]) -> None:
        events: list[tuple] = []
        reads: list[Op] = []
        n_ok = 0
        for op in ops:
            if op.f in COUNTER_FS:
                if op.type == "fail":
                    continue
                d = op.value if op.value is not None else 1
                if not isinstance(d, (int, float)) or isinstance(d, bool):
                    continue
                events.append((op.inv_index, 1, d))  # possibly applied from its invocation
                if op.type == "ok":
                    n_ok += 1
                    events.append((op.ret_index, 2, d))  # surely applied from its ack
            elif op.f == "read" and op.type == "ok":
                v = op.value
                if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                    continue
                reads.append(op)
                events.append((op.inv_index, 0, len(reads) - 1))
                events.append((op.ret_index, 3, len(reads) - 1))
        self.stats["acked"] += n_ok
        events.sort(key=lambda e: e[0])
        # sums: possible positives/negatives, acked positives/negatives
        pp = pn = ap = an = 0
        at_inv: list[tuple] = [None] * len(reads)  # type: ignore[list-item]
        at_ret: list[tuple] = [None] * len(reads)  # type: ignore[list-item]
        for _, kind, x in events:
            if kind == 1:
                if x >= 0:
                    pp += x
                else:
                    pn += x
            elif kind == 2:
                if x >= 0:
                    ap += x
                else:
                    an += x
            elif kind == 0:
                at_inv[x] = (ap, an)
            else:
                at_ret[x] = (pp, pn)
        last = {r.index for r in self.fin.last_per_node(key).values()}
        if last:
            self.stats["keys_judged"] += 1
        elif n_ok:
            self._no_final(key)
        linear = self.o.realtime_claim
        # deltas of ±1 reach every sum between the bounds; others leave gaps (Maelstrom's
        # pn-counter: 10 acked, +5 -1 -1 indeterminate, a final read of 11 is no subset)
        subsets = _SubsetSums.needed(ops, self.stats)
        for i, r in enumerate(reads):
            value = r.value or 0
            (ap_i, an_i), (pp_r, pn_r) = at_inv[i], at_ret[i]
            if r.index in last or linear:
                lower, upper, mode = ap_i + pn_r, pp_r + an_i, (
                    "final" if r.index in last else "linearizable")
            else:  # an earlier final read may predate convergence (P15): no final bounds
                lower, upper, mode = pn_r, pp_r, "any-subset"
            if lower <= value <= upper:
                if subsets is None or (mode == "any-subset" and r.ret_index >= subsets.any_from
                                       ) or subsets.reachable(r, value, definite=mode != "any-subset"):
                    continue
                self._counter_anomaly(key, r, value, lower, upper, mode, ops, subset=True)
                continue
            self._counter_anomaly(key, r, value, lower, upper, mode, ops)

    def _counter_anomaly(self, key, r: Op, value, lower, upper, mode: str, ops: list[Op],
                         subset: bool = False) -> None:
        """subset: the value is within the bounds but no subset of the adds reaches it."""
        acked = [o for o in ops if o.f in COUNTER_FS and o.type == "ok"
                 and o.ret_index < r.inv_index]
        if subset:
            what = "no subset of the possible adds sums to it"
        elif value < lower:
            what = f"at least {lower - value} increment(s) lost"
            self.stats["lost"] += 1
        else:
            what = f"over-counted by at least {value - upper}"
        basis = {"final": "after quiescence every acknowledged add must be visible",
                 "linearizable": "the store claims real-time order",
                 "any-subset": "even a replica that saw any subset of the adds"}[mode]
        if subset:
            basis += ("; the value is within the bounds but no set of the adds that may "
                      "have been applied, each applied at most once, sums to it")
        self.anomalies.append(Anomaly(
            "counter-bounds",
            f"read {r.describe()} returned {value}, {'within' if subset else 'outside'} "
            f"[{lower}, {upper}] ({basis}): "
            f"{what}; {len(acked)} add(s) were acknowledged before it, summing to "
            f"{sum(o.value if o.value is not None else 1 for o in acked)}",
            [r.index] + [o.index for o in acked[:10]], key, r.process,
            {"lower": lower, "upper": upper, "value": value, "bounds": mode,
             "acked_before": len(acked), **({"subset_sums": True} if subset else {})}))


class _SubsetSums:
    """Which values a counter read can return when each add is applied at most once and
    whole: the sum of the adds that must be visible plus the sum of some subset of those
    that may be (checker-spec §5.4). The bounds alone are exact when the possible deltas
    of each sign, taken smallest first, never jump past the sum so far plus one (any
    number of ±1s, say); otherwise the sums are a bitset (bit i: sum `low + i`), each
    distinct delta folded in by binary splitting of its count. Past SUBSET_BUDGET bits of
    work a read keeps the bounds alone (stats `counter_reads_bounds_only`)."""

    SUBSET_BUDGET = 50_000_000

    def __init__(self, ops: list[Op], stats: dict) -> None:
        invs: dict[int, list[int]] = {}  # delta -> sorted invocation indices
        acks: dict[int, list[int]] = {}  # delta -> sorted ok return indices
        self.exact = True  # a float (or other) delta: the bounds alone
        self.gaps = False  # an int delta other than ±1: the bounds may leave gaps
        for o in ops:
            if o.f not in COUNTER_FS or o.type == "fail":
                continue
            d = o.value
            if d is None:
                d = 1
            elif type(d) is not int:
                self.exact = False
                continue
            elif d != 1 and d != -1:
                self.gaps = True
            invs.setdefault(d, []).append(o.inv_index)
            if o.type == "ok":
                acks.setdefault(d, []).append(o.ret_index)
        self.invs = {d: sorted(v) for d, v in invs.items() if d}
        self.acks = {d: sorted(v) for d, v in acks.items() if d}
        self.stats = stats
        self.work = 0
        # From this return index on, an any-subset read (must = 0, maybe = every add invoked
        # so far) reaches every sum between its bounds, which the caller has checked: enough
        # ±1s are invoked (at least the largest delta of each sign minus one) that, taken
        # smallest first, no delta jumps past the sum so far plus one.
        self.any_from = max(self._ones_from(1), self._ones_from(-1)) if self.exact else -1

    @classmethod
    def needed(cls, ops: list[Op], stats: dict) -> "_SubsetSums | None":
        """The sums of a key's adds, or None when its deltas are all ±1 (which reach every
        sum between the bounds) or none of them is an integer."""
        sums = cls(ops, stats)
        return sums if sums.gaps else None

    def _ones_from(self, sign: int) -> float:
        big = max((d * sign for d in self.invs if d * sign > 0), default=0)
        if big <= 1:
            return -1
        ones = self.invs.get(sign, ())
        return ones[big - 2] if len(ones) >= big - 1 else float("inf")

    def reachable(self, r: Op, value: Any, *, definite: bool) -> bool:
        """False only when no subset reaches `value` (never on a guess: non-integer
        deltas or values, or a spent budget, answer True)."""
        if not self.exact or not isinstance(value, int) or isinstance(value, bool):
            return True
        must = 0
        maybe: dict[int, int] = {}
        for d, inv in self.invs.items():
            n = bisect_right(inv, r.ret_index)  # invoked before the read returned
            k = bisect_left(self.acks.get(d, ()), r.inv_index) if definite else 0
            must += d * k  # acknowledged before the read began
            if n > k:
                maybe[d] = n - k
        low = sum(d * c for d, c in maybe.items() if d < 0)
        high = sum(d * c for d, c in maybe.items() if d > 0)
        target = value - must
        if not low <= target <= high:
            return False
        if _contiguous(maybe, 1) and _contiguous(maybe, -1):
            return True
        parts = [d * k for d, c in maybe.items() for k in _binary_parts(c)]
        self.work += len(parts) * (high - low + 1)
        if self.work > self.SUBSET_BUDGET:
            self.stats["counter_reads_bounds_only"] = (
                self.stats.get("counter_reads_bounds_only", 0) + 1)
            return True
        bits = 1 << -low  # the empty subset: sum 0
        for s in parts:
            bits |= bits << s if s > 0 else bits >> -s
        return bool(bits >> (target - low) & 1)


def _contiguous(counts: dict[int, int], sign: int) -> bool:
    """Whether the subset sums of the deltas of `sign` are every integer from 0 to their
    total: taken by size, each is at most the total so far plus one."""
    total = 0
    for d in sorted(x * sign for x in counts if x * sign > 0):
        if d > total + 1:
            return False
        total += d * counts[d * sign]
    return True


def _binary_parts(c: int) -> list[int]:
    """1, 2, 4, ..., rest: their subset sums are exactly 0..c."""
    out, k = [], 1
    while c > 0:
        out.append(min(k, c))
        c -= k
        k *= 2
    return out


def _attempts(writes: list[Op]) -> tuple[dict[Any, Op], tuple | None]:
    """(frozen element -> its strongest write, retries folded; the first duplicate as
    (element, [earlier write, write]) or None)."""
    vals = list(map(_VALUE, writes))
    if _ATOMS.issuperset(map(type, vals)):
        attempts = dict(zip(vals, writes))  # distinct atoms, the common key: built in C
        if len(attempts) == len(writes):
            return attempts, None
    attempts = {}
    for w in writes:
        e = _fz(w.value)
        prev = attempts.get(e)
        if prev is not None and not _retry(prev, w):
            return attempts, (e, [prev, w])
        if prev is None or _strength(w) > _strength(prev):
            attempts[e] = w
    return attempts, None


def _retry(a: Op, b: Op) -> bool:
    return "retry_of" in (a.extra or {}) or "retry_of" in (b.extra or {})


def _strength(op: Op) -> int:
    return {"ok": 2, "info": 1}.get(op.type, 0)


def _last_containing(ops: list[Op], elements: set) -> dict[Any, Op]:
    out: dict[Any, Op] = {}
    for r in ops:
        if r.f == "read" and r.type == "ok" and isinstance(r.value, (list, tuple)):
            for e in r.value:
                fe = _fz(e)
                if fe in elements:
                    out[fe] = r  # ops are in invocation order: the last one wins
    return out


def _summarise(elements: list) -> Any:
    """Up to SUMMARY_LIMIT elements as a list; beyond, integer runs as "a..b" intervals."""
    if len(elements) <= SUMMARY_LIMIT:
        return elements
    if all(isinstance(e, int) for e in elements):
        s = sorted(set(elements))
        out, start, prev = [], s[0], s[0]
        for e in s[1:]:
            if e != prev + 1:
                out.append(f"{start}..{prev}" if start != prev else str(start))
                start = e
            prev = e
        out.append(f"{start}..{prev}" if start != prev else str(start))
        return out[:SUMMARY_LIMIT] + (["…"] if len(out) > SUMMARY_LIMIT else [])
    return elements[:SUMMARY_LIMIT] + ["…"]


def _presence(members: list[frozenset]) -> tuple[dict, dict, dict]:
    """Per element: the first and the last read (position in `members`) containing it, and,
    for elements of the last read, the last read *not* containing it (absent: -1 when every
    read from its first on does).

    One C-level set difference per read: consecutive reads of a key differ by a few
    elements, so the elements each read adds or drops say everything (an element's first
    read is its first addition, its last read the one before its last drop, its last
    absence the read before its last addition); what a read drops is computed only when
    the sizes show it dropped something."""
    first: dict = {}
    last: dict = {}
    added_after: dict = {}  # element -> the read before its last addition
    if not members:
        return first, last, {}
    prev = members[0]
    first.update(dict.fromkeys(prev, 0))
    for i in range(1, len(members)):
        m = members[i]
        new = m.difference(prev)
        if len(m) - len(new) != len(prev):  # prev holds elements m lacks
            last.update(dict.fromkeys(prev.difference(m), i - 1))
        if new:
            fresh = new.difference(first)
            if fresh:
                first.update(dict.fromkeys(fresh, i))
            added_after.update(dict.fromkeys(new, i - 1))
        prev = m
    last.update(dict.fromkeys(prev, len(members) - 1))
    get = added_after.get
    last_absent = {e: j for e in prev if (j := get(e)) is not None}
    return first, last, last_absent
