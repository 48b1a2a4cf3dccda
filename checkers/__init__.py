"""Checkers: pure functions of a History (no network, no clocks, no harness state).

Each *family* module exposes `check(history, options) -> dict[name, CheckResult]`; one
pass may yield several named results (the session family yields all four guarantees).
`run_checks` picks the families a workload needs and merges their results.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
import time
from collections import Counter
from operator import attrgetter
from typing import Iterable

from splitbrain.checkers.analysis import Analysis
from splitbrain.checkers.options import _SESSION, JUDGED, WORKLOADS, CheckOptions, shape_of  # noqa: F401
from splitbrain.checkers.result import UNKNOWN, CheckResult, merge_valid
from splitbrain.checkers.versions import gc_paused
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import History

# name -> family module (each module has `check(history, options)`).
FAMILIES: dict[str, str] = {
    "integrity": "splitbrain.checkers.integrity",
    "read-your-writes": "splitbrain.checkers.session",
    "monotonic-reads": "splitbrain.checkers.session",
    "monotonic-writes": "splitbrain.checkers.session",
    "writes-follow-reads": "splitbrain.checkers.session",
    "session": "splitbrain.checkers.session",
    "staleness": "splitbrain.checkers.staleness",
    "lost-updates": "splitbrain.checkers.lost_updates",
    "convergence": "splitbrain.checkers.convergence",
    "queue": "splitbrain.checkers.queue",
    "queue-lag": "splitbrain.checkers.queue",
    **{n: "splitbrain.checkers.propagation" for n in ("lost-event", "orphan-effect", "duplicate-effect",
                                           "derived-regression", "propagation-lag",
                                           "dlq-conservation")},
    "linearizable": "splitbrain.checkers.linearizable",
    "transactions": "splitbrain.checkers.transactions",
    "bank": "splitbrain.checkers.bank",
}

SESSION = list(_SESSION)

# Derived views of JUDGED (checkers/options.py), kept for callers that read them.
DEFAULTS: dict[str, list[str]] = {w: list(j.defaults) for w, j in JUDGED.items()}
ALIASES: dict[str, str] = {w: j.shape for w, j in JUDGED.items() if j.shape != w}
TXN_FAMILIES = frozenset(("splitbrain.checkers.transactions",))
# Families whose check takes the shared Analysis (checkers/analysis.py) as `analysis=`.
ANALYSIS_FAMILIES = frozenset(f"splitbrain.checkers.{m}" for m in (
    "integrity", "session", "staleness", "lost_updates", "convergence"))


def infer_workload(history: History) -> str:
    """register / list-append / set / counter / queue, from the ops' `f` and value shapes."""
    fs = Counter(map(attrgetter("f"), history.ops))  # counted in C
    if fs.get("write-source"):
        return "propagation"
    if fs.get("send") or fs.get("poll") or fs.get("dequeue"):
        return "queue"
    if fs.get("transfer"):
        return "bank"  # Jepsen's bank workload: transfers and snapshot reads
    if fs.get("txn"):  # transactions.md §1.3: the micro-op kinds pick the workload
        kinds = {m[0] for op in history.ops if op.f == "txn" and op.value for m in op.value
                 if isinstance(m, (list, tuple)) and m}
        if "append" in kinds:
            return "txn-list-append"
        if "w" in kinds or "write" in kinds:
            return "txn-rw-register"
        lists = any(isinstance(m[2], (list, tuple)) for op in history.ops
                    if op.f == "txn" and op.type == "ok" and op.value for m in op.value
                    if isinstance(m, (list, tuple)) and len(m) == 3)
        return "txn-list-append" if lists else "txn-rw-register"
    if fs.get("append"):
        return "list-append"
    if fs.get("add"):
        read_list = read_int = 0
        for op in history.ops:
            if op.f == "read" and op.type == "ok":
                if isinstance(op.value, list):
                    read_list += 1
                elif isinstance(op.value, int) and not isinstance(op.value, bool):
                    read_int += 1
        return "counter" if read_int > read_list else "set"
    if fs.get("incr"):
        return "counter"
    if fs.get("acquire") or fs.get("release"):
        return "mutex"  # Knossos' lock histories: only linearizability judges them
    if fs.get("cas"):
        # a register with compare-and-set: what Knossos/Jepsen cas-register tests record;
        # the linearizable checker judges it (values repeat there, session checkers can't)
        return "cas-register"
    if not (fs.get("write") or fs.get("cas")) and any(
            op.f == "read" and op.type == "ok" and isinstance(op.value, (list, tuple))
            for op in history.ops):
        # reads of collections and no write at all: an empty list is ⊥ of a list, not a
        # register value nobody wrote
        return "list-append"
    if not (fs.get("write") or fs.get("cas")) and _only_balance_reads(history):
        # reads of account -> balance maps and no write: a bank test's snapshot reads
        # (elle-cli's bank-negative-balances.json); as a register's, every read would
        # be a "garbage read" of a map nobody wrote
        return "bank"
    if (history.meta or {}).get("format") == "edn" and _only_int_reads(history, fs):
        # a Jepsen file of reads alone, of numbers: a counter read 0 is its initial state,
        # and a Knossos register may start at 0 too, so a register's "nobody wrote 0"
        # (garbage read) would be a guess; the counter checkers say what they can
        return "counter"
    return "register"


def _only_balance_reads(history: History) -> bool:
    """Some ok read, and every ok read returned a non-empty map of numbers (or nils)."""
    oks = [op.value for op in history.ops if op.f == "read" and op.type == "ok"]
    return bool(oks) and all(
        isinstance(v, dict) and v and all(
            b is None or (isinstance(b, (int, float)) and not isinstance(b, bool))
            for b in v.values()) for v in oks)


def _only_int_reads(history: History, fs: Counter) -> bool:
    """Every client op is a read and every ok read returned an integer (at least one)."""
    if set(fs) - {"read"}:
        return False
    oks = [op.value for op in history.ops if op.type == "ok"]
    return bool(oks) and all(isinstance(v, int) and not isinstance(v, bool) for v in oks)


def resolve_names(workload: str, names: Iterable[str] | None) -> list[str]:
    """The checker names to run: `names` validated, else `workload`'s defaults."""
    if workload not in JUDGED:
        raise InputError(f"--workload {workload!r}: allowed: {', '.join(WORKLOADS)}")
    if not names:
        return list(JUDGED[workload].defaults)
    out = []
    for n in names:
        n = n.strip()
        if not n:
            continue
        if n not in FAMILIES:
            raise InputError(f"--checkers: unknown checker {n!r}; allowed: {', '.join(FAMILIES)}")
        out.append(n)
    return out


def run_checks(history: History, options: CheckOptions | None = None,
               names: Iterable[str] | None = None) -> dict:
    """Run checkers and return the results contract (architecture §5) as a dict.

    A checker that raises is reported as unknown with the error, never as valid.
    """
    options = options or CheckOptions()
    requested = options.workload or infer_workload(history)
    wanted = resolve_names(requested, names)  # refuses an unknown workload
    judged = JUDGED[requested]
    # results name the workload asked for (`--workload cas-register` says
    # "cas-register", not the "register" shape it is read as), an inferred one as
    # inferred (a history with cas ops says "cas-register", which is what picked the
    # linearizable checker). The families are told the shape they read.
    workload = requested
    options = replace(options, workload=judged.shape,
                      workload_inferred=options.workload is None)
    with gc_paused():
        results, timings = _run_families(history, options, wanted, judged.micro)
    chosen = {n: results[n] for n in wanted if n in results}
    _realtime_assumed(history, chosen)
    _excerpt_absences(history, chosen)
    # Checkers the user did not name and that cannot apply to this history (staleness of
    # a plain register) say so, but do not turn a checked history's verdict unknown.
    implied = _implied_by_linearizable(chosen)
    judged = [r.valid for n, r in chosen.items() if (r.applicable or names) and n not in implied]
    checkers_json = {n: r.to_json(options.anomaly_cap) for n, r in chosen.items()}
    for n in implied:
        c = checkers_json[n]
        c["implied_by"] = "linearizable"
        c["reason"] = (f"{c.get('reason') or 'not checkable on its own'}; linearizable is "
                       "valid on this history, which implies this property")
    out = {
        "valid": merge_valid(judged) if judged else "unknown",
        "workload": workload,
        "checkers": checkers_json,
        "stats": history.stats(),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    from splitbrain.checkers.groups import anomaly_groups

    groups = anomaly_groups(history, chosen)  # over the full lists, before any cap
    if groups is not None:
        out["anomaly_groups"] = groups
    return out


CHECKER_INPUT_ERROR = "checker error: InputError: "  # a family's reason when it met bad input


def input_error(results: dict) -> str | None:
    """The message of the first checker that found the history malformed where it looked
    (it raised InputError, so its verdict is unknown), or None. `splitbrain check` turns
    it into exit 254, as for a malformed line the loader finds."""
    for c in results.get("checkers", {}).values():
        reason = c.get("reason") or ""
        if reason.startswith(CHECKER_INPUT_ERROR):
            return reason[len(CHECKER_INPUT_ERROR):]
    return None


# Single-key checkers whose findings rest on the real-time order between processes (which
# op completed before which began); the session checkers need only each process's order.
REALTIME_CHECKERS = ("linearizable", "staleness", "lost-updates", "convergence")


def _realtime_assumed(history: History, chosen: dict[str, CheckResult]) -> None:
    """A file whose :index values repeat (hand-written samples numbering each process's
    events 1, 2, 3 ...) was read in line order, which its author did not mean as real
    time (checkers/transactions does the same for its *-realtime findings): what the
    real-time checkers found there is a notice, and their verdict unknown, not INVALID."""
    why = (getattr(history, "meta", None) or {}).get("reindexed") or ""
    if "renumbered" not in why:
        return
    for name in REALTIME_CHECKERS:
        r = chosen.get(name)
        if r is None or r.valid is not False:
            continue
        types = sorted({a.type for a in r.anomalies})
        r.notices = [*r.anomalies, *r.notices]
        r.anomalies, r.anomaly_count, r.valid = [], 0, UNKNOWN
        r.reason = (f"realtime-order-assumed: the findings ({', '.join(types)}) rest on the "
                    f"real-time order between processes, which this history does not record "
                    f"({why}): its line order is only an assumption")


# Findings that something is NOT in the history: a value read that no op wrote, an element
# or message nobody added, a write no read ever saw. In an excerpt (checkers see
# `meta["excerpt"]`, from an EDN file whose :index values jump) the missing ops may hold it.
ABSENCE_TYPES = frozenset(("garbage-read", "unexpected", "unexpected-key", "lost",
                           "lost-write", "unseen", "lost-on-node"))


def _excerpt_absences(history: History, chosen: dict[str, CheckResult]) -> None:
    """In an excerpt, what rests on absence is a notice, not an anomaly: a checker left
    with nothing else is unknown (never INVALID, never valid); one that found more stays
    INVALID on the rest (a cycle between ops in the file is in the file)."""
    why = (getattr(history, "meta", None) or {}).get("excerpt")
    if not why:
        return
    for r in chosen.values():
        if r.valid is not False:
            continue
        absent = [a for a in r.anomalies if a.type in ABSENCE_TYPES]
        if not absent:
            continue
        rest = [a for a in r.anomalies if a.type not in ABSENCE_TYPES]
        types = sorted({a.type for a in absent})
        r.notices = [*absent, *r.notices]
        said = (f"excerpt: the findings ({', '.join(types)}) rest on ops being absent "
                f"from the history, and {why}")
        if rest:
            r.anomalies, r.anomaly_count = rest, max(len(rest), r.anomaly_count - len(absent))
            r.assumptions = [*r.assumptions, said]
        else:
            r.anomalies, r.anomaly_count, r.valid, r.reason = [], 0, UNKNOWN, said
        if "anomaly_types" in r.details:  # the transactions family's summary of its finds
            _retype_txn_details(r.details, set(types))


def _retype_txn_details(details: dict, moved: set[str]) -> None:
    """The transactions family's anomaly_types / notice_types and the models its finds
    rule out (`not`, `also_not`), without the findings that became notices."""
    from splitbrain.checkers.transactions import models as M

    found = set(details["anomaly_types"]) | set(details.get("notice_types", ()))
    details["anomaly_types"] = sorted(set(details["anomaly_types"]) - moved)
    details["notice_types"] = sorted(set(details.get("notice_types", ())) | moved)
    b = M.boundary(found - moved - M.UNKNOWN_TYPES)
    details["not"], details["also_not"] = b["not"], b["also_not"]


# Properties a linearizable single-object history has by definition: every read sees the
# latest write (no garbage, no stale or out-of-session read, nothing acknowledged lost).
# Convergence of replicas is not among them (info writes may land between final reads).
IMPLIED_BY_LINEARIZABLE = frozenset(("integrity", *SESSION, "staleness", "lost-updates"))


def _implied_by_linearizable(chosen: dict[str, CheckResult]) -> set[str]:
    """Checkers that could not judge on their own (repeated values, keyless histories:
    `unknown`) while the linearizable checker proved the history linearizable: they do
    not turn the overall verdict unknown. An INVALID one stays INVALID."""
    lin = chosen.get("linearizable")
    if lin is None or lin.valid is not True:
        return set()
    return {n for n, r in chosen.items()
            if n in IMPLIED_BY_LINEARIZABLE and r.valid == "unknown"}


def _run_families(history: History, options: CheckOptions, wanted: list[str],
                  micro: str | None) -> tuple[dict[str, CheckResult], dict[str, float]]:
    """Each wanted family once, in order; a checker that raises is reported unknown.
    micro: a transactional history's micro-op shape, which the single-key families read.

    Big histories run their families in forked workers (checkers/parallel.py) once the
    tables they share are built; the results are the serial loop's."""
    from splitbrain.checkers import parallel

    # The single-key families judge a transactional history by its micro-ops' data model
    # (what transactions wrote counts as written); only `transactions` reads txn-*.
    single = replace(options, workload=micro) if micro else options
    full = Analysis(history, options)  # built once, shared by the families
    shared = {"one_key": None}

    def analysis_for(opts: CheckOptions) -> Analysis:
        if opts is options:
            return full
        if shared["one_key"] is None:
            shared["one_key"] = full.for_options(opts)
        return shared["one_key"]

    def run_one(mod_name: str) -> dict[str, CheckResult]:
        try:
            mod = importlib.import_module(mod_name)
            opts = options if mod_name in TXN_FAMILIES else single
            if mod_name in ANALYSIS_FAMILIES:
                return mod.check(history, opts, analysis=analysis_for(opts))
            return mod.check(history, opts)
        except Exception as e:  # a checker bug must never read as "valid"
            return _unknown_family(mod_name, f"checker error: {type(e).__name__}: {e}")

    jobs = list(dict.fromkeys(FAMILIES[n] for n in wanted))
    results: dict[str, CheckResult] = {}
    timings: dict[str, float] = {}
    workers = parallel.workers_for(len(history.ops), options.check_workers, len(jobs),
                                   options.workload)
    if workers > 1:
        t0 = time.perf_counter()
        try:
            _prebuild(jobs, options, single, analysis_for)
        except Exception:
            pass  # the family that needs the table meets the error itself, as when serial
        timings["splitbrain.checkers.analysis"] = time.perf_counter() - t0
        try:
            families, secs = parallel.run_forked(jobs, workers, run_one, _unknown_family,
                                                 ship=_texts_now)
        except OSError:  # no pipe or fork to be had (limits): the serial loop below
            timings.clear()
        else:
            for mod_name in jobs:
                timings[mod_name] = secs.get(mod_name, 0.0)
                results.update(families[mod_name])
            return results, timings
    for mod_name in jobs:
        t0 = time.perf_counter()
        family = run_one(mod_name)
        timings[mod_name] = time.perf_counter() - t0
        results.update(family)
    return results, timings


def _texts_now(family: dict[str, CheckResult]) -> None:
    """Build the explanations given lazily (callables do not pickle): what a forked
    worker does before sending its results back, only when they do not pickle as they are."""
    for r in family.values():
        for a in (*r.anomalies, *r.notices):
            a.text()


def _unknown_family(mod_name: str, reason: str) -> dict[str, CheckResult]:
    """Every checker of one family, unknown for `reason`."""
    return {n: CheckResult(name=n, valid="unknown", reason=reason)
            for n, m in FAMILIES.items() if m == mod_name}


# The shared Analysis tables each family reads (checkers/analysis.py); the parallel path
# builds them in the parent so the workers inherit them instead of each building its own.
_READS = {
    "splitbrain.checkers.integrity": ("indexes",),
    "splitbrain.checkers.session": ("indexes",),
    "splitbrain.checkers.staleness": ("indexes",),
    "splitbrain.checkers.lost_updates": ("final_reads", "groups"),
    "splitbrain.checkers.convergence": ("final_reads", "groups"),
}


def _prebuild(jobs: list[str], options: CheckOptions, single: CheckOptions, analysis_for) -> None:
    for mod_name in jobs:
        if mod_name not in ANALYSIS_FAMILIES:
            continue
        opts = options if mod_name in TXN_FAMILIES else single
        a = analysis_for(opts)
        names = _READS.get(mod_name, ())
        if mod_name.endswith(".convergence") and opts.workload in ("register", "list-append"):
            names = (*names, "indexes")
        for name in names:
            getattr(a, name)
