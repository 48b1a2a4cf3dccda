"""One test run, end to end, with cleanup that always happens.

    provision nodes ─► set up + start the DB ─► workers + nemesis for `time_limit`
    ─► heal every fault ─► quiesce ─► final reads on every node ─► tear down
    ─► check the history ─► results.json + reports

Every resource is registered on an ExitStack as it is created, so `finally`, Ctrl-C and
SIGTERM all unwind the same way (style: cleanup is structural). The history is appended
and flushed line by line as the run goes, so an interrupted run leaves a readable file.
"""

from __future__ import annotations

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

from harness.config import Test, nemesis_options_of, with_seed
from harness.errors import EnvironmentProblem
from harness.generator import Clock, Pacer, ProcessIds
from harness.history import HistoryWriter, dumps
from harness.store import new_run_dir, update_latest

log = logging.getLogger("splitbrain")

EXIT_INTERRUPTED = 130
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


REQUIRED_TOOLS = {
    "netns": ["ip", "iptables"],
    "redis": ["redis-server", "redis-cli"],
    "sentinel": ["redis-sentinel"],
    "cassandra": ["java"],
    "etcd": ["etcd"],
    "kafka": ["java"],
}


def preflight(test: Test) -> None:
    """One clear sentence for each thing the machine lacks (exit 254).

    Only the netns backend runs the datastore on this machine; docker and ssh nodes bring
    their own tools (their clusters check them)."""
    if test.backend != "netns":
        return
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "splitbrain run with the netns backend needs root (it creates network namespaces, "
            "a bridge and iptables rules): run it with sudo or as root")
    need = list(REQUIRED_TOOLS.get(test.backend, []))
    need += REQUIRED_TOOLS.get(test.db, [])
    if test.db == "redis" and test.topology == "sentinel":
        need += REQUIRED_TOOLS["sentinel"]
    missing = [t for t in need if shutil.which(t) is None]
    if missing:
        hint = ("bash scripts/setup.sh --cassandra (Debian: openjdk-17-jre-headless maven)"
                if test.db in ("cassandra", "kafka") else
                "bash scripts/setup.sh (Debian: etcd-server iptables iproute2)"
                if test.db == "etcd" else
                "bash scripts/setup.sh (Debian: redis-server redis-sentinel redis-tools "
                "iptables iproute2)")
        raise EnvironmentProblem(f"missing tools: {', '.join(missing)}; install them with {hint}")


# ------------------------------------------------------------------------------------
# Signals: SIGTERM behaves like Ctrl-C; a second signal during cleanup is ignored.


@contextmanager
def signals_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"fired": False}

    def handler(signum, frame):
        if state["fired"]:
            log.warning("signal %s during cleanup ignored; still cleaning up", signum)
            return
        state["fired"] = True
        raise KeyboardInterrupt(f"signal {signum}")

    old_term = signal.signal(signal.SIGTERM, handler)
    old_int = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


# ------------------------------------------------------------------------------------
# Building the parts (each import is local so `splitbrain check` never needs them)


def _make_cluster(test: Test, prefix: str, run_dir: str):
    workdir_root = os.path.join(run_dir, "nodes")
    if test.backend == "docker":
        from harness.cluster.docker import DockerCluster

        return DockerCluster(prefix=prefix, nodes=test.nodes, subnet=test.subnet,
                             workdir_root=workdir_root, image=test.image,
                             docker_host=test.docker_host, db=test.db)
    if test.backend == "ssh":
        from harness.cluster.ssh import SSHCluster, read_nodes_file

        hosts = list(test.ssh_nodes) + (read_nodes_file(test.nodes_file) if test.nodes_file else [])
        return SSHCluster(prefix=prefix, hosts=hosts, user=test.ssh_user, key=test.ssh_key,
                          password=test.ssh_password, insecure=test.ssh_insecure,
                          workdir_root=workdir_root, db=test.db,
                          known_hosts=[test.ssh_known_hosts] if test.ssh_known_hosts else None)
    from harness.cluster.netns import NetnsCluster

    return NetnsCluster(prefix=prefix, nodes=test.nodes, subnet=test.subnet,
                        workdir_root=workdir_root)


def _make_db(test: Test, nodes, run_dir: str, prefix: str, env_fn: Callable):
    if test.db == "cassandra":
        from harness.dbs.cassandra import CassandraDB

        return CassandraDB(nodes, store_dir=run_dir, prefix=prefix, extra_env_fn=env_fn,
                           read_consistency=test.read_consistency,
                           write_consistency=test.write_consistency,
                           timestamps=test.timestamps, version=test.cassandra_version,
                           home=test.cassandra_home,
                           commitlog_sync=test.cassandra_commitlog_sync)
    if test.db == "etcd":
        from harness.dbs.etcd import EtcdDB, EtcdOptions

        return EtcdDB(nodes, store_dir=run_dir, prefix=prefix, extra_env_fn=env_fn,
                      opts=EtcdOptions(read_mode=test.read_mode))
    if test.db == "kafka":
        from harness.dbs.kafka import KafkaDB

        return KafkaDB(nodes, store_dir=run_dir, prefix=prefix, extra_env_fn=env_fn,
                       acks=test.kafka_acks, min_insync=test.kafka_min_insync,
                       idempotence=test.kafka_idempotence)
    from harness.dbs.redis import RedisDB

    return RedisDB(nodes, topology=test.topology, read_from=test.read_from, store_dir=run_dir,
                   prefix=prefix, extra_env_fn=env_fn, appendfsync=test.redis_appendfsync)


def _make_workload(test: Test):
    from workloads import get_workload

    opts: dict[str, Any] = {"keys_active": test.keys_active}
    if test.max_writes_per_key:
        opts["max_writes_per_key"] = test.max_writes_per_key
    return get_workload(test.workload, **opts)


def _make_nemesis(test: Test, nodes, db, prefix: str, rng: random.Random):
    from nemesis.schedule import build_package

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
        for k in ("version", "node", "error"):
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
            c = db.client(node, workload.name, process)
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


def _close_quietly(client) -> None:
    try:
        client.close()
    except Exception:
        pass


def _nemesis_loop(pkg, rec: _Recorder, stop: threading.Event, stats: LiveStats) -> None:
    while not stop.wait(pkg.interval):
        try:
            fault = pkg.next_fault()
        except Exception as e:
            log.exception("nemesis schedule failed: %s", e)
            return
        if fault is None:
            continue
        _nemesis_do(pkg, fault, rec)
        stats.active = list(pkg.active())


def _nemesis_do(pkg, fault: dict, rec: _Recorder) -> None:
    rec.invoke("nemesis", fault)
    try:
        comp = pkg.invoke(fault)
    except Exception as e:  # the obligation is not to raise; record it if one does
        comp = {"type": "info", "error": f"{type(e).__name__}: {e}"}
    comp = dict(comp)
    comp["type"] = "info"
    rec.complete("nemesis", fault, comp)


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
            clients[n.name] = db.final_client(n, workload.name, procs[n.name])
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
                        c = clients[node.name] = db.final_client(node, workload.name, procs[node.name])
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
    h = logging.FileHandler(os.path.join(run_dir, "splitbrain.log"))
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
    """Run one test and return its outcome. Cleans up on every exit path."""
    preflight(test)
    test = with_seed(test)
    run_dir = new_run_dir(test.store, test.test_name)
    _write_json(os.path.join(run_dir, "test.json"), test.to_json())
    handler = _setup_logging(run_dir)
    from harness.cluster.registry import new_run_prefix

    prefix = new_run_prefix()
    log.info("run %s prefix %s seed %s: %s", run_dir, prefix, test.seed, test.to_json())
    stats = LiveStats()
    figures: dict[str, Any] = {}
    interrupted = False
    history_path = os.path.join(run_dir, "history.jsonl")
    stop = threading.Event()
    try:
        with signals_as_interrupt():
            try:
                _run_phases(test, prefix, run_dir, history_path, stats, stop, figures, progress)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
                log.warning("interrupted; cleaned up")
        if interrupted:
            update_latest(run_dir)
            return RunOutcome(run_dir=run_dir, results=None, exit_code=EXIT_INTERRUPTED,
                              interrupted=True, figures=figures)
        stats.phase = "checking"
        if progress:
            progress(stats, test)
        results, report_path = analyse(run_dir, test, figures)
        update_latest(run_dir)
        from harness.cli import exit_code_for

        return RunOutcome(run_dir=run_dir, results=results,
                          exit_code=exit_code_for(results["valid"]), report_path=report_path,
                          figures=figures)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run_phases(test: Test, prefix: str, run_dir: str, history_path: str, stats: LiveStats,
                stop: threading.Event, figures: dict, progress) -> None:
    t_begin = time.monotonic()
    seed = int(test.seed or 0)
    with ExitStack() as stack:
        cluster = _make_cluster(test, prefix, run_dir)
        if not test.leave_db_running:
            stack.callback(cluster.down)
        stats.phase = "provisioning nodes"
        nodes = cluster.up()
        log.info("nodes: %s", [(n.name, n.address) for n in nodes])

        holder: dict[str, Any] = {}
        db = _make_db(test, nodes, run_dir, prefix,
                      lambda node: holder["pkg"].node_env(node) if "pkg" in holder else {})
        pkg = _make_nemesis(test, nodes, db, prefix, random.Random(seed + 1))
        holder["pkg"] = pkg

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
        db.wait_ready(float(getattr(db, "ready_timeout", 60.0)))
        workload = _make_workload(test)

        clock = Clock()
        writer = HistoryWriter(history_path, time_fn=clock.now)
        stack.callback(writer.close)
        rec = _Recorder(writer, stats)
        start_agents = getattr(workload, "start_agents", None)  # propagation: relay, consumer
        if start_agents is not None:
            stack.callback(start_agents(nodes, db, rec, prefix, run_dir))
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
                               args=(pkg, rec, nem_stop, stats))
        for w in workers:
            w.start()
        nem.start()
        try:
            while time.monotonic() < deadline and any(w.is_alive() for w in workers):
                if progress:
                    progress(stats, test)
                time.sleep(0.25)
        finally:
            stop.set()
            nem_stop.set()
            for w in workers:
                w.join(timeout=15)
            nem.join(timeout=30)
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
        settle = getattr(db, "settle", None)
        if settle is not None:
            # e.g. Sentinel demotes an isolated old primary only seconds after the heal;
            # final reads before that would judge a cluster still mid-failover (P15).
            stats.phase = "waiting for the cluster to settle"
            unsettled = settle(30.0)
            if unsettled:
                log.warning("cluster did not settle before final reads: %s", unsettled)
        stats.phase = "final reads"
        if progress:
            progress(stats, test)
        final_phase = getattr(workload, "final_phase", None) or _final_reads  # queue: drains
        final_phase(test, nodes, db, workload, rec,
                    first_process=pids.next_after_info(10**6),
                    deadline=time.monotonic() + max(5.0, 2 * test.quiesce))
        stats.phase = "tearing down"
        if progress:
            progress(stats, test)
    if test.leave_db_running:
        log.info("--leave-db-running: cluster %s left up; `splitbrain cluster down %s` removes it",
                 prefix, prefix)
        figures["left_running"] = prefix


def analyse(run_dir: str, test: Test, figures: dict | None = None) -> tuple[dict, str | None]:
    """Check the run's history and write results.json (+ reports when available)."""
    from checkers import run_checks
    from checkers.options import CheckOptions, parse_max_lag, parse_staleness_bound
    from harness.history import read_history

    hist = read_history(os.path.join(run_dir, "history.jsonl"))
    t_ns, k = parse_staleness_bound(test.staleness_bound)
    opts = CheckOptions(workload=test.workload, staleness_bound_ns=t_ns,
                        staleness_bound_versions=k,
                        version_tiebreak="cassandra" if test.db == "cassandra" else None,
                        max_lag_ns=parse_max_lag(test.max_lag),
                        max_propagation_lag_ns=parse_max_lag(test.max_propagation_lag,
                                                             "--max-propagation-lag"))
    results = run_checks(hist, opts, list(test.checkers) if test.checkers else None)
    results["run"] = {"dir": run_dir, "seed": test.seed, "test": test.test_name,
                      **(figures or {})}
    _write_json(os.path.join(run_dir, "results.json"), results)
    report_path = None
    try:
        from reports.outputs import write_outputs
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
        if out.interrupted or out.exit_code == 1:
            break
    return outcomes
