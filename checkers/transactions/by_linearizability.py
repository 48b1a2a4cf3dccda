"""rw-register histories whose writes repeat, judged by linearizability (transactions.md).

Elle's rw-register inference needs each (key, value) written once; Knossos' and many
hand-made register histories write 0, 1, 2 over and over. Such a history can still be
judged for *strict serializability*: that is exactly linearizability of the committed
transactions as atomic operations on a map of registers (info txns may or may not have
taken effect, failed ones did not), which the linearizable checker's multi-register
model searches. Obligations:

* linearizable => `valid` for every claimed model (strict serializability implies them
  all), with what was searched in `stats`;
* not linearizable => INVALID only when strict-serializable is claimed; for a weaker
  claim `unknown` (a real-time order that fails says nothing about serializability);
* a search over budget, or a history that passes only from initial values it does not
  record, => `unknown` with the linearizable checker's reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from splitbrain.checkers.result import Anomaly, CheckResult

STRICT = "PL-SS"  # canonical name of strict-serializable (models.py)
BUDGET = 400_000  # configurations per partition: the Python engine ends in seconds


def check(history: Any, txns: Any, options: Any, claim: tuple, details: dict, stats: dict,
          why: str, name: str) -> CheckResult:
    from splitbrain.checkers.linearizable import LinearizableOptions, _lin_options, \
        check_linearizable
    from splitbrain.harness.history import History

    ops = sorted((op._replace(f="txn") for op in (*txns.vertices, *txns.fails)),
                 key=lambda o: o.index)
    sub = History(ops=ops, source=history.source, meta=dict(history.meta or {}))
    lo = _lin_options(options)
    default_budget = LinearizableOptions().max_configs
    # Elle's semantics: a nil read saw the initial (absent) value; the default budget is
    # the native engine's, and this model runs on the Python one
    lo = replace(lo, model="multi-register", nil_read="absent",
                 max_configs=BUDGET if lo.max_configs == default_budget else lo.max_configs)
    lin = check_linearizable(sub, lo, "txn-rw-register", getattr(options, "anomaly_cap", 32))
    stats = dict(stats, judged_by="linearizability (multi-register)", duplicate_writes=why,
                 linearizable=lin.stats)
    details = dict(details, anomaly_types=[], method="linearizability",
                   assumptions=list(lin.assumptions or []))
    note = Anomaly(type="duplicate-writes", ops=[], explanation=(
        f"{why}; Elle's inference cannot order such writes, so the transactions were "
        "checked as atomic operations on a multi-register for linearizability (strict "
        "serializability)"))
    if lin.valid is True:
        return CheckResult(name=name, valid=True, stats=stats, details=details,
                           notices=[note, *lin.notices])
    if lin.valid is False:
        anomalies = []
        for a in lin.anomalies:
            anomalies.append(Anomaly(
                type="strict-serializability-violation", ops=list(a.ops), key=a.key,
                process=a.process, explanation=(
                    "no real-time-respecting order of the committed transactions explains "
                    f"their reads: {a.explanation}"), details=dict(a.details or {})))
        if STRICT in claim:
            details["anomaly_types"] = ["strict-serializability-violation"]
            return CheckResult(name=name, valid=False, anomalies=anomalies, stats=stats,
                               details=details, notices=[note])
        return CheckResult(name=name, valid="unknown", stats=stats, details=details,
                           notices=[note, *anomalies], reason=(
                               f"duplicate-writes: {why}; the transactions are not "
                               "linearizable (not strict-serializable), which does not "
                               f"decide {', '.join(details.get('consistency_model') or ['the claim'])}"))
    return CheckResult(name=name, valid="unknown", stats=stats, details=details,
                       notices=[note], reason=f"duplicate-writes: {why}; by linearizability: "
                       f"{lin.reason}")


COMPLETE_MAX_TXNS = 64  # small histories only: the search is exponential in concurrency
COMPLETE_BUDGET = 20_000  # configurations; over it the graph's verdict stands


def completeness(history: Any, txns: Any, options: Any) -> tuple[list[Anomaly], dict]:
    """Elle's rw-register inference is sound but incomplete: without a known version
    order it cannot see that two sessions each read the other's write after their own
    (elle-cli's rwregister-fail.edn). On a small history whose graph showed no cycle, a
    strict-serializable claim is decided exactly by searching real-time orders of the
    committed transactions (linearizability of a multi-register). Returns the
    violations found (empty when linearizable, undecided or too large) and what was
    searched. Only called under a strict-serializable claim."""
    from splitbrain.checkers.linearizable import _lin_options, check_linearizable
    from splitbrain.harness.history import History

    n = len(txns.vertices) + len(txns.fails)
    if n > COMPLETE_MAX_TXNS:
        return [], {"searched": False, "why": f"{n} txns > {COMPLETE_MAX_TXNS}"}
    ops = sorted((op._replace(f="txn") for op in (*txns.vertices, *txns.fails)),
                 key=lambda o: o.index)
    sub = History(ops=ops, source=history.source, meta=dict(history.meta or {}))
    lo = replace(_lin_options(options), model="multi-register", nil_read="absent",
                 max_configs=COMPLETE_BUDGET)
    lin = check_linearizable(sub, lo, "txn-rw-register", getattr(options, "anomaly_cap", 32))
    info = {"searched": True, "linearizable": lin.valid}
    if lin.valid is not False:
        return [], info
    return [Anomaly(type="strict-serializability-violation", ops=list(a.ops), key=a.key,
                    process=a.process, explanation=(
                        "no cycle in the dependency graph, but no real-time-respecting order "
                        f"of the committed transactions explains their reads: {a.explanation}"),
                    details=dict(a.details or {})) for a in lin.anomalies], info


SESSION = "strong-session-serializable"
SESSION_MAX_INFO = 8  # info txns float freely (2^n subsets): more, and it is not searched
SESSION_BUDGET = 50_000  # search states; over it the graph's verdict stands


def session_completeness(txns: Any) -> tuple[list[Anomaly], dict]:
    """The strong-session-serializable twin of `completeness`: without a known version
    order Elle's graph misses that two sessions each read the other's write after their
    own (elle-cli's rwregister-fail.edn: no serial order keeps both sessions' orders).
    On a small history whose graph showed no cycle, search serial orders of the
    committed transactions that keep each process's order, every read seeing the latest
    write before it (nil: never written). ok txns must all take effect; an info txn may
    take effect at any point or never (not bound to its process's order: never a false
    finding); failed ones never. Returns the violation (empty when an order exists, or
    the search was skipped or ran over budget) and what was searched."""
    oks = [op for v, op in enumerate(txns.vertices) if txns.ok[v]]
    infos = [op for v, op in enumerate(txns.vertices) if not txns.ok[v]]
    n = len(txns.vertices) + len(txns.fails)
    if n > COMPLETE_MAX_TXNS:
        return [], {"searched": False, "why": f"{n} txns > {COMPLETE_MAX_TXNS}"}
    if len(infos) > SESSION_MAX_INFO:
        return [], {"searched": False, "why": f"{len(infos)} info txns > {SESSION_MAX_INFO}"}
    chains: dict[Any, list] = {}
    for op in oks:  # completion order = each single-threaded process's order
        chains.setdefault(op.process, []).append(op.value)
    seqs = list(chains.values())
    keys = sorted({k for op in txns.vertices for _, k, _ in op.value}, key=repr)
    kidx = {k: i for i, k in enumerate(keys)}
    comp = [[(f, kidx[k], x) for f, k, x in t] for s in seqs for t in s]
    starts = [0]
    for s in seqs:
        starts.append(starts[-1] + len(s))
    info_w = [[(kidx[k], x) for f, k, x in op.value if f != "r"] for op in infos]
    absent = object()

    def apply(state: tuple, mops) -> tuple | None:
        st = list(state)
        for f, k, x in mops:
            if f == "r":
                if (st[k] is absent and x is not None) or (st[k] is not absent and st[k] != x):
                    return None
            else:
                st[k] = x
        return tuple(st)

    goal = tuple(len(s) for s in seqs)
    seen: set = set()
    budget = [SESSION_BUDGET]
    # who can still (re)write (k, x): (process, position) of ok txns, or ("info", j)
    writers: dict = {}
    for p, sq in enumerate(seqs):
        for i in range(len(sq)):
            for f, k, x in comp[starts[p] + i]:
                if f != "r":
                    writers.setdefault((k, x), []).append((p, i))
    for j, ws in enumerate(info_w):
        for k, x in ws:
            writers.setdefault((k, x), []).append((-1, j))
    # each txn's external reads: (k, x) read before the txn itself writes k
    ext = []
    for t in comp:
        own, out = set(), []
        for f, k, x in t:
            if f == "r" and k not in own:
                out.append((k, x))
            elif f != "r":
                own.add(k)
        ext.append(out)

    # per process position: the external reads of all its txns from there on
    ahead = []
    for p, sq in enumerate(seqs):
        acc: list = []
        rows = [None] * (len(sq) + 1)
        rows[len(sq)] = ()
        for i in range(len(sq) - 1, -1, -1):
            acc = ext[starts[p] + i] + acc
            rows[i] = tuple(dict.fromkeys(acc))
        ahead.append(rows)

    def stuck(pos: tuple, used: int, state: tuple) -> bool:
        """Some process has a txn that can never run: it reads a value the registers can
        no longer hold (overwritten, and nobody left to write it again; nil once
        written)."""
        for p, i in enumerate(pos):
            for k, x in ahead[p][i]:
                cur = state[k]
                if x is None:
                    if cur is not absent:
                        return True
                elif cur is absent or cur != x:
                    if not any((q >= 0 and pos[q] <= w) or (q < 0 and not used >> w & 1)
                               for q, w in writers.get((k, x), ())):
                        return True
        return False

    def dfs(pos: tuple, used: int, state: tuple) -> bool | None:
        if pos == goal:
            return True
        key = (pos, used, state)
        if key in seen:
            return False
        seen.add(key)
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if stuck(pos, used, state):
            return False
        for p, i in enumerate(pos):
            if i < goal[p]:
                nxt = apply(state, comp[starts[p] + i])
                if nxt is not None:
                    r = dfs(pos[:p] + (i + 1,) + pos[p + 1:], used, nxt)
                    if r is not False:
                        return r
        for j, ws in enumerate(info_w):
            if not used >> j & 1:
                st = list(state)
                for k, x in ws:
                    st[k] = x
                r = dfs(pos, used | 1 << j, tuple(st))
                if r is not False:
                    return r
        return False

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 4 * (n + SESSION_MAX_INFO) + 200))
    try:
        found = dfs(tuple(0 for _ in seqs), 0, tuple(absent for _ in keys))
    finally:
        sys.setrecursionlimit(old)
    info = {"searched": True, "states": len(seen), "serializable_in_session_order": (
        "undecided (over budget)" if found is None else found)}
    if found is not False:
        return [], info
    return [Anomaly(type="strong-session-serializability-violation",
                    ops=[op.index for op in oks], explanation=(
                        "no cycle in the dependency graph, but no serial order of the "
                        f"{len(oks)} committed transactions that keeps each of the "
                        f"{len(seqs)} processes' own order explains their reads (each read "
                        "seeing the latest write before it, nil only before any write; "
                        f"{len(infos)} indeterminate txns allowed to take effect anywhere "
                        "or never)"),
                    details={"processes": len(seqs), "states": len(seen)})], info
