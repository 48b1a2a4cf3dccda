"""Checker family `queue`: log-ordered and unordered queue anomalies plus real-time lag.

    from splitbrain.checkers.queue import check
    results = check(history, CheckOptions(workload="queue", max_lag_ns=2 * 10**9))
    results["queue"].valid, results["queue-lag"].stats["p99_ms"]

Two named results:

* `queue` — every anomaly of checkers/queue/log.py (version order from offsets) and, when
  the history has `dequeue`/`drain` ops, of checkers/queue/total.py. Valid only when it
  examined at least one read message or acknowledged send; unknown (with the reason)
  when there was nothing to examine, or when lost messages could not be told from late
  ones because a dequeue history has no final drain. Allowed findings (duplicated
  deliveries, poll-skip/nonmonotonic-poll under subscribe, unseen without a final
  phase) are notices, never anomalies.
* `queue-lag` — checkers/queue/lag.py; not applicable (the verdict ignores it) when the
  history has no `poll` ops and no `--max-lag` gate (a lag is a poller's distance
  behind its log).

Pure: reads only the History. One pass normalises, one builds the per-key version
orders, one runs the per-process checks (≥ 100k ops/s: ~150k ops per CPU-second at 1M
ops on the 2-core machine, bench/queue_checker.py).
"""

from __future__ import annotations

import gc
from operator import attrgetter, itemgetter

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.queue import native
from splitbrain.checkers.queue.lag import check_lag
from splitbrain.checkers.queue.log import (LogFindings, build_logs, check_log, check_processes,
                                committed_ops, dense_reads)
from splitbrain.checkers.queue.model import READS, QueueHistory
from splitbrain.checkers.queue.total import check_total
from splitbrain.checkers.result import CheckResult, UNKNOWN
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import History

NAME = "queue"
_first = itemgetter(0)
_type, _extra = attrgetter("type"), attrgetter("extra")


def check(history: History, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    # Millions of small containers and no reference cycles: the cyclic collector would
    # re-scan them over and over (a third of the run time at 1M ops). Paused, then restored.
    was = gc.isenabled()
    gc.disable()
    try:
        return _check(history, options or CheckOptions())
    finally:
        if was:
            gc.enable()


def _check(history: History, options: CheckOptions) -> dict[str, CheckResult]:
    try:
        return _check_values(history, options)
    except TypeError:
        bad = _unhashable_message(history)  # the history's fault, or a checker bug?
        if bad is None:
            raise
        raise InputError(bad) from None


def _unhashable_message(history: History) -> str | None:
    """The first queue op carrying a message value that is a list or an object, which no
    broker message is (they are compared and counted as values), named; None if none."""
    def odd(v) -> bool:
        return isinstance(v, (list, dict))

    for op in history.ops:
        v, bad = op.value, False
        if op.f == "send":
            bad = (odd(v) if op.key is not None else isinstance(v, list) and any(
                isinstance(p, list) and len(p) == 2 and odd(p[1]) for p in v))
        elif op.f in READS and isinstance(v, dict):
            bad = any(isinstance(items, list) and any(
                isinstance(m, (list, tuple)) and len(m) >= 2 and odd(m[1]) for m in items)
                for items in v.values())
        if bad:
            return (f"{history.source}: op {op.index} ({op.f} of process {op.process}): a "
                    "message value must be a string or a number, not a list or an object")
    return None


def _check_values(history: History, options: CheckOptions) -> dict[str, CheckResult]:
    qh = QueueHistory(history)
    committed = committed_ops(qh)
    logs = build_logs(qh, committed)
    out = LogFindings()
    log_stats = check_log(qh, logs, committed, out)
    dense = dense_reads(qh, logs)
    check_processes(qh, logs, out, dense)
    total_stats = check_total(qh, out)
    # C-level counts (a million reads and sends)
    read_ops = list(map(_first, qh.reads))
    messages_read = qh.messages  # of every (key, messages) pair, counted while parsing
    sends_ok = getattr(qh, "sends_ok", None)  # counted by check_log's Rust pass, if it ran
    if sends_ok is None:
        sends_ok = list(map(_type, map(_first, qh.sends))).count("ok")
    stats = {"sends": len(qh.sends), "sends_ok": sends_ok, "read_ops": len(qh.reads),
             "messages_read": messages_read, "messages_checked": messages_read,
             "sends_checked": sends_ok, "keys": len(logs), "assigns": qh.assigns,
             "acks": qh.acks, "crashes": qh.crashes, "subscribe_mode": qh.subscribed,
             "consumer_resets": sum(1 for ex in filter(None, map(_extra, read_ops)) if ex.get("reset")),
             **log_stats, "counts": dict(sorted(out.counts.items())),
             "engine": native.engine()}  # Rust message passes (queue/native.py) or Python
    if total_stats is not None:
        stats["unordered"] = total_stats
    assumptions = ["unique-values"]
    if getattr(qh, "repeated_values", 0):
        stats["repeated_values"] = qh.repeated_values
        assumptions.append(f"{qh.repeated_values} value(s) were sent more than once to one "
                           f"key: findings about them are weaker (writer = first send)")
    if qh.subscribed:
        assumptions.append("subscribe mode: poll-skip and nonmonotonic-poll are allowed "
                           "(rebalances move partitions between consumers)")
    reason = None
    if not out.anomalies:
        if messages_read == 0 and sends_ok == 0:
            reason = "nothing to examine: no acknowledged send and no message read"
        elif messages_read == 0:
            reason = "no message was ever read, so no send could be confirmed or refuted"
        elif total_stats is not None and total_stats["lost_undrained"]:
            reason = (f"{total_stats['lost_undrained']} acknowledged message(s) were not "
                      f"dequeued and the history has no final drain: lost or late is unknown")
        elif log_stats.get("unseen") and not log_stats.get("final_phase"):
            # Jepsen's Kafka checker calls them errors; without a final re-read of every
            # key nothing says whether they were lost or only not yet read
            reason = (f"{log_stats['unseen']} acknowledged message(s) were never read and the "
                      f"history has no final phase (`final` reads): lost or late is unknown")
    out.anomalies.sort(key=lambda a: (a.ops[0] if a.ops else -1))
    result = CheckResult(name=NAME, valid=False if out.anomalies else (UNKNOWN if reason else True),
                         anomalies=out.anomalies, stats=stats, reason=reason,
                         assumptions=assumptions, notices=out.notices)
    lag = check_lag(qh, logs, options.max_lag_ns, dense)
    if options.max_lag_ns is None and not any(op.f == "poll" for op in read_ops):
        # lag is a poller's distance behind its log: a history of bare dequeues (Jepsen's
        # queue tests) has none to measure, which says nothing about its verdict
        lag.applicable = False
        lag.reason = "no `poll` ops: a lag is a poller's distance behind its log"
    return {NAME: result, "queue-lag": lag}
