"""Per-poll real-time lag (Jepsen's `realtime-lag`), with an optional `--max-lag` gate.

For each ok poll by process p and each key k assigned to p (its last `assign`, plus the
keys the poll returned): lag = the poll's invocation time − the earliest time at which
the index after the last one p has read of k was known to exist (some op completed
sending or reading at that index or later); 0 when no such index was known before the
poll began. It is a lower bound (conservative). Final polls (`final`, the drain that
re-reads the log from the beginning) are not measured. Reading happens first: the poll's own
messages move p's position before its lag is taken. An assign that drops k, a subscribe
or a crash resets p's position on k to "nothing read".

Obligations: a metric (p50/p95/p99/max in ms, the worst poll) always reported; anomalies
only when `max_lag_ns` is given and exceeded; unknown when there is nothing to measure.
"""

from __future__ import annotations

import bisect
import math

from splitbrain.checkers.queue import native
from splitbrain.checkers.queue.log import KeyLog
from splitbrain.checkers.queue.model import QueueHistory
from splitbrain.checkers.result import Anomaly, CheckResult, UNKNOWN

NAME = "queue-lag"


def known_times(qh: QueueHistory, logs: dict[str, KeyLog],
                dense) -> dict[str, list[float]]:
    """key -> suffix-min over dense indices of the earliest completion touching >= i."""
    at: dict[str, list[float]] = {k: [math.inf] * len(lg.offsets) for k, lg in logs.items()}
    for op, k, v, off in qh.sends:
        t = op.t_ret_seen
        if op.type != "fail" and t is not None:
            lg = logs.get(k)
            if lg is None:
                continue
            i = lg.index_of.get(off) if off is not None else None
            if i is None:
                i = lg.first.get(v)
            if i is not None and t < at[k][i]:
                at[k][i] = t
    for op, _ in qh.reads:
        t = op.t_ret_seen
        if t is None:
            continue
        # per key only the highest index read matters (suffix min)
        for k, s in dense.per_op.get(op.index, {}).items():
            i = s[4]
            if t < at[k][i]:
                at[k][i] = t
    for arr in at.values():
        for i in range(len(arr) - 2, -1, -1):
            if arr[i + 1] < arr[i]:
                arr[i] = arr[i + 1]
    return at


def realtime_lags(qh: QueueHistory, logs: dict[str, KeyLog],
                  dense=None) -> list[tuple]:
    """[(time, process, canonical key, lag_ns, op_index)] in per-process op order."""
    out: list[tuple] = []
    _walk(qh, logs, dense, out.append)
    return out


def _walk(qh: QueueHistory, logs: dict[str, KeyLog], dense, emit=None):
    """Calls emit((time, process, key, lag_ns, op index)) for every measured poll and key;
    without `emit`, returns (lags in ns, the worst such tuple, polls measured) instead —
    the hot loop of this checker: one visit per poll and key, nothing else."""
    if dense is None:
        from splitbrain.checkers.queue.log import dense_reads
        dense = dense_reads(qh, logs)
    known = known_times(qh, logs, dense)
    per_op = dense.per_op
    empty: dict = {}
    lags: list = []
    add = lags.append
    worst, worst_lag, polls = None, -1, 0
    for proc, ops in qh.by_process.items():
        pos: dict[str, int] = {}
        assigned: list[str] = []
        for op in ops:
            f = op.f
            if f == "poll":
                if op.type != "ok" or op.final:
                    continue  # final polls re-read from the beginning by design: no lag
            elif f == "assign":
                keys = qh.assigned_keys(op)
                for k in [k for k in pos if k not in keys]:
                    del pos[k]
                assigned = keys
                continue
            elif f in ("subscribe", "crash"):
                pos.clear()
                assigned = []
                continue
            else:
                continue
            polled = per_op.get(op.index, empty)
            for k, s in polled.items():
                pos[k] = s[2]
            t = op.t_inv
            keys = assigned + [k for k in polled if k not in assigned] if assigned else polled
            if emit is not None:
                for k in keys:
                    arr = known.get(k)
                    nxt = pos.get(k, -1) + 1
                    if arr is not None and nxt < len(arr) and arr[nxt] < t:
                        emit((t, proc, k, t - arr[nxt], op.index))
                    else:
                        emit((t, proc, k, 0, op.index))
                continue
            if keys:
                polls += 1
            for k in keys:
                arr = known.get(k)
                nxt = pos.get(k, -1) + 1
                if arr is not None and nxt < len(arr) and arr[nxt] < t:
                    lag = t - arr[nxt]
                    add(lag)
                    if lag > worst_lag:
                        worst_lag, worst = lag, (t, proc, k, lag, op.index)
                else:
                    add(0)
                    if worst is None:
                        worst_lag, worst = 0, (t, proc, k, 0, op.index)
    return lags, worst, polls


def _summarise(vals: list, worst, polls: int, max_lag_ns) -> tuple:
    """(count, p50, p95, p99, max, count over max_lag_ns | None, worst, polls): what
    check_lag reports of the lags (native/src/queue.rs `queue_lag` returns the same)."""
    if not vals:
        return 0, None, None, None, None, None, worst, polls
    vals.sort()
    over = None if max_lag_ns is None else len(vals) - bisect.bisect_right(vals, max_lag_ns)
    return (len(vals), _pct(vals, .5), _pct(vals, .95), _pct(vals, .99), vals[-1], over,
            worst, polls)


def _pct(sorted_vals: list, p: float) -> float:
    i = min(len(sorted_vals) - 1, max(0, math.ceil(p * len(sorted_vals)) - 1))
    return sorted_vals[i]


def check_lag(qh: QueueHistory, logs: dict[str, KeyLog], max_lag_ns: int | None,
              dense=None) -> CheckResult:
    if dense is None:
        from splitbrain.checkers.queue.log import dense_reads
        dense = dense_reads(qh, logs)
    summary = None
    if (native.LAG is not None and type(dense.per_op) is not dict
            and (max_lag_ns is None or type(max_lag_ns) is int)):
        # known_times + the walk + the percentiles in Rust (native/src/queue.rs), on the
        # compact index; None when a time is not an int, and then the Python loops below
        summary = native.LAG(dense.per_op, qh.sends, qh.reads, qh.by_process,
                             qh.assigned_keys, max_lag_ns)
    if summary is None:
        summary = _summarise(*_walk(qh, logs, dense), max_lag_ns)
    n, p50, p95, p99, top, n_over, worst, polls = summary
    names = qh.names
    if not n:
        return CheckResult(name=NAME, valid=UNKNOWN, stats={"polls_measured": 0},
                           reason="no ok poll to measure a lag on (lag needs `poll` ops)")
    ms = lambda ns: round(ns / 1e6, 3)
    stats = {"polls_measured": polls, "poll_keys_measured": n, "p50_ms": ms(p50),
             "p95_ms": ms(p95), "p99_ms": ms(p99), "max_ms": ms(top),
             "worst": {"time": worst[0], "process": worst[1], "key": names.get(worst[2], worst[2]),
                       "lag_ms": ms(worst[3]), "op": worst[4]}}
    anomalies = []
    if max_lag_ns is not None:
        stats["max_lag_ms"] = ms(max_lag_ns)
        # the sorted lags say how many are over; only then walk again for their witnesses
        stats["polls_over"] = n_over
        over = [l for l in realtime_lags(qh, logs, dense) if l[3] > max_lag_ns] if n_over else []
        for t, proc, k, lag, idx in sorted(over, key=lambda l: -l[3])[:64]:
            k = names.get(k, k)
            anomalies.append(Anomaly(
                "lag", f"Poll op {idx} by process {proc} was {ms(lag)} ms behind key {k} "
                f"(bound {ms(max_lag_ns)} ms): a message it had not read was known to exist "
                f"that long before it began.", [idx], key=k, process=proc,
                details={"lag_ms": ms(lag), "lag_ns": lag}))
    return CheckResult(name=NAME, valid=not anomalies, anomalies=anomalies,
                       anomaly_count=stats.get("polls_over", 0) or len(anomalies), stats=stats)
