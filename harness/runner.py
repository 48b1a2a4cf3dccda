"""One test run, end to end, with cleanup that always happens.

    provision nodes ─► set up + start the DB ─► workers + nemesis for `time_limit`
    ─► heal every fault ─► quiesce ─► final reads on every node ─► tear down
    ─► check the history ─► results.json + reports

Every resource is registered on an ExitStack as it is created, so `finally`, Ctrl-C and
SIGTERM all unwind the same way (style: cleanup is structural). The history is appended
and flushed line by line as the run goes, so an interrupted run leaves a readable file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from splitbrain.harness.config import Test, nemesis_options_of, with_seed
from splitbrain.harness.dbs.base import Claims, Settles
from splitbrain.harness.errors import EnvironmentProblem, InputError
from splitbrain.harness.generator import Clock, Pacer, ProcessIds
from splitbrain.harness.history import HistoryWriter, dumps
from splitbrain.harness.store import new_run_dir, update_latest
from splitbrain.harness.verdict import EXIT_INTERRUPTED, EXIT_INVALID, exit_code

log = logging.getLogger("splitbrain")

FINAL_READ_ROUNDS = 4


@dataclass
class RunOutcome:
    """What `run_test` returns: where the run lives, its results and its exit code."""

    run_dir: str
    results: dict | None
    exit_code: int
    interrupted: bool = False
    report_path: str | None = None
    figures: dict = field(default_factory=dict)
    # the cluster's cleanup report: {"ok", "errors", "prefix"}; None if nothing was made
    cleanup: dict | None = None

    @property
    def valid(self) -> Any:
        return None if self.results is None else self.results.get("valid")


class LiveStats:
    """Counters the progress display reads (updated from worker threads)."""

    def __init__(self) -> None:
        self.ok = self.fail = self.info = 0
        self.active: list[str] = []
        self.phase = "starting"
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def count(self, typ: str) -> None:
        with self._lock:
            if typ == "ok":
                self.ok += 1
            elif typ == "fail":
                self.fail += 1
            else:
                self.info += 1

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info


# ------------------------------------------------------------------------------------
# Preflight


NETNS_TOOLS = ("ip", "iptables")


def preflight(test: Test) -> None:
    """One clear sentence for each thing the machine lacks (exit 254).

    Only the netns backend runs the datastore on this machine; docker and ssh nodes bring
    their own tools (their clusters check them against the datastore's NodeNeeds)."""
    from splitbrain.harness.cluster import backend

    if not backend(test.backend).local:
        return
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "splitbrain run with the netns backend needs root (it creates network namespaces, "
            "a bridge and iptables rules): run it with sudo or as root")
    needs = test.datastore.needs
    missing = [t for t in (*NETNS_TOOLS, *needs.commands) if shutil.which(t) is None]
    if missing:
        hint = needs.hint or f"apt-get install {' '.join(needs.packages)}"
        raise EnvironmentProblem(f"missing tools: {', '.join(missing)}; install them with {hint}")


# ------------------------------------------------------------------------------------
# Signals: SIGTERM behaves like Ctrl-C; a second signal during cleanup is ignored.


class _SignalState:
    """What the handler saw: `fired` once the first signal turned into KeyboardInterrupt;
    `late` lists signals that arrived once unwinding had begun (shielded, not raised)."""

    def __init__(self) -> None:
        self.fired = False
        self.shielded = False
        self.late: list[int] = []


_ACTIVE: list[_SignalState] = []  # the state of the run in progress (main thread only)


def _shield_signals() -> None:
    """From here on, SIGINT/SIGTERM are recorded but never interrupt: cleanup runs whole."""
    if _ACTIVE:
        _ACTIVE[-1].shielded = True


@contextmanager
def signals_as_interrupt():
    """SIGTERM behaves like Ctrl-C, until unwinding starts (`_shield_signals`, called by
    the teardown stack on its way out): a signal after that is logged and remembered, so
    the run still exits 130, but the teardown it would have cut short completes."""
    state = _SignalState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if state.fired or state.shielded:
            state.late.append(signum)
            log.warning("signal %s during cleanup ignored; still cleaning up", signum)
            return
        state.fired = True
        raise KeyboardInterrupt(f"signal {signum}")

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, handler)
    _ACTIVE.append(state)
    try:
        yield state
    finally:
        _ACTIVE.remove(state)
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


class _TeardownStack(ExitStack):
    """The run's resources. Leaving it (normally, on error or on an interrupt) first
    shields the process from further signals, so no teardown step is ever cut short."""

    def __exit__(self, *exc):
        _shield_signals()
        return super().__exit__(*exc)


class StoreWriteError(InputError):
    """The store could not be written (full or read-only): the run stopped cleanly."""


def _down(cluster, figures: dict) -> None:
    """Tear the cluster down and keep its cleanup report: "cleaned up" is claimed only
    when the report says nothing failed."""
    prefix = getattr(cluster, "prefix", None)
    try:
        rep = cluster.down()
        errors = list(getattr(rep, "errors", []) or [])
    except Exception as e:
        errors = [f"cluster teardown failed: {type(e).__name__}: {e}"]
    figures["cleanup"] = {"ok": not errors, "errors": errors, "prefix": prefix}
    if errors:
        log.error("cleanup of %s left: %s", prefix, "; ".join(errors))


class _QuietFileHandler(logging.FileHandler):
    """The run log; a full or read-only store disables it instead of printing a
    traceback for every record (the run reports the store error itself)."""

    def handleError(self, record):  # noqa: N802 (logging's name)
        self.setLevel(logging.CRITICAL + 1)


# ------------------------------------------------------------------------------------
# Building the parts (each import is local so `splitbrain check` never needs them)


def _make_cluster(test: Test, prefix: str, run_dir: str):
    from splitbrain.harness.cluster import backend

    from splitbrain.workloads.propagation import node_needs

    return backend(test.backend).make(test, prefix, os.path.join(run_dir, "nodes"),
                                      node_needs(test, test.datastore.needs))


def _make_db(test: Test, nodes, run_dir: str, prefix: str, env_fn: Callable):
    from splitbrain.harness.dbs.base import DBContext

    spec = test.datastore
    return spec.make(list(nodes), DBContext(store_dir=run_dir, prefix=prefix, node_env=env_fn),
                     spec.options_of(test))


class _LateNodeEnv:
    """node -> env for the DB's starts, answered by the nemesis package once it exists."""

    source: Callable | None = None

    def __call__(self, node) -> dict:
        return self.source(node) if self.source is not None else {}


def _make_workload(test: Test):
    from splitbrain.workloads import get_workload

    opts: dict[str, Any] = {"keys_active": test.keys_active}
    if test.max_writes_per_key:
        opts["max_writes_per_key"] = test.max_writes_per_key
    wl = get_workload(test.workload, **opts)
    if callable(getattr(wl, "configure", None)):
        wl.configure(test)  # run options of its own (propagation: --consumer-idempotency)
    return wl


def _make_nemesis(test: Test, nodes, db, prefix: str, rng: random.Random):
    from splitbrain.nemesis.schedule import build_package

    return build_package(test.nemesis, nodes=nodes, db=db, prefix=prefix, rng=rng,
                         interval=test.nemesis_interval, options=nemesis_options_of(test))


def _parallel(fn: Callable, items: list) -> None:
    """Run fn over items in threads; re-raise the first error."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=len(items)) as ex:
        for fut in [ex.submit(fn, it) for it in items]:
            fut.result()


# ------------------------------------------------------------------------------------
# The run


class _Recorder:
    """Writes invocations/completions to the history and counts them."""

    def __init__(self, writer: HistoryWriter, stats: LiveStats):
        self.writer = writer
        self.stats = stats

    def invoke(self, process: Any, op: dict, **extra: Any) -> dict:
        ev = {"process": process, "type": "invoke", "f": op["f"]}
        if op.get("key") is not None:
            ev["key"] = op["key"]
        ev["value"] = None if op["f"] == "read" else op.get("value")
        ev.update(extra)
        return self.writer.append(ev)

    def complete(self, process: Any, op: dict, comp: dict, **extra: Any) -> dict:
        typ = comp.get("type", "info")
        if typ not in ("ok", "fail", "info"):
            typ = "info"
        ev = {"process": process, "type": typ, "f": op["f"]}
        if op.get("key") is not None:
            ev["key"] = op["key"]
        ev["value"] = comp["value"] if "value" in comp else op.get("value")
        for k in ("version", "node", "error", "versions"):  # versions: txn per-mop versions
            if comp.get(k) is not None:
                ev[k] = comp[k]
        ev.update(comp.get("extra") or {})  # e.g. a queue send's `offset`
        ev.update(extra)
        if process != "nemesis":
            self.stats.count(typ)
        return self.writer.append(ev)


def _client_invoke(client, op: dict) -> dict:
    try:
        return client.invoke(op)
    except Exception as e:  # a client must map errors; if it didn't, the op is indeterminate
        return {"type": "info", "error": f"client error: {type(e).__name__}: {e}"}


def _worker(i: int, *, test: Test, nodes, db, workload, pacer: Pacer, rec: _Recorder,
            pids: ProcessIds, seed: int) -> None:
    rng = random.Random(seed * 1_000_003 + i)
    process = pids.first(i)
    sticky = nodes[i % len(nodes)]
    clients: dict[str, Any] = {}

    def client_for(node):
        c = clients.get(node.name)
        if c is None:
            c = _open_client(db, node, workload, process)
            clients[node.name] = c
        return c

    try:
        while pacer.wait():
            node = sticky if test.stickiness == "node" else rng.choice(nodes)
            op = workload.next_op(process, rng)
            try:
                client = client_for(node)
            except Exception as e:
                log.warning("worker %d: cannot open a client on %s: %s", i, node.name, e)
                time.sleep(0.2)
                continue
            rec.invoke(process, op)
            comp = _client_invoke(client, op)
            rec.complete(process, op, comp)
            if comp.get("type") not in ("ok", "fail"):
                # Indeterminate: this process is retired, the worker goes on as a new one.
                for c in clients.values():
                    _close_quietly(c)
                clients.clear()
                process = pids.next_after_info(process)
    finally:
        for c in clients.values():
            _close_quietly(c)


def _open_client(db, node, workload, process: int, *, final: bool = False):
    """A client for the workload's data model, validated at the seam (harness/dbs/validate.py)."""
    from splitbrain.harness.dbs.validate import ValidatingClient

    # a workload written before harness/models.py names no spec: its name goes through
    spec = getattr(workload, "spec", None)
    raw = db.client(node, spec if spec is not None else workload.name, process, final=final)
    return ValidatingClient(raw, spec, name=f"{db.name} {node.name}")


def _close_quietly(client) -> None:
    try:
        client.close()
    except Exception:
        pass


def _nemesis_loop(pkg, rec: _Recorder, stop: threading.Event, stats: LiveStats,
                  state: dict) -> None:
    """Every `interval`: one fault, then at once any follow-up samples it asked for.

    A nemesis thread that dies must not leave a run that looks as if it tested faults:
    the error goes into `state`, and the verdict becomes unknown (analyse)."""
    try:
        while not stop.wait(pkg.interval):
            fault = pkg.next_fault()
            while fault is not None:
                _nemesis_do(pkg, fault, rec)
                stats.active = list(pkg.active())
                fault = pkg.next_fault() if pkg.has_follow_up() and not stop.is_set() else None
    except BaseException as e:  # noqa: BLE001 - recorded, and the run's verdict says so
        log.exception("nemesis thread died: %s", e)
        state["error"] = f"{type(e).__name__}: {e}"


def _nemesis_do(pkg, fault: dict, rec: _Recorder) -> None:
    family, phase = pkg.describe(fault)
    tags = {"family": family, "phase": phase} if family else {}
    rec.invoke("nemesis", fault, **tags)
    try:
        comp = pkg.invoke(fault)
    except Exception as e:  # the obligation is not to raise; record it if one does
        comp = {"type": "info", "error": f"{type(e).__name__}: {e}"}
    comp = dict(comp)
    comp["type"] = "info"
    rec.complete("nemesis", fault, comp, **tags)


def nemesis_accounting(requested: list[str], events: list[dict]) -> dict:
    """{"requested", "applied": {family: n}, "failed": {family: n}} from recorded nemesis
    completions: a start counts as applied when it came back without an error."""
    applied = {f: 0 for f in requested}
    failed = {f: 0 for f in requested}
    for ev in events:
        if ev.get("type") == "invoke" or ev.get("phase") != "start":
            continue
        fam = ev.get("family")
        if not isinstance(fam, str):
            continue
        bucket = failed if ev.get("error") else applied
        bucket[fam] = bucket.get(fam, 0) + 1
    return {"requested": list(requested), "applied": applied, "failed": failed}


def _final_reads(test: Test, nodes, db, workload, rec: _Recorder, first_process: int,
                 deadline: float) -> None:
    """Read every key on every node, repeating while nodes disagree (checker-spec P15)."""
    keys = list(workload.final_keys())
    if not keys:
        return
    procs = {n.name: first_process + j for j, n in enumerate(nodes)}
    clients = {}
    for n in nodes:
        try:
            clients[n.name] = _open_client(db, n, workload, procs[n.name], final=True)
        except Exception as e:
            log.warning("final reads: no client on %s: %s", n.name, e)

    def read_all(node) -> dict:
        seen = {}
        c = clients.get(node.name)
        if c is None:
            return seen
        for k in keys:
            op = {"f": "read", "key": k}
            p = procs[node.name]
            rec.invoke(p, op, node=node.name, final=True)
            comp = _client_invoke(c, op)
            comp.setdefault("node", node.name)
            rec.complete(p, op, comp, final=True)
            if comp.get("type") == "ok":
                seen[k] = repr(comp.get("value"))
            else:
                seen[k] = None
                if comp.get("type") == "info":
                    _close_quietly(c)
                    procs[node.name] = p + len(nodes)
                    try:
                        c = clients[node.name] = _open_client(db, node, workload,
                                                              procs[node.name], final=True)
                    except Exception:
                        clients.pop(node.name, None)
                        return seen
        return seen

    for rnd in range(FINAL_READ_ROUNDS):
        views = {}
        with ThreadPoolExecutor(max_workers=len(nodes)) as ex:
            for node, seen in zip(nodes, ex.map(read_all, nodes)):
                views[node.name] = seen
        agree = all(len({v.get(k) for v in views.values()}) == 1 and
                    all(v.get(k) is not None for v in views.values()) for k in keys)
        if agree or time.monotonic() + 1.0 > deadline:
            break
        time.sleep(1.0)
    for c in clients.values():
        _close_quietly(c)


def _setup_logging(run_dir: str) -> logging.Handler:
    h = _QuietFileHandler(os.path.join(run_dir, "splitbrain.log"))
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(h)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return h


def _write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(dumps(obj))
        fh.write(b"\n")
    os.replace(tmp, path)


def run_test(test: Test, *, progress: Callable[[LiveStats, Test], None] | None = None) -> RunOutcome:
    """Run one test and return its outcome. Cleans up on every exit path.

    An interrupt (SIGINT/SIGTERM) at any instant gives exit 130 with the history written
    so far; once teardown starts it can no longer be cut short. A full or read-only store
    stops the run cleanly (StoreWriteError, exit 254). A run refused at start (bad input)
    leaves no run directory behind."""
    preflight(test)
    test = with_seed(test)
    run_dir = new_run_dir_checked(test.store, test.test_name)
    try:
        _write_json(os.path.join(run_dir, "test.json"), test.to_json())
        handler = _setup_logging(run_dir)
    except OSError as e:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise StoreWriteError(f"the store {test.store} cannot be written ({e.strerror or e}); "
                              "nothing was started") from None
    from splitbrain.harness.registry import new_run_prefix

    prefix = new_run_prefix()
    log.info("run %s prefix %s seed %s: %s", run_dir, prefix, test.seed, test.to_json())
    stats = LiveStats()
    figures: dict[str, Any] = {}
    nem_state: dict[str, Any] = {}
    interrupted = False
    discard = False
    history_path = os.path.join(run_dir, "history.jsonl")
    stop = threading.Event()
    try:
        with signals_as_interrupt() as sig:
            try:
                _run_phases(test, prefix, run_dir, history_path, stats, stop, figures, progress,
                            nem_state)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
            except InputError as e:
                stop.set()
                cleanup_info = figures.get("cleanup")
                if cleanup_info and not cleanup_info["ok"]:
                    e.args = (f"{e.args[0] if e.args else e}; {_leftover_sentence(cleanup_info)}",)
                # refused at start (e.g. a subnet in use): nothing was recorded, nothing kept
                discard = not os.path.exists(history_path) and not isinstance(e, StoreWriteError)
                raise
        interrupted = interrupted or bool(sig.late)
        cleanup_info = figures.pop("cleanup", None)
        if interrupted:
            log.warning("interrupted; %s", "cleaned up" if cleanup_info is None or
                        cleanup_info["ok"] else _leftover_sentence(cleanup_info))
            _update_latest_quietly(run_dir)
            return RunOutcome(run_dir=run_dir, results=None, exit_code=EXIT_INTERRUPTED,
                              interrupted=True, figures=figures, cleanup=cleanup_info)
        try:
            stats.phase = "checking"
            if progress:
                progress(stats, test)
            results, report_path = analyse(run_dir, test, figures, nemesis_state=nem_state)
        except OSError as e:
            raise StoreWriteError(f"the store cannot be written ({e.strerror or e}) while "
                                  f"saving the verdict; the history is {history_path}") from None
        except KeyboardInterrupt:
            # checking is interruptible (nothing to clean up); the run still counts as run
            log.warning("interrupted while checking")
            _update_latest_quietly(run_dir)
            return RunOutcome(run_dir=run_dir, results=None, exit_code=EXIT_INTERRUPTED,
                              interrupted=True, figures=figures, cleanup=cleanup_info)
        _update_latest_quietly(run_dir)
        return RunOutcome(run_dir=run_dir, results=results,
                          exit_code=exit_code(results["valid"], test.fail_on),
                          report_path=report_path,
                          figures=figures, cleanup=cleanup_info)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        if discard:
            shutil.rmtree(run_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(run_dir))  # the test dir, if this was its only run


def new_run_dir_checked(store: str, test_name: str) -> str:
    """A fresh run dir; an unwritable store is one sentence (254) before anything starts."""
    try:
        return new_run_dir(store, test_name)
    except OSError as e:
        raise StoreWriteError(f"the store {store} cannot be written ({e.strerror or e}); "
                              "nothing was started") from None


def _update_latest_quietly(run_dir: str) -> None:
    try:
        update_latest(run_dir)
    except OSError as e:
        log.warning("cannot update the latest links for %s: %s", run_dir, e)


def _leftover_sentence(cleanup_info: dict) -> str:
    return (f"cleanup did not finish ({'; '.join(cleanup_info['errors'])[:600]}); remove "
            f"the rest with `splitbrain cleanup --prefix {cleanup_info['prefix']}`")


def _run_phases(test: Test, prefix: str, run_dir: str, history_path: str, stats: LiveStats,
                stop: threading.Event, figures: dict, progress, nem_state: dict) -> None:
    t_begin = time.monotonic()
    seed = int(test.seed or 0)
    with _TeardownStack() as stack:
        cluster = _make_cluster(test, prefix, run_dir)
        if not test.leave_db_running:
            stack.callback(_down, cluster, figures)
        stats.phase = "provisioning nodes"
        nodes = cluster.up()
        log.info("nodes: %s", [(n.name, n.address) for n in nodes])

        # The DB reads the nemeses' node env (the clock shim) at every start; the nemeses
        # need the DB (kill, pause, primaries): bind the env once both exist.
        node_env = _LateNodeEnv()
        db = _make_db(test, nodes, run_dir, prefix, node_env)
        pkg = _make_nemesis(test, nodes, db, prefix, random.Random(seed + 1))
        node_env.source = pkg.node_env
        if isinstance(db, Claims):
            figures["claims"] = dict(db.claims)

        def teardown_db():
            for n in nodes:
                try:
                    db.teardown(n)
                except Exception as e:
                    log.warning("teardown of %s failed: %s", n.name, e)

        if not test.leave_db_running:
            stack.callback(teardown_db)
        stack.callback(pkg.teardown)
        pkg.setup()
        stats.phase = f"starting {test.db}"
        _parallel(db.setup, nodes)
        _parallel(db.start, nodes)
        db.wait_ready(float(db.ready_timeout))
        workload = _make_workload(test)

        clock = Clock()
        writer = HistoryWriter(history_path, time_fn=clock.now)
        stack.callback(writer.close)
        rec = _Recorder(writer, stats)
        start_agents = getattr(workload, "start_agents", None)  # propagation: relay, consumer
        if start_agents is not None:
            stack.callback(start_agents(nodes, db, rec, prefix, run_dir))
            if pkg.pipeline is not None:  # the pipeline faults act on the workload's agents
                pkg.pipeline.attach(workload.agents)
        figures["time_to_first_op_s"] = round(time.monotonic() - t_begin, 3)

        deadline = time.monotonic() + test.time_limit
        pacer = Pacer(test.rate, deadline=deadline, max_ops=test.max_ops, stop=stop,
                      rng=random.Random(seed + 2))
        pids = ProcessIds(test.concurrency)
        stats.phase = "running"
        stats.started = time.monotonic()
        workers = [threading.Thread(target=_worker, name=f"worker-{i}", daemon=True,
                                    kwargs=dict(i=i, test=test, nodes=nodes, db=db,
                                                workload=workload, pacer=pacer, rec=rec,
                                                pids=pids, seed=seed))
                   for i in range(test.concurrency)]
        nem_stop = threading.Event()
        nem = threading.Thread(target=_nemesis_loop, name="nemesis", daemon=True,
                               args=(pkg, rec, nem_stop, stats, nem_state))
        for w in workers:
            w.start()
        nem.start()
        try:
            while (time.monotonic() < deadline and any(w.is_alive() for w in workers)
                   and writer.failed is None):
                if progress:
                    progress(stats, test)
                time.sleep(0.25)
        finally:
            stop.set()
            nem_stop.set()
            for w in workers:
                w.join(timeout=15)
            nem.join(timeout=30)
        _raise_if_store_failed(writer, history_path)
        run_s = time.monotonic() - stats.started
        figures["ops_recorded"] = stats.total
        figures["ops_per_s"] = round(stats.total / run_s, 1) if run_s > 0 else 0.0

        stats.phase = "healing"
        if progress:
            progress(stats, test)
        for fault in pkg.final_ops():
            _nemesis_do(pkg, fault, rec)
        stats.active = list(pkg.active())
        stats.phase = f"quiescing {test.quiesce:g}s"
        if progress:
            progress(stats, test)
        time.sleep(test.quiesce)
        if isinstance(db, Settles):
            # e.g. Sentinel demotes an isolated old primary only seconds after the heal;
            # final reads before that would judge a cluster still mid-failover (P15).
            stats.phase = "waiting for the cluster to settle"
            unsettled = db.settle(30.0)
            if unsettled:
                log.warning("cluster did not settle before final reads: %s", unsettled)
        stats.phase = "final reads"
        if progress:
            progress(stats, test)
        final_phase = getattr(workload, "final_phase", None) or _final_reads  # queue: drains
        final_phase(test, nodes, db, workload, rec,
                    first_process=pids.next_after_info(10**6),
                    deadline=time.monotonic() + max(5.0, 2 * test.quiesce))
        _raise_if_store_failed(writer, history_path)
        stats.phase = "tearing down"
        if progress:
            progress(stats, test)
    if test.leave_db_running:
        log.info("--leave-db-running: cluster %s left up; `splitbrain cluster down %s` removes it",
                 prefix, prefix)
        figures["left_running"] = prefix


def _raise_if_store_failed(writer: HistoryWriter, history_path: str) -> None:
    if writer.failed is not None:
        e = writer.failed
        raise StoreWriteError(
            f"the store cannot be written ({e.strerror or e}): the run stopped and tore down; "
            f"the {writer.count} events written so far are in {history_path}")


def analyse(run_dir: str, test: Test, figures: dict | None = None, *,
            nemesis_state: dict | None = None) -> tuple[dict, str | None]:
    """Check the run's history and write results.json (+ reports when available).

    A run whose requested nemesis never applied a fault, or whose nemesis thread died,
    tested less than it was asked to: a `valid` verdict becomes `unknown` with the reason
    (an INVALID one stays: its anomalies are real whatever the faults did)."""
    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import read_history

    hist = read_history(os.path.join(run_dir, "history.jsonl"))
    wl = _make_workload(test)
    opts = CheckOptions.from_test(test, history=getattr(wl, "history", None),
                                  **test.datastore.check_options)
    names = list(test.checkers or getattr(wl, "checkers", ())) or None
    claims = (figures or {}).get("claims") or {}
    if not test.checkers and test.workload == "register" and claims.get("linearizable_registers"):
        # the store claims linearizable registers in this configuration (its Claims, e.g.
        # Redis with every op on the primary, etcd with linearizable reads;
        # linearizability.md §7.2): check that claim too
        names = [*(names or []), "linearizable"]
    if "transactions" in claims and not opts.consistency_models:
        # the model the store claims for txns in this configuration is what they are
        # judged against (transactions.md §5.4); none claimed: the checker's default
        from dataclasses import replace as _replace
        opts = _replace(opts, txn_claim=(claims["transactions"],
                                         str(claims.get("transactions_why", ""))))
    results = run_checks(hist, opts, names)
    results["run"] = {"dir": run_dir, "seed": test.seed, "test": test.test_name,
                      **(figures or {})}
    _judge_nemesis(results, test, hist, nemesis_state or {})
    _write_json(os.path.join(run_dir, "results.json"), results)
    report_path = None
    try:
        from splitbrain.reports.outputs import write_outputs
    except ImportError:
        write_outputs = None
    if write_outputs is not None:
        try:
            paths = write_outputs(run_dir, results, history=hist, test=test.to_json(),
                                  fail_on=test.fail_on, write_results=False)
            report_path = paths.get("report.html")
        except Exception as e:  # a report bug must not hide the verdict
            log.exception("report generation failed: %s", e)
    return results, report_path


def _judge_nemesis(results: dict, test: Test, hist, state: dict) -> None:
    from splitbrain.nemesis.schedule import parse_spec

    acct = nemesis_accounting(list(parse_spec(test.nemesis)), hist.nemesis)
    reason = None
    if state.get("error"):
        reason = f"the nemesis thread died ({state['error']}): the requested faults were not all injected"
    elif acct["requested"] and not any(acct["applied"].values()):
        tried = sum(acct["failed"].values())
        reason = (f"the requested nemesis ({test.nemesis}) applied no fault"
                  + (f": all {tried} attempts failed" if tried else
                     f" (no fault fits in {test.time_limit:g}s at one per "
                     f"{test.nemesis_interval:g}s)" if test.nemesis_interval >= test.time_limit
                     else " (none was started before the time limit)"))
    if reason:
        acct["reason"] = reason
        if results.get("valid") is True:
            results["valid"] = "unknown"
    results["nemesis"] = acct


def run_many(test: Test, *, progress=None, on_outcome: Callable[[RunOutcome], None] | None = None
             ) -> list[RunOutcome]:
    """`--test-count N`: stop at the first invalid or interrupted run (like Jepsen)."""
    outcomes = []
    for n in range(test.test_count):
        t = test if test.seed is None or n == 0 else replace(test, seed=test.seed + n)
        out = run_test(t, progress=progress)
        outcomes.append(out)
        if on_outcome:
            on_outcome(out)
        if out.interrupted or out.exit_code == EXIT_INVALID:
            break
    return outcomes
