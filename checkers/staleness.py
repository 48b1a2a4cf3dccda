"""Bounded staleness: how far behind acknowledged writes each read was (checker-spec §4).

For an ok read r of key k with version rank x (`VersionIndex.rank`, dense, ⊥ = 0):

* C(r) = ok writes of k that completed before r was invoked (`ret_index < inv_index`);
* K(r) = rank(w*) − x where w* is the highest-ranked write of C(r), or 0 if x ≥ rank(w*);
* T(r) = r.t_inv − t_ret(w_first), where w_first is the *earliest-completing* ok write
  ranked above x; 0 when no such write completed before r began. Write completion to
  read invocation (P13), so T is a lower bound on the true staleness and never an
  artifact of operation latency.

Obligations:

* staleness is a metric: the distribution (p50/p90/p99/max of T in ms, max/p99 of K,
  reads measured / skipped) is always reported; anomalies only when a bound
  (`staleness_bound_ns`, `staleness_bound_versions`) is given and exceeded;
* needs a total per-key version order (list-append, versioned registers). Without one it
  is "not measurable" — valid with that note when no bound was asked for, unknown with
  the reason when one was (§2.3-D orders are never assumed, P10);
* info writes never enter C(r) (their completion is +∞); their observed versions do
  count in the ranks. Fail writes and corrupt reads (garbage, aborted: P17) are skipped
  and counted, never measured.

Cost: O(n log n) per key: prefix max over writes by completion, suffix min over writes by
rank, two binary searches per read (§4(c)). The per-write *visibility lag* (the last read
invoked after the write completed that still returned an older version) is a Fenwick
sweep of the same order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import math

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN, nothing_checked_reason
from splitbrain.checkers.analysis import Analysis
from splitbrain.harness.history import History, Op

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis

NAME = "staleness"
_first, _second = itemgetter(0), itemgetter(1)
NOT_MEASURABLE = "not measurable: no total version order"


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    options = options or CheckOptions()
    t_bound, k_bound = options.staleness_bound_ns, options.staleness_bound_versions
    bounded = t_bound is not None or k_bound is not None
    analysis = Analysis.of(history, options, analysis)
    indexes = analysis.indexes
    totals = [ix for ix in indexes.values() if ix.total]
    if not totals:
        stats = {"measurable": NOT_MEASURABLE, "reads_measured": 0}
        if bounded:
            return {NAME: CheckResult(
                name=NAME, valid=UNKNOWN, stats=stats,
                reason=("a staleness bound was given but no key has a total version order "
                        "(needs list-append or version numbers on reads/writes); plain "
                        "registers and sets cannot be measured (checker-spec §4(b), P10)"))}
        return {NAME: CheckResult(
            name=NAME, valid=UNKNOWN, stats=stats, applicable=not indexes,
            reason=(f"{NOT_MEASURABLE}: staleness needs list-append or version numbers on "
                    f"reads and writes; plain registers and sets cannot be measured "
                    f"(checker-spec §4(b))" if indexes else
                    nothing_checked_reason(history, "reads")))}

    acc = _Accumulator()
    anomalies: list[Anomaly] = []
    for ix in totals:
        if ix.kind == "list" and ((not bounded and _native_key(ix, acc))
                                  or _measure_list_native(ix, acc, t_bound, k_bound)):
            continue
        _measure_key(ix, acc, anomalies, t_bound, k_bound)
    stats = acc.stats(t_bound, k_bound)
    stats["keys_measured"] = len(totals)
    stats["keys_not_measurable"] = len(indexes) - len(totals)
    anomalies.sort(key=lambda a: a.ops[0])
    res = CheckResult(name=NAME, valid=not anomalies, anomalies=anomalies, stats=stats,
                      assumptions=["unique-values"])
    n_txn = analysis.txn_count
    if not anomalies and n_txn:
        stats["transactions"] = n_txn
        res.valid, res.reason = UNKNOWN, (
            f"{n_txn} transaction(s) are not measured (staleness reads single-key ops)")
    elif not anomalies and not stats.get("reads_measured"):
        res.valid, res.reason = UNKNOWN, nothing_checked_reason(history, "reads with a version")
    return {NAME: res}


class _Accumulator:
    """Distributions over all keys. Fresh reads (K = T = 0) are only counted."""

    def __init__(self) -> None:
        self.fresh = 0
        self.T: list[int] = []  # stale reads only
        self.K: list[int] = []
        self.lags: list[float] = []  # writes with a positive lag only
        self.lag_zero = 0
        self.skipped = 0
        self.unverifiable_writes = 0

    def stats(self, t_bound: int | None, k_bound: int | None) -> dict[str, Any]:
        T, K, lags = sorted(self.T), sorted(self.K), sorted(self.lags)
        out: dict[str, Any] = {"reads_measured": self.fresh + len(T),
                               "reads_skipped": self.skipped}
        for q in (50, 90, 99):
            out[f"p{q}_ms"] = _ms(_pct_with_zeros(T, self.fresh, q))
        out["max_ms"] = _ms(T[-1] if T else 0)
        out["max_versions"] = K[-1] if K else 0
        out["p99_versions"] = _pct_with_zeros(K, self.fresh, 99)
        out["stale_reads"] = len(K)
        out["writes_unverifiable"] = self.unverifiable_writes
        out["writes_measured"] = self.lag_zero + len(lags)
        for q in (50, 90, 99):
            out[f"visibility_lag_p{q}_ms"] = _ms(_pct_with_zeros(lags, self.lag_zero, q))
        out["visibility_lag_max_ms"] = _ms(lags[-1] if lags else 0)
        if t_bound is not None:
            out["bound_ms"] = round(t_bound / 1e6, 3)
        if k_bound is not None:
            out["bound_versions"] = k_bound
        return out


def _pct_with_zeros(sorted_nonzero: list, zeros: int, q: float) -> float:
    """Nearest-rank percentile of `zeros` zeros followed by `sorted_nonzero`."""
    n = zeros + len(sorted_nonzero)
    if n == 0:
        return 0
    rank = max(1, math.ceil(q / 100.0 * n))
    return 0 if rank <= zeros else sorted_nonzero[min(rank, n) - zeros - 1]


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _measure_key(ix, acc: _Accumulator, anomalies: list[Anomaly],
                 t_bound: int | None, k_bound: int | None) -> None:
    if t_bound is None and k_bound is None and _native_key(ix, acc):
        return
    corrupt = ix.corrupt
    # ix.ver, inlined: writes (f != read) look up the created version, reads the observed
    wver_get = ix.write_versions.get
    rver_get = ix.read_versions.get
    # W: ok writes with a known rank, as (ret_index, rank, t_ret, op)
    W = []
    W_append = W.append
    unverifiable = 0
    for w in ix.writes:
        if w.type == "ok":
            rk = wver_get(w.index)
            if rk is None:
                unverifiable += 1
            else:
                W_append((w.ret_index, rk, w.t_ret, w))
    acc.unverifiable_writes += unverifiable
    R = []  # (inv_index, rank, t_inv, op)
    R_append = R.append
    skipped = 0
    for r in ix.reads:
        if r.f != "read":
            continue  # a cas observes too, but staleness is about reads
        i = r.index
        rk = None if i in corrupt else rver_get(i)
        if rk is None:
            skipped += 1
        else:
            R_append((r.inv_index, rk, r.t_inv, r))
    acc.skipped += skipped
    if not R:
        return
    if not W:
        acc.fresh += len(R)
        return
    # A: writes by completion, prefix max of rank (the op holding it)
    W.sort(key=_first)
    a_ret = list(map(_first, W))
    pm_rank, pm_op = [], []
    best_rank, best_op = -1, None
    for _, rk, _, w in W:
        if rk > best_rank:
            best_rank, best_op = rk, w
        pm_rank.append(best_rank)
        pm_op.append(best_op)
    # B: writes by rank, suffix min of completion index (the authority for "before")
    B = sorted(W, key=_second)
    b_rank = list(map(_second, B))
    sm: list[tuple] = [None] * len(B)  # type: ignore[list-item]
    cur = None
    for j in range(len(B) - 1, -1, -1):
        t = B[j]
        if cur is None or t[0] < cur[0]:
            cur = t
        sm[j] = cur
    T, K = acc.T, acc.K
    stale = []
    fresh = 0
    for rt in R:
        inv, x = rt[0], rt[1]
        i = bisect_left(a_ret, inv) - 1  # last write with ret_index < inv_index
        if i < 0 or pm_rank[i] <= x:
            fresh += 1
            continue
        stale.append(rt)
        t_inv, r = rt[2], rt[3]
        k = pm_rank[i] - x
        first = sm[bisect_right(b_rank, x)]
        t = t_inv - first[2]
        if t < 0:
            t = 0
        T.append(t)
        K.append(k)
        if (t_bound is not None and t > t_bound) or (k_bound is not None and k > k_bound):
            anomalies.append(_anomaly(ix, r, x, pm_op[i], pm_rank[i], first[3], k, t,
                                      t_bound, k_bound))
    acc.fresh += fresh
    # Only a stale read can delay a write's visibility: a read invoked after w completed
    # has w in C(r), so rank(r) < rank(w) means K(r) > 0.
    if stale:
        acc.lag_zero += _visibility_lags(W, stale, acc.lags)
    else:
        acc.lag_zero += len(W)


# False: every list key takes `_measure_key` (the differential tests flip it)
_LIST_FAST = True


def _measure_list_native(ix, acc: _Accumulator, t_bound: int | None,
                         k_bound: int | None) -> bool:
    """`_measure_key` of one list key by the Rust core (checkers/lists_native.py
    `STALENESS`): True with its figures added to `acc`, False (nothing added) when the
    core is missing or declines (odd field types, a read breaking a bound)."""
    from splitbrain.checkers import lists_native

    fn = lists_native.STALENESS
    if (fn is None or not _LIST_FAST or type(ix.writes) is not list
            or type(ix.reads) is not list or type(ix.corrupt) is not set):
        return False
    return _add_native(acc, fn(ix.writes, ix.reads, ix.write_versions, ix.read_versions,
                               ix.corrupt, t_bound, k_bound))


def _native_key(ix, acc: _Accumulator) -> bool:
    """`_measure_key` without bounds (so without anomalies) from what the Rust core
    computed while building the index (registers_native.Facts); False: not computed."""
    return _add_native(acc, ix.native.staleness if ix.native is not None else None)


def _add_native(acc: _Accumulator, got) -> bool:
    """A Rust core's figures for one key added to `acc`; False (nothing added) for None."""
    if got is None:
        return False
    unverifiable, skipped, fresh, T, K, lags, lag_zero = got
    acc.unverifiable_writes += unverifiable
    acc.skipped += skipped
    acc.fresh += fresh
    acc.T.extend(T)
    acc.K.extend(K)
    acc.lags.extend(lags)
    acc.lag_zero += lag_zero
    return True


def _anomaly(ix, r: Op, x: int, wstar: Op, star_rank: int, wfirst: Op, k: int, t: float,
             t_bound: int | None, k_bound: int | None) -> Anomaly:
    observed = ix.writer_at(x) if x > 0 else None
    if observed is None and x > 0:
        observed = ix.writer(r.value) if ix.kind != "list" else None
    seen = (f"returned {_val(r)} (version {x}"
            + (f", written by op {observed.index})" if observed is not None else ")")
            if x > 0 else f"returned the initial value {_val(r)} (version 0)")
    parts = []
    if t_bound is not None and t > t_bound:
        parts.append(f"{t / 1e9:.3f} s stale (bound {t_bound / 1e9:.3f} s)")
    elif t > 0:
        parts.append(f"{t / 1e9:.3f} s stale")
    if k_bound is not None and k > k_bound:
        parts.append(f"{k} version(s) behind (bound {k_bound})")
    else:
        parts.append(f"{k} version(s) behind")
    star = "" if wstar is wfirst else (
        f"; the newest write completed by then was op {wstar.index} (version {star_rank})")
    text = (f"Read op {r.index} (invoked t={r.t_inv / 1e9:.3f}) {seen}. Write op {wfirst.index} "
            f"(a newer version, {_val(wfirst)}) had completed at t={wfirst.t_ret / 1e9:.3f}"
            f"{star}, so the read was {' and '.join(parts)}.")
    ops = [r.index]
    for o in (observed, wfirst, wstar):
        if o is not None and o.index not in ops:
            ops.append(o.index)
    return Anomaly(type="stale-read", explanation=text, ops=ops, key=ix.key, process=r.process,
                   details={"roles": {"read": r.index,
                                      "observed_writer": observed.index if observed else None,
                                      "first_newer_write": wfirst.index,
                                      "newest_completed_write": wstar.index},
                            "versions_behind": k, "stale_ms": round(t / 1e6, 3),
                            "read_version": x, "newest_version": star_rank})


def _val(op: Op) -> str:
    v = op.value
    if op.f == "cas" and isinstance(v, (list, tuple)) and len(v) == 2:
        v = v[1]
    s = repr(v) if not isinstance(v, list) else "[" + ",".join(map(str, v)) + "]"
    return s if len(s) <= 40 else s[:39] + "…"


def _visibility_lags(W: list[tuple], R: list[tuple], out: list[float]) -> int:
    """Per ok write: t_inv of the last read invoked after it completed that returned an
    older version, minus the write's completion time (0 if none). §4(c), Fenwick sweep.
    Appends the positive lags to `out`; returns how many writes had none."""
    zeros = 0
    max_rank = max(max(t[1] for t in W), max(t[1] for t in R)) + 1
    tree = [-1.0] * (max_rank + 1)  # Fenwick over rank+1, prefix max of read t_inv
    reads = sorted(R, key=lambda t: t[0], reverse=True)  # by inv_index, newest first
    j = 0
    n = len(reads)
    for ret, rk, t_ret, _ in reversed(W):  # W is sorted by ret_index ascending
        while j < n and reads[j][0] > ret:
            i = reads[j][1] + 1
            tv = reads[j][2]
            while i <= max_rank:
                if tree[i] < tv:
                    tree[i] = tv
                i += i & -i
            j += 1
        best = -1.0
        i = rk  # ranks strictly below rk -> Fenwick positions 1..rk
        while i > 0:
            if tree[i] > best:
                best = tree[i]
            i -= i & -i
        lag = best - t_ret if best >= 0 else 0
        if lag > 0:
            out.append(lag)
        else:
            zeros += 1
    return zeros
