"""Checker family `linearizable`: WGL/Lowe search per partition (linearizability.md).

`check(history, options) -> {"linearizable": CheckResult}`. Obligations:
* options resolve from the profile (`splitbrain` for JSONL, `knossos` for EDN) plus
  explicit overrides; every choice that changes semantics is listed in `assumptions`;
* every partition (key, or multi-register component) is searched; one failing partition
  is one `nonlinearizable` anomaly with the stuck op, frontier states, paths, blocked
  candidates, a 1-minimal witness (safe deletions) and a one-sentence explanation;
* `valid` is True only when every partition was searched to VALID; a budget overrun
  makes the result "unknown" with the partitions and limits named, never True;
* the engine used ("native" or "python") is in `stats`; without the native core the
  Python engine runs the same algorithm, with a notice.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from splitbrain.checkers.linearizable import engine as _engine
from splitbrain.checkers.linearizable.models import (CAS_FAILS, MODELS, NIL_READS, PROFILES, MISMATCH,
                                          Model, MultiRegister, Partition, build_partitions)
from splitbrain.checkers.linearizable.search import INVALID, UNKNOWN, VALID, SearchResult
from splitbrain.checkers.result import Anomaly, CheckResult
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import INF, History

NAME = "linearizable"
_UNSET = object()


@dataclass(frozen=True)
class LinearizableOptions:
    """User-facing knobs (§7.2). `initial` is any JSON value; _UNSET = model default."""

    model: str | None = None
    profile: str | None = None
    initial: Any = _UNSET
    nil_read: str | None = None
    cas_fail: str | None = None
    include_final: bool = False
    max_configs: int = 4_000_000
    max_steps: int = 100_000_000
    threads: int = 0  # 0 = CPU count
    engine: str = "auto"  # auto | native | python
    witness_tests: int = 200
    # multi-register without a given initial state: None = the knossos profile's rule
    # (initial values unknown: the history must not pass only by assuming them absent)
    unknown_initial: bool | None = None

    def validate(self) -> "LinearizableOptions":
        if self.model is not None and self.model not in MODELS:
            raise InputError(f"--lin-model {self.model!r}: allowed: {', '.join(MODELS)}")
        if self.profile is not None and self.profile not in PROFILES:
            raise InputError(f"--lin-profile {self.profile!r}: allowed: {', '.join(PROFILES)}")
        if self.nil_read is not None and self.nil_read not in NIL_READS:
            raise InputError(f"--lin-nil-read {self.nil_read!r}: allowed: {', '.join(NIL_READS)}")
        if self.cas_fail is not None and self.cas_fail not in CAS_FAILS:
            raise InputError(f"--lin-cas-fail {self.cas_fail!r}: allowed: {', '.join(CAS_FAILS)}")
        if self.engine not in ("auto", "native", "python"):
            raise InputError(f"--lin-engine {self.engine!r}: allowed: auto, native, python")
        for n in ("max_configs", "max_steps"):
            if not isinstance(getattr(self, n), int) or getattr(self, n) < 1:
                raise InputError(f"--lin-{n.replace('_', '-')} must be a positive integer")
        return self


def parse_initial(text: str | None) -> Any:
    """--lin-initial JSON -> value (_UNSET when not given)."""
    if text is None:
        return _UNSET
    from splitbrain.harness.history import loads

    try:
        return loads(text)
    except Exception:
        raise InputError(f"--lin-initial {text!r}: not valid JSON (e.g. 0, null, "
                         f"'{{\"x\": 0, \"y\": 0}}')") from None


def infer_model(history: History, workload: str | None) -> str:
    fs = {op.f for op in history.ops}
    if "txn" in fs:
        return "multi-register"
    if "acquire" in fs or "release" in fs:
        return "mutex"
    if "enqueue" in fs or "dequeue" in fs:
        return "fifo-queue"
    if workload in ("list-append", "set", "counter"):
        return workload
    if "append" in fs:
        return "list-append"
    return "cas-register"


def _lin_options(options: Any) -> LinearizableOptions:
    lo = getattr(options, "linearizable", None) if options is not None else None
    if lo is None:
        lo = LinearizableOptions()
    elif isinstance(lo, dict):
        lo = LinearizableOptions(**lo)
    return lo.validate()


def check(history: History, options: Any = None) -> dict[str, CheckResult]:
    return {NAME: check_linearizable(history, _lin_options(options),
                                     getattr(options, "workload", None),
                                     getattr(options, "anomaly_cap", 32))}


def check_linearizable(history: History, lo: LinearizableOptions,
                       workload: str | None = None, anomaly_cap: int = 32) -> CheckResult:
    # Nothing built here is cyclic; collections triggered by a million small tuples
    # would rescan the whole history again and again.
    was = gc.isenabled()
    gc.disable()
    try:
        return _check(history, lo, workload, anomaly_cap)
    finally:
        if was:
            gc.enable()


def _check(history: History, lo: LinearizableOptions, workload: str | None,
           anomaly_cap: int) -> CheckResult:
    t0 = time.perf_counter()
    edn = (history.meta or {}).get("format") == "edn"
    profile = lo.profile or ("knossos" if edn else "splitbrain")
    prof = PROFILES[profile]
    nil_read = lo.nil_read or prof["nil_read"]
    cas_fail = lo.cas_fail or prof["cas_fail"]
    model_name = lo.model or infer_model(history, workload)
    has_init = lo.initial is not _UNSET
    model: Model = MODELS[model_name](nil_read=nil_read, cas_fail=cas_fail,
                                      initial=lo.initial if has_init else None,
                                      has_initial=has_init)
    lazy = isinstance(model, MultiRegister) and not has_init and (
        lo.unknown_initial if lo.unknown_initial is not None else profile == "knossos")
    if lazy:
        # Jepsen/Knossos files do not record the registers' initial values (Knossos'
        # own multi-register test starts at {x 0, y 0}): judge from an unknown start
        model.set_unknown_initial()
    assumptions = [f"profile:{profile}", f"model:{model_name}", f"nil-read:{nil_read}",
                   f"initial:{_short(lo.initial) if has_init else 'unknown' if lazy else 'model-default'}"]
    if model_name in ("register", "cas-register"):
        assumptions.append(f"cas-fail:{cas_fail}")
    ops = history.ops
    if lo.include_final:
        ops = [op._replace(final=False) if op.final else op for op in ops]
    else:
        assumptions.append("final-reads-excluded")
    parts, dropped = build_partitions(ops, model)

    notices: list[Anomaly] = []
    use_native = model.native and lo.engine != "python" and _engine.available()
    max_configs, max_steps = lo.max_configs, lo.max_steps
    if lo.engine == "native" and not _engine.available():
        raise InputError("--lin-engine native: " + str(_engine.NATIVE_PROBLEM))
    if not use_native and lo.engine == "auto" and model.native:
        # The fallback is ~50x slower: lower the budgets so it ends in reasonable time.
        max_configs, max_steps = max(1, max_configs // 10), max(1, max_steps // 10)
        notices.append(Anomaly(type="engine-fallback", ops=[], explanation=(
            f"{_engine.NATIVE_PROBLEM}; the pure-Python engine searched instead with "
            f"budgets lowered tenfold ({max_configs:,} configurations per partition)")))
    threads = lo.threads or os.cpu_count() or 1

    problems = [_problem(p) for p in parts]
    t1 = time.perf_counter()
    if use_native:
        results = _engine.run_native(problems, max_configs, max_steps, threads)
        engine_name = "native"
    else:
        results = _engine.run_python(problems, model.step, max_configs, max_steps)
        engine_name = "python"
    t2 = time.perf_counter()
    for i, p in enumerate(parts):
        if getattr(p, "approx", False) and results[i].status == INVALID and any(
                pl[0] == "empty" for pl in p.payload):
            # dropped info dequeues could have emptied the queue: not a definite finding
            results[i] = SearchResult(UNKNOWN, results[i].kstar, results[i].configs,
                                      results[i].steps, "info dequeues with empty observations")

    def run_sub(prob_list, budget_div=10):
        mc, ms = max(1, max_configs // budget_div), max(1, max_steps // budget_div)
        if use_native:
            return _engine.run_native(prob_list, mc, ms, 1)
        return _engine.run_python(prob_list, model.step, mc, ms)

    initial_dependent = _initial_dependent(parts, results, max_configs, max_steps) if lazy else []
    failing = [(p, r) for p, r in zip(parts, results) if r.status == INVALID]
    unknown = [(p, r) for p, r in zip(parts, results) if r.status == UNKNOWN]
    anomalies: list[Anomaly] = []
    by_size = sorted(range(len(failing)), key=lambda i: len(failing[i][0]))
    detailed = set(by_size[:anomaly_cap])
    for i, (p, r) in enumerate(failing):
        anomalies.append(_anomaly(p, r, model, profile, run_sub, lo.witness_tests,
                                  full=i in detailed))
    anomalies.sort(key=lambda a: (len(a.ops), a.details.get("_order", 0)))
    for a in anomalies:
        a.details.pop("_order", None)
    t3 = time.perf_counter()

    n_ops = sum(len(p) for p in parts)
    slowest = max(zip(parts, results), key=lambda pr: pr[1].configs, default=None)
    stats: dict[str, Any] = {
        "model": model_name, "profile": profile, "engine": engine_name,
        "partitions": len(parts), "partitions_failed": len(failing),
        "partitions_unknown": len(unknown), "ops_checked": n_ops,
        "ops_required": sum(p.required for p in parts),
        "ops_optional": sum(p.crashed for p in parts),
        "ops_dropped": dropped,
        # (skipped for many partitions: it is a display figure, not worth a second pass)
        "max_concurrency": max((_concurrency(p) for p in parts), default=0) if len(parts) <= 1000 else None,
        "configs": sum(r.configs for r in results), "steps": sum(r.steps for r in results),
        "time_s": {"encode": round(t1 - t0, 4), "search": round(t2 - t1, 4),
                   "counterexamples": round(t3 - t2, 4)},
    }
    if stats["max_concurrency"] is None:
        del stats["max_concurrency"]
    if slowest is not None:
        stats["slowest_partition"] = {"key": _jkey(slowest[0].key), "ops": len(slowest[0]),
                                      "configs": slowest[1].configs}
    if unknown:
        stats["unknown_partitions"] = [
            {"key": _jkey(p.key), "limit": r.limit, "configs": r.configs, "steps": r.steps,
             "crashed_ops": p.crashed} for p, r in unknown[:32]]
    reason = None
    if failing:
        valid: Any = False
    elif unknown:
        valid = "unknown"
        first = "; ".join(
            f"key {_short(p.key)}: {r.configs:,} configurations, {r.steps:,} steps, "
            f"{p.crashed} crashed ops" for p, r in unknown[:3])
        budget = [(p, r) for p, r in unknown if r.limit in ("configurations", "steps")]
        lim = sorted({r.limit for _, r in budget})
        parts_txt = []
        if budget:
            parts_txt.append(
                f"{len(budget)} of {len(parts)} partitions exceeded the search budget "
                f"({', '.join(lim)}) ({first}); raise --lin-max-configs or bound crashed "
                f"ops per key")
        if len(budget) < len(unknown):
            parts_txt.append(
                f"{len(unknown) - len(budget)} partitions fail only if crashed dequeues "
                f"never took effect, and the model cannot tell")
        reason = "; ".join(parts_txt) + (
            f"; no violation in the other {len(parts) - len(unknown)}")
    elif initial_dependent:
        valid = "unknown"
        stats["initial_dependent_partitions"] = len(initial_dependent)
        p, guess = initial_dependent[0]
        reason = (f"linearizable only if the registers start with values the history does "
                  f"not record: from absent registers key {_short(_jkey(p.key))} is not"
                  + (f", from {_short(guess)} it is" if guess is not None else "")
                  + "; give the initial state with --lin-initial"
                  + (f" '{_json_short(guess)}'" if guess is not None else " (a JSON object)"))
    elif not parts:
        examined = dropped.get("fail", 0)
        if examined:
            # Every op of the model failed: none took effect, so the empty linearization
            # explains the history (Knossos says valid too); the failed ops were judged.
            valid = True
            stats["ops_judged"] = examined
            notices.append(Anomaly(type="nothing-took-effect", ops=[], explanation=(
                f"all {examined} operations of the {model_name} model failed (none took "
                f"effect): the history is trivially linearizable")))
        else:
            valid = "unknown"
            reason = (f"nothing to check: no operation of the {model_name} model could "
                      f"have taken effect ("
                      + (", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "no ops")
                      + " dropped)")
    else:
        valid = True
    return CheckResult(name=NAME, valid=valid, anomalies=anomalies,
                       anomaly_count=len(anomalies), stats=stats, reason=reason,
                       assumptions=assumptions, notices=notices)


# ---------------------------------------------------------------------------------------


def _problem(p: Partition, keep: list[int] | None = None, required: set[int] | None = None,
             drop_mismatch: bool = False, initial: Any = _UNSET):
    """The engine's view of a partition, or of a sub-history of it: `keep` ranks (all by
    default), of which `required` stay required (the others become optional)."""
    if keep is None:
        return (p.inv, p.ret, p.required, p.payload, p.observer, p.initial)
    req = [r for r in keep if r in required]
    opt = [r for r in keep if r not in required]
    if drop_mismatch:
        req = [r for r in req if not _is_mismatch(p.payload[r])]
    req.sort(key=lambda r: p.ret[r])
    opt.sort(key=lambda r: p.inv[r])
    order = req + opt
    ret = [p.ret[r] for r in req] + [INF] * len(opt)
    return ([p.inv[r] for r in order], ret, len(req), [p.payload[r] for r in order],
            [p.observer[r] for r in order], p.initial if initial is _UNSET else initial), order


def _is_mismatch(payload: Any) -> bool:
    return isinstance(payload, tuple) and len(payload) == 3 and payload[0] == MISMATCH \
        and isinstance(payload[1], int)


def _concurrency(p: Partition) -> int:
    ev = []
    for r in range(len(p)):
        ev.append((p.inv[r], 1))
        if p.ret[r] != INF:
            ev.append((p.ret[r], -1))
    ev.sort()
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def _jkey(k: Any) -> Any:
    return list(k) if isinstance(k, tuple) else k


def _short(v: Any, n: int = 60) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= n else s[: n - 1] + "…"


def _initial_dependent(parts: list[Partition], results: list[SearchResult], max_configs: int,
                       max_steps: int) -> list[tuple[Partition, dict | None]]:
    """Partitions linearizable from an unknown initial state but not from absent
    registers, each with an initial state that works if the obvious guess does (each
    key's value in the earliest-completing read of it before any write), else None."""
    ok = [p for p, r in zip(parts, results) if r.status == VALID]
    if not ok:
        return []
    strict = MultiRegister.step
    again = _engine.run_python([_problem(p) for p in ok], strict, max_configs, max_steps)
    out = []
    for p, r in zip(ok, again):
        if r.status == VALID:
            continue
        guess: dict = {}
        for rank in range(p.required):
            written: set = set()
            for f, k, v in p.payload[rank]:
                if f == "w":
                    written.add(k)
                elif k not in written and k not in guess:
                    guess[k] = v
        init = tuple(sorted(((k, v) for k, v in guess.items() if v is not None), key=repr))
        prob = _problem(p)[:5] + (init,)
        good = _engine.run_python([prob], strict, max_configs, max_steps)[0].status == VALID
        out.append((p, {str(k): v for k, v in sorted(guess.items(), key=repr)} if good else None))
    return out


def _json_short(d: dict) -> str:
    from splitbrain.harness.history import dumps

    return _short(dumps(d).decode(), 120)


# ---------------------------------------------------------------------------------------
# Counterexamples (§5)


def _anomaly(p: Partition, r: SearchResult, model: Model, profile: str, run_sub,
             witness_tests: int, full: bool = True) -> Anomaly:
    from splitbrain.checkers.linearizable import witness as W

    k = r.kstar
    stuck = p.ops[k]
    prev = p.ops[k - 1] if k > 0 else None
    desc = getattr(model, "describe_payload", lambda part, pl: repr(pl))
    states = [model.describe_state(p, s) for s in r.frontier[:8 if full else 4]]
    paths_ix = [[p.ops[o].index for o in path] for path in r.paths]
    key_txt = "" if p.key is None else f"key {_short(p.key)}: "
    if full:
        wit = W.minimal_witness(p, k, run_sub, witness_tests)
    else:
        wit = {"ranks": sorted(set(r.paths[0]) | {k}) if r.paths else [k],
               "minimal": False, "replayed": False, "tests": 0}
    w_ranks = wit["ranks"]
    confidence = "definite"
    if any(_is_mismatch(p.payload[o]) for o in w_ranks):
        prob = _problem(p, w_ranks, set(o for o in w_ranks if o < p.required and
                                        p.ret[o] <= p.ret[k]), drop_mismatch=True,
                        initial=wit.get("initial", p.initial))[0]
        if run_sub([prob])[0].status != INVALID:
            confidence = "assumption:cas-mismatch-observed"
    blocked = W.blocked_candidates(p, r, model) if full else []
    before = (f"every legal order of the {k} operation{'s' if k != 1 else ''} that "
              f"completed before it" if k else "whatever the operations concurrent with it did, "
              "the history up to it")
    noun = _noun(model)
    explanation = (
        f"{key_txt}{stuck.f} op {stuck.index} (process {stuck.process}, "
        f"{desc(p, p.payload[k])}) cannot take effect: {before} leaves the "
        f"{noun} {_states_txt([_at(noun, x) for x in states], r.frontier_count)}"
        + (f" (blocked: {blocked[0]['reason']})" if blocked and blocked[0]["op"] == stuck.index else "")
        + ".")
    details = {
        "model": model.name, "profile": profile, "confidence": confidence,
        "stuck_op": stuck.index, "previous_ok": prev.index if prev is not None else None,
        "prefix": {"linearized_required_ops": k, "partition_required_ops": p.required,
                   "paths": paths_ix,
                   **({"paths_omitted_ops": r.path_omitted} if any(r.path_omitted) else {})},
        "states": {"values": states, "count": r.frontier_count},
        "blocked": blocked,
        "witness": {"ops": sorted(p.ops[o].index for o in w_ranks),
                    "minimal": wit["minimal"], "replayed": wit["replayed"],
                    **({"from_state": model.describe_state(p, wit["initial"]),
                        "after_index": wit["cut"]} if "cut" in wit else {})},
        "partition": {"ops": len(p), "crashed_ops": p.crashed, "configs": r.configs},
        "timeline": W.timeline(p, r, model, w_ranks, blocked) if full else None,
        "_order": p.inv[0] if p.inv else 0,
    }
    if not full:  # beyond anomaly_cap: counted and named, no timeline
        del details["timeline"], details["blocked"]
    return Anomaly(type="nonlinearizable", explanation=explanation,
                   ops=sorted(p.ops[o].index for o in w_ranks),
                   key=p.key, process=stuck.process, details=details)


def _noun(model: Model) -> str:
    return {"mutex": "lock", "multi-register": "registers", "set": "set",
            "list-append": "list", "counter": "counter", "fifo-queue": "queue",
            "unordered-queue": "queue"}.get(model.name, "register")


def _at(noun: str, state: str) -> str:
    if noun == "register":
        return "absent" if state == "absent" else f"holding {state}"
    if noun == "lock":
        return state
    return f"as {state}"


def _states_txt(states: list[str], count: int) -> str:
    shown = states[:4]
    txt = " or ".join(shown) if len(shown) <= 2 else ", ".join(shown[:-1]) + " or " + shown[-1]
    if count > len(shown):
        txt += f" (and {count - len(shown)} more)"
    return txt


__all__ = ["check", "check_linearizable", "LinearizableOptions", "parse_initial",
           "infer_model", "VALID", "INVALID", "UNKNOWN", "MultiRegister", "replace"]
