"""run_checks' forked checker workers (checkers/parallel.py) and the CLI's GC freeze.

The parallel path must give the serial loop's results exactly (verdicts, anomalies,
witnesses, stats, anomaly groups: everything but timings), on every workload, clean
histories and ones with injected anomalies; a worker that dies makes its families
unknown; no family may mutate the shared Analysis (a forked family's changes would not
reach the families after it, so results would differ from the serial loop's).
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import subprocess
import sys

import pytest

from splitbrain.checkers import FAMILIES, JUDGED, _prebuild, parallel, run_checks
from splitbrain.checkers.analysis import Analysis
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events, read_history, write_jsonl
from tests.checkers import lin_gen, propagation_sim, queue_sim, sim, txn_sim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _counter_events(seed: int, n: int = 80, tamper: bool = False) -> list[dict]:
    rnd = random.Random(seed)
    evs, t, state = [], 0, {}
    for i in range(n):
        p, k = i % 4, f"k{rnd.randrange(3)}"
        t += 10
        if rnd.random() < 0.5:
            d = rnd.choice((1, 2, -1))
            typ = rnd.choice(("ok", "ok", "ok", "info", "fail"))
            evs += [{"process": p, "type": "invoke", "f": "add", "key": k, "value": d, "time": t},
                    {"process": p, "type": typ, "f": "add", "key": k, "value": d, "time": t + 5}]
            if typ == "ok" or (typ == "info" and rnd.random() < 0.5):
                state[k] = state.get(k, 0) + d
        else:
            v = state.get(k, 0) + (rnd.choice((0, 7)) if tamper else 0)
            evs += [{"process": p, "type": "invoke", "f": "read", "key": k, "value": None, "time": t},
                    {"process": p, "type": "ok", "f": "read", "key": k, "value": v, "time": t + 5}]
    t += 1000
    for n_, node in enumerate(("n1", "n2")):
        for k in sorted(state):
            t += 10
            v = state[k] + (3 if tamper and n_ else 0)
            base = {"process": 10 + n_, "key": k, "node": node, "final": True}
            evs += [{**base, "type": "invoke", "f": "read", "value": None, "time": t},
                    {**base, "type": "ok", "f": "read", "value": v, "time": t + 5}]
    for i, ev in enumerate(evs):
        ev["index"] = i
    return evs


def _cases():
    """(id, workload, events, checker names or None)."""
    for w in sim.WORKLOADS:
        for seed, store, faults in ((1, "linearizable", ()), (2, "lagging", ()),
                                    (3, "sticky", ("lost-write", "reorder")),
                                    (4, "lagging", ("failed-write-read",))):
            run = sim.simulate(w, store, seed=seed, ops=60, keys=3, faults=faults,
                               final_reads=True, versions=(w == "register" and seed % 2 == 0))
            yield f"{w}-{store}-{seed}", w, run.events, None
    for seed in (5, 6):
        yield f"counter-{seed}", "counter", _counter_events(seed, tamper=seed == 6), None
    rng = random.Random(7)
    for i in range(3):
        evs = lin_gen.random_events(rng, "cas-register", n_ops=8)
        yield f"cas-register-{i}", "cas-register", evs, None
    for store, wl in (("strict", "list-append"), ("si", "list-append"), ("strict", "register"),
                      ("stale-reads", "register")):
        evs = txn_sim.simulate(store, 8, n=40, workload=wl)
        w = "txn-list-append" if wl == "list-append" else "txn-rw-register"
        # the single-key families on a txn history read its micro-ops (the one-key view)
        yield f"{w}-{store}", w, evs, ["transactions", "integrity", "session", "staleness",
                                       "lost-updates", "convergence"]
    for fault in (None, "lose", "duplicate", "reorder"):
        evs, _ = queue_sim.simulate(9, fault)
        yield f"queue-{fault}", "queue", evs, ["queue", "queue-lag", "linearizable"]
    yield "propagation", "propagation", propagation_sim.simulate(10, kill_p=0.2)[0], \
        ["lost-event", "propagation-lag", "integrity"]


CASES = list(_cases())


TIMES = frozenset(("timings_s", "time_s", "seconds"))  # how long things took: not results
LAZY_CACHES = frozenset(("_members",))


def _untimed(x):
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in TIMES}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def _strip(res: dict) -> str:
    return json.dumps(_untimed(res), sort_keys=True, default=repr)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_parallel_results_equal_serial(case):
    _, workload, events, names = case
    hist = history_from_events(events)
    serial = run_checks(hist, CheckOptions(workload=workload, check_workers=1), names)
    forked = run_checks(hist, CheckOptions(workload=workload, check_workers=3), names)
    assert "splitbrain.checkers.analysis" in forked["timings_s"]  # the parallel path ran
    assert "splitbrain.checkers.analysis" not in serial["timings_s"]
    assert _strip(forked) == _strip(serial)


def test_injected_anomalies_are_found_in_parallel_too():
    """The differential cases are not all valid (a test that can fail)."""
    verdicts = set()
    for _, workload, events, names in CASES:
        res = run_checks(history_from_events(events),
                         CheckOptions(workload=workload, check_workers=2), names)
        verdicts.add(res["valid"])
    assert False in verdicts and True in verdicts


@pytest.mark.parametrize("case", [c for c in CASES if c[1] in JUDGED],
                         ids=[c[0] for c in CASES if c[1] in JUDGED])
def test_no_family_mutates_the_shared_analysis(case):
    """Every family leaves the shared tables (and the history) as it found them: the
    forked path relies on it (checkers/parallel.py)."""
    _, workload, events, names = case
    hist = history_from_events(events)
    judged = JUDGED[workload]
    options = CheckOptions(workload=judged.shape)
    single = CheckOptions(workload=judged.micro) if judged.micro else options
    full = Analysis(hist, options)
    shared = {}

    def analysis_for(opts):
        if opts is options:
            return full
        return shared.setdefault("one", full.for_options(opts))

    jobs = list(dict.fromkeys(FAMILIES[n] for n in (names or judged.defaults)))
    _prebuild(jobs, options, single, analysis_for)

    def plain(x, seen):
        if isinstance(x, (str, int, float, bool, type(None), bytes)):
            return x
        if id(x) in seen:
            return ("seen", seen[id(x)])
        seen[id(x)] = len(seen)
        if isinstance(x, dict):
            return ("dict", [(plain(k, seen), plain(v, seen)) for k, v in x.items()])
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, [plain(v, seen) for v in x])
        if isinstance(x, (set, frozenset)):
            return ("set", sorted(map(repr, x)))
        if callable(x):
            return "callable"
        fields = getattr(x, "__dict__", None) or {
            k: getattr(x, k) for c in type(x).__mro__ for k in getattr(c, "__slots__", ())
            if hasattr(x, k)}
        # caches filled on first use, the same whoever fills them (a set index's read
        # members, built lazily by `members()`): not state a worker could leave different
        if not fields:
            return (type(x).__name__, repr(x))
        # (a fresh dict, not passed through `seen`: its id may be reused by the next one)
        return (type(x).__name__, ("dict", [(k, plain(v, seen)) for k, v in fields.items()
                                            if k not in LAZY_CACHES]))

    def snapshot():
        """The history's ops and the shared tables built so far, as plain data."""
        return plain((hist.ops, {name: t for a in (full, *shared.values())
                                 for name, t in a._built.items()}), {})

    import importlib

    from splitbrain.checkers import ANALYSIS_FAMILIES, TXN_FAMILIES
    before = snapshot()
    names_before = [(id(a), list(a._built)) for a in (full, *shared.values())]
    for mod_name in jobs:
        mod = importlib.import_module(mod_name)
        opts = options if mod_name in TXN_FAMILIES else single
        try:
            if mod_name in ANALYSIS_FAMILIES:
                mod.check(hist, opts, analysis=analysis_for(opts))
            else:
                mod.check(hist, opts)
        except Exception:
            pass  # unknown in run_checks; what it did before raising counts too
        # a family may not add tables either: a later forked family would not see them
        # (it would build its own, which costs but changes nothing; no family does now)
        assert [(id(a), list(a._built)) for a in (full, *shared.values())] == names_before
        assert snapshot() == before, f"{mod_name} changed the shared analysis"


def _died(job, reason):
    return {"reason": reason}


def test_a_worker_that_dies_makes_its_family_unknown():
    def run_one(job):
        if job == "b":
            os.kill(os.getpid(), signal.SIGKILL)
        return {"ok": job}

    got, _ = parallel.run_forked(["a", "b", "c"], 1, run_one, _died, parent_works=False)
    assert got["b"]["reason"].startswith("checker worker process failed (killed by SIGKILL)")
    # a and c: claimed by the only worker before or after b (costs tie: in job order)
    assert got["a"] == {"ok": "a"}
    assert "reason" in got["c"]  # its worker was dead before it could claim c


def test_other_workers_finish_the_families_of_a_dead_one():
    def run_one(job):
        if job == "b":
            os._exit(7)
        return {"ok": job}

    got, _ = parallel.run_forked(["a", "b", "c", "d"], 2, run_one, _died, parent_works=False)
    assert "exit status 7" in got["b"]["reason"]
    assert sum("ok" in got[j] for j in "acd") >= 2  # the live worker drained the rest


def test_a_worker_that_raises_makes_its_family_unknown():
    def run_one(job):
        if job == "a":
            raise SystemExit(3)  # not an Exception: run_checks' run_one would not catch it
        return {"ok": job}

    got, _ = parallel.run_forked(["a", "b", "c"], 3, run_one, _died, parent_works=False)
    assert "exit status 1" in got["a"]["reason"]
    assert got["b"] == {"ok": "b"} and got["c"] == {"ok": "c"}


def test_results_that_do_not_pickle_are_shipped_or_run_again_here():
    parent = os.getpid()

    def run_one(job):
        if job == "b":
            return {"x": lambda: 1, "here": os.getpid() == parent}  # never pickles
        return {"x": [lambda: 2], "job": job}

    def ship(family):
        family["x"] = [f() for f in family["x"]]

    got, _ = parallel.run_forked(["a", "b"], 2, run_one, _died, parent_works=False, ship=ship)
    assert got["a"] == {"x": [2], "job": "a"}
    assert got["b"]["here"] is True  # run again in the parent


def test_a_checker_that_raises_is_unknown_in_both_paths(monkeypatch):
    from splitbrain.checkers import convergence

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(convergence, "check", boom)
    hist = history_from_events(sim.simulate("set", "lagging", seed=3, ops=40,
                                            final_reads=True).events)
    s = run_checks(hist, CheckOptions(workload="set", check_workers=1))
    f = run_checks(hist, CheckOptions(workload="set", check_workers=2))
    assert f["checkers"]["convergence"]["valid"] == "unknown"
    assert "boom" in f["checkers"]["convergence"]["reason"]
    assert _strip(f) == _strip(s)


def test_workers_switches(monkeypatch):
    monkeypatch.setattr(parallel, "_cpus", lambda: 4)
    monkeypatch.delenv(parallel.ENV, raising=False)
    big = parallel.MIN_OPS
    assert parallel.workers_for(big, None, 5) == 4
    assert parallel.workers_for(big, None, 2) == 2  # no more workers than families
    assert parallel.workers_for(big - 1, None, 5) == 1  # small histories: serial
    assert parallel.workers_for(big, None, 1) == 1
    assert parallel.workers_for(10, 3, 5) == 3  # the option forces it
    assert parallel.workers_for(big, 1, 5) == 1
    for shape in ("set", "list-append"):  # their families cost less than a fork
        assert parallel.workers_for(big, None, 5, shape) == 1
        assert parallel.workers_for(big, 3, 5, shape) == 3  # unless the option asks
    assert parallel.workers_for(big, None, 5, "register") == 4
    monkeypatch.setenv(parallel.ENV, "1")
    assert parallel.workers_for(big, None, 5) == 1
    monkeypatch.setenv(parallel.ENV, "2")
    assert parallel.workers_for(big, None, 5) == 2
    monkeypatch.setenv(parallel.ENV, "lots")
    assert parallel.workers_for(big, None, 5) == 1
    monkeypatch.delenv(parallel.ENV)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.workers_for(big, 3, 5) == 1  # another thread is running: never fork


def test_serial_when_disabled(monkeypatch):
    def no_fork(*a, **k):
        raise AssertionError("forked")

    monkeypatch.setattr(parallel, "run_forked", no_fork)
    monkeypatch.setattr(parallel, "MIN_OPS", 1)
    monkeypatch.setenv(parallel.ENV, "1")
    hist = history_from_events(sim.simulate("set", "lagging", seed=3, ops=40).events)
    run_checks(hist, CheckOptions(workload="set"))
    monkeypatch.delenv(parallel.ENV)
    run_checks(hist, CheckOptions(workload="set", check_workers=1))


def test_library_calls_never_freeze_the_gc(tmp_path):
    path = tmp_path / "h.jsonl"
    write_jsonl(sim.simulate("register", "lagging", seed=1, ops=30).events, path)
    before = gc.get_freeze_count()
    read_history(str(path))
    from splitbrain.harness.cli import main
    with pytest.raises(SystemExit):
        main(["check", str(path), "-q"])
    assert gc.get_freeze_count() == before


_PROBE = """
import gc, sys
sys.argv = ["splitbrain", *sys.argv[1:]]
from splitbrain.harness import cli, history
try:
    cli.main()
except SystemExit:
    pass
print(history._ONE_SHOT, gc.get_freeze_count() > 0, file=sys.stderr)
"""


@pytest.mark.parametrize("argv, frozen", [(["check", "-q"], True), (["--version"], False)])
def test_the_cli_freezes_what_check_loads(tmp_path, argv, frozen):
    path = tmp_path / "h.jsonl"
    write_jsonl(sim.simulate("register", "lagging", seed=1, ops=30).events, path)
    args = [*argv[:1], str(path), *argv[1:]] if frozen else argv
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert p.stderr.strip().splitlines()[-1] == f"{frozen} {frozen}"


def test_workers_take_the_default_action_on_sigterm():
    """The harness turns SIGTERM into KeyboardInterrupt (harness/cli.py); a worker must
    not: it dies, and never runs the caller's cleanup."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        def run_one(job):
            os.kill(os.getpid(), signal.SIGTERM)
            return {"ok": job}

        got, _ = parallel.run_forked(["a"], 1, run_one, _died, parent_works=False)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert "killed by SIGTERM" in got["a"]["reason"]


def test_serial_when_fork_fails(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel.os, "fork", no_fork)
    hist = history_from_events(sim.simulate("set", "lagging", seed=3, ops=40,
                                            final_reads=True).events)
    f = run_checks(hist, CheckOptions(workload="set", check_workers=2))
    s = run_checks(hist, CheckOptions(workload="set", check_workers=1))
    assert "splitbrain.checkers.analysis" not in f["timings_s"]
    assert _strip(f) == _strip(s)
