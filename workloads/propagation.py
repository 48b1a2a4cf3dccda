"""The `propagation` workloads: source store → outbox → relay → events → consumer →
derived store, all on the Redis cluster under test (issue 13 item 4, first slice).

* `propagation` — outbox pattern: a Lua script writes the source (`src:<k>`, a per-key
  version) and appends the event to `outbox` atomically; a relay process moves it to
  `events`; a consumer process applies it with `version` idempotency (only newer
  versions) to `derv:<k>`.
* `propagation-dual-write` — the anti-pattern as a positive control: the source write,
  then a separate publish to `events`, skipped for ~10% of writes (a client crash in
  between); the consumer appends every event id to `der:<k>` (idempotency `none`).
* `propagation-none` — outbox, a `none` consumer, and the `kill-consumer` fault built in
  (SIGKILL every 2 s, restart 1 s later, recorded as nemesis ops): batches applied but
  not yet acked are redelivered and applied again (duplicate effects).

Relay and consumer are real processes (workloads/propagation_agent.py) started by
`start_agents` in the first node's namespace on netns, on the controller on docker and
ssh (`agent_host`; with `--queue kafka` the nodes also get Kafka's needs: `node_needs`) (`Agents`: by role, signalled only by
recorded pid); their relays, applies and dead letters become history ops (processes
`relay`, `consumer`). The pipeline faults (`--nemesis kill-consumer, pause-consumer,
kill-relay, replay, poison`, nemesis/pipeline.py) act on the same `Agents`, which the
runner attaches to them; `--consumer-idempotency none|dedupe|version` overrides the
workload's consumer (`configure`). Workers write sources (unique event ids; a poison flag
while the poison fault is on) and read both stores; the final phase waits for the queue
to drain, records whether it did (`queue-backlog`) and the `dlq` stream (`read-dlq`),
then reads every key's source and derived state on every node (`final`). Checked by
checkers/propagation. `--queue kafka` (outbox workloads): a KRaft Kafka on the same
nodes carries the events instead of the `events` stream (`_start_kafka`; the final phase
also waits for the consumer group's committed offset to reach the topic's end).
`--source cassandra`: a 3-node Cassandra on the same nodes holds the source and the outbox
(`_start_cassandra`, harness/dbs/cassandra_outbox.py: one conditional single-partition
batch per write); the workers' write-source / read-source go there (`db.propagation_source`),
the relay polls its outbox partitions into the `events` stream, and the final phase first
lets Cassandra deliver its hints, then also waits for the relay's cursors to reach every
key's source version. Not yet: Sentinel (the agents follow n1).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
import time
from typing import Any

from splitbrain.harness.models import OpSpec
from splitbrain.workloads.keys import KeyPool

log = logging.getLogger("splitbrain")
# the directory that holds the `splitbrain` package (a checkout or site-packages), so the
# agents import the same code as the controller
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["splitbrain"].__file__)))


class PropagationWorkload:
    name = "propagation"
    model = "propagation"                # harness/models.py
    history = "propagation"              # the shape checkers/propagation judges
    ops = frozenset({"write-source", "read-source", "read-derived"})
    consumer = "version"

    @property
    def spec(self) -> OpSpec:
        """The propagation model, namespaced by the workload (its consumer / dual write)."""
        return OpSpec(self.model, namespace=self.name)

    def __init__(self, *, keys_active: int = 5, max_writes_per_key: int | None = None,
                 write_ratio: float = 0.5):
        self.pool = KeyPool(min(keys_active, 5), max_writes_per_key or 1_000_000)
        self.write_ratio = write_ratio

    # checkers/options.py JUDGED["propagation"] (workloads do not import the checkers)
    checkers = ("lost-event", "orphan-effect", "duplicate-effect", "derived-regression",
                "propagation-lag", "dlq-conservation")

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.write_ratio:
                self.pool.wrote(key)
                op = {"f": "write-source", "key": key, "value": self.pool.next_value()}
                agents = getattr(self, "agents", None)
                if agents is not None and agents.poison_p and rng.random() < agents.poison_p:
                    op["poison"] = True  # the poison fault: the consumer will fail on it
                return op
        return {"f": "read-derived" if rng.random() < 0.75 else "read-source", "key": key}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()

    # -- run options (harness/runner.py calls configure with the Test) ---------------------

    def configure(self, test) -> None:
        """Take the run's `--consumer-idempotency`; keep the dead-letter conservation
        checker only when the run injects `poison` (a run without dead letters has
        nothing for it to judge, and a named checker that cannot judge is unknown)."""
        mode = getattr(test, "consumer_idempotency", None)
        if mode:
            self.consumer = mode
        self.queue = getattr(test, "queue", None) or "redis"
        self.source = getattr(test, "source", None) or "redis"
        fams = {x.strip().lower() for x in str(getattr(test, "nemesis", "") or "").split(",")}
        if "poison" not in fams:
            self.checkers = tuple(c for c in self.checkers if c != "dlq-conservation")

    # -- the relay and consumer processes ------------------------------------------------

    def start_agents(self, nodes, db, rec, prefix: str, run_dir: str):
        """Start relay + consumer in the first node's namespace; returns their stop. The
        runner hands `self.agents` to the pipeline faults (nemesis/pipeline.py)."""
        roles = (["relay"] if self.name != "propagation-dual-write" else []) + ["consumer"]
        self.kafka = kafka = _start_kafka(nodes, prefix, run_dir) \
            if getattr(self, "queue", "redis") == "kafka" else None
        extra = ["--queue", "kafka", "--bootstrap", kafka.settings.bootstrap] if kafka else []
        self.cassandra = cass = None
        if getattr(self, "source", "redis") == "cassandra":
            try:
                self.cassandra = cass = _start_cassandra(nodes, prefix, run_dir)
            except BaseException:
                _stop_kafka(kafka, nodes)
                raise
            # the workers' clients send write-source / read-source there (redis_streams.py)
            db.propagation_source = cass
            extra += ["--source", "cassandra", "--cassandra", nodes[0].address]
        agents = Agents(agent_host(nodes, prefix, run_dir), getattr(db, "port", 6379), prefix,
                        run_dir, self.consumer, roles, extra, address=nodes[0].address)
        self.agents = agents
        try:
            agents.start_all()
        except BaseException:
            agents.stop_all()
            _stop_kafka(kafka, nodes)
            if cass is not None:
                cass.stop()
            raise
        stop = threading.Event()
        tails = [threading.Thread(target=_tail, args=(agents.log_path(role), role, rec, stop),
                                  daemon=True, name=f"tail-{role}") for role in roles]
        for t in tails:
            t.start()
        killer_stop = threading.Event()
        killer = None
        if getattr(self, "kill_every", None):
            killer = threading.Thread(target=self._kill_consumer_loop, name="kill-consumer",
                                      args=(agents, rec, killer_stop), daemon=True)
            killer.start()

        def stop_killer() -> None:
            # like every fault, kill-consumer ends before the final phase (it restarts the
            # consumer if it was down), so the queue can drain
            killer_stop.set()
            if killer is not None:
                killer.join(timeout=15)
            agents.ensure_running()
        self._stop_killer = stop_killer

        def stop_all() -> None:
            killer_stop.set()
            if killer is not None:
                killer.join(timeout=15)
            try:
                agents.stop_all()
            finally:
                _stop_kafka(kafka, nodes)
                if cass is not None:
                    db.propagation_source = None
                    cass.stop()
            time.sleep(0.3)
            stop.set()
            for t in tails:
                t.join(timeout=5)
        return stop_all

    def _kill_consumer_loop(self, agents: "Agents", rec, stop: threading.Event) -> None:
        """propagation-none's built-in kill-consumer: SIGKILL the consumer by its pid every
        `kill_every` s, restart it 1 s later; recorded like the kill-consumer fault."""
        while not stop.wait(self.kill_every):
            op = {"f": "kill-consumer", "value": agents.node.name}
            tags = {"family": "kill-consumer", "phase": "start"}
            rec.invoke("nemesis", op, **tags)
            rec.complete("nemesis", op, agents.kill("consumer"), **tags)
            if stop.wait(1.0):
                break
            op = {"f": "start-consumer", "value": agents.node.name}
            tags = {"family": "kill-consumer", "phase": "stop"}
            rec.invoke("nemesis", op, **tags)
            rec.complete("nemesis", op, agents.start("consumer"), **tags)
        agents.ensure_running()  # stopped while killed: drain with a fresh one

    def final_phase(self, test, nodes, db, workload, rec, *, first_process: int,
                    deadline: float) -> None:
        """Wait (≤ 30 s) until relay and consumer have drained their streams, then read
        every key's source and derived state on every node."""
        from splitbrain.harness.dbs.resp import RespConnection

        stop_killer = getattr(self, "_stop_killer", None)
        if stop_killer is not None:
            stop_killer()  # also restarts / resumes an agent a fault left down
        node = nodes[0]
        cass = getattr(self, "cassandra", None)
        if cass is not None:
            # hints first: an outbox row a partitioned coordinator holds as a hint reaches
            # the relay's quorum only once delivered
            t0 = time.monotonic()
            unsettled = cass.settle(20.0)
            log.info("propagation source (cassandra) settled in %.1f s%s",
                     time.monotonic() - t0, f": still {unsettled}" if unsettled else "")
        end = time.monotonic() + 60.0
        busy = True
        while time.monotonic() < end:
            try:
                conn = RespConnection(node.address, getattr(db, "port", 6379),
                                      connect_timeout=1, op_timeout=2)
                try:
                    busy = _backlog(conn)
                    if not busy and cass is not None and self.name != "propagation-dual-write":
                        # the relay's cursors (dual write has no relay: clients publish)
                        busy = cass.relay_behind(conn)
                finally:
                    conn.close()
                if not busy and getattr(self, "kafka", None) is not None:
                    busy = _kafka_backlog(self.kafka.settings.bootstrap)
            except Exception:
                busy = True
            if not busy:
                break
            time.sleep(0.5)
        log.info("propagation drain: backlog %s after %.1f s", "left" if busy else "empty",
                 60.0 - (end - time.monotonic()))
        time.sleep(0.5)
        # the last applies must reach the replicas before their final reads (≤ 10 s)
        _wait_replicas_caught_up(node, getattr(db, "port", 6379), 10.0)
        # say whether the queue drained: events still queued are late, not lost
        op = {"f": "queue-backlog", "value": None, "final": True}
        rec.invoke(first_process, op, final=True)
        rec.complete(first_process, op, {"type": "ok", "value": bool(busy)}, final=True)
        # the dead-letter stream as it ends: which events were dead-lettered, how often
        op = {"f": "read-dlq", "value": None, "final": True}
        rec.invoke(first_process, op, final=True, node=node.name)
        rec.complete(first_process, op, _read_dlq(node, getattr(db, "port", 6379)), final=True)
        for j, n in enumerate(nodes):
            p = first_process + j
            c = db.final_client(n, self.spec, p)
            try:
                for k in self.final_keys():
                    for f in ("read-source", "read-derived"):
                        op = {"f": f, "key": k, "final": True}
                        rec.invoke(p, op, final=True, node=n.name)
                        try:
                            comp = c.invoke(op)
                        except Exception as e:
                            comp = {"type": "info", "error": f"{type(e).__name__}: {e}"}
                        rec.complete(p, op, comp, final=True)
            finally:
                c.close()


class DualWritePropagationWorkload(PropagationWorkload):
    name = "propagation-dual-write"
    consumer = "none"


class NoneConsumerPropagationWorkload(PropagationWorkload):
    """Outbox, but a consumer without idempotency (`none`) that the workload SIGKILLs
    every `kill_every` seconds and restarts a second later (the `kill-consumer` fault,
    recorded as nemesis ops): an event applied but not yet acked is redelivered and
    applied again — a duplicate effect."""

    name = "propagation-none"
    consumer = "none"
    kill_every = 2.0


def _backlog(conn) -> bool:
    """True while a group still has undelivered or unacked entries."""
    for stream in ("outbox", "events"):
        try:
            groups = conn.call("XINFO", "GROUPS", stream)
            last = None
        except Exception:
            continue
        for g in groups or ():
            d = {g[i].decode(): g[i + 1] for i in range(0, len(g) - 1, 2)}
            if int(d.get("pending") or 0) > 0 or int(d.get("lag") or 0) > 0:
                return True
            if d.get("lag") is None:
                # a rewound group (replay) has no lag figure: compare its position with
                # the stream's last entry
                if last is None:
                    info = conn.call("XINFO", "STREAM", stream)
                    last = _field(info, "last-generated-id")
                if _id(d.get("last-delivered-id")) < _id(last):
                    return True
    return False


def agent_host(nodes, prefix: str, run_dir: str):
    """Where relay and consumer run. netns nodes share this machine's processes and files:
    n1's namespace, so a partition cuts them off with n1. Docker containers and ssh hosts
    have neither splitbrain nor its Python packages: the controller, beside the clients,
    reaching n1 (Redis) and the brokers over the network like them — partitions then cut
    the stores from each other, not the agents from n1."""
    from dataclasses import replace

    from splitbrain.harness.control.local import LocalRemote

    n1 = nodes[0]
    if getattr(n1.remote, "shares_pid_namespace", False):
        return n1
    return replace(n1, name="controller", workdir=run_dir, meta={"prefix": prefix},
                   remote=LocalRemote("controller", run_prefix=prefix))


def node_needs(test, needs):
    """The nodes' NodeNeeds for this run: the datastore's, plus Kafka's with `--queue
    kafka` (its java, and the jars and JVM a docker node bind-mounts: host_dirs)."""
    from dataclasses import replace

    if getattr(test, "queue", "redis") != "kafka":
        return needs
    from splitbrain.harness.dbs.kafka import NEEDS as KAFKA

    return replace(needs, tools={**needs.tools, **KAFKA.tools},
                   hint=f"{needs.hint}; {KAFKA.hint}" if needs.hint else KAFKA.hint,
                   host_dirs=KAFKA.host_dirs)


def _start_kafka(nodes, prefix: str, run_dir: str):
    """`--queue kafka`: a KRaft Kafka on the same nodes (their namespaces, so the
    partition faults cut it too), topic `queue` with one partition, RF 3, min.insync 2."""
    from concurrent.futures import ThreadPoolExecutor

    from splitbrain.harness.dbs.kafka.db import KafkaDB

    kafka = KafkaDB(list(nodes), store_dir=os.path.join(run_dir, "kafka"), prefix=prefix,
                    partitions=1)
    try:
        with ThreadPoolExecutor(max_workers=len(nodes)) as ex:
            list(ex.map(kafka.setup, nodes))
            list(ex.map(kafka.start, nodes))
        kafka.wait_ready(120.0)
    except BaseException:
        _stop_kafka(kafka, nodes)
        raise
    return kafka


def _start_cassandra(nodes, prefix: str, run_dir: str):
    """`--source cassandra`: a Cassandra cluster on the same nodes (their namespaces, so
    the partition faults cut it too) holding the source and the outbox
    (harness/dbs/cassandra_outbox.py)."""
    from splitbrain.harness.dbs.cassandra_outbox import CassandraSource

    src = CassandraSource(nodes, prefix, run_dir)
    src.start()
    return src


def _stop_kafka(kafka, nodes) -> None:
    if kafka is None:
        return
    for n in nodes:
        try:
            kafka.teardown(n)
        except Exception as e:  # the others still go; cleanup finds recorded pids
            log.warning("kafka teardown on %s failed: %s", n.name, e)


def _kafka_backlog(bootstrap: str) -> bool:
    """True while the consumer group has not committed up to the topic's end."""
    try:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "consumers",
                      "enable.auto.commit": False, "log_level": 2})
        try:
            tp = TopicPartition("queue", 0)
            committed = c.committed([tp], timeout=5)[0].offset
            lo, hi = c.get_watermark_offsets(tp, timeout=5)
        finally:
            c.close()
    except Exception:
        return True
    return (hi > lo) if committed < 0 else committed < hi


def _field(flat, name: str):
    for i in range(0, len(flat or ()) - 1, 2):
        k = flat[i].decode() if isinstance(flat[i], bytes) else flat[i]
        if k == name:
            return flat[i + 1]
    return None


def _id(x) -> tuple[int, int]:
    """A stream ID as a comparable (ms, seq); (0, 0) for none."""
    if x is None:
        return (0, 0)
    s = x.decode() if isinstance(x, bytes) else str(x)
    ms, _, seq = s.partition("-")
    return (int(ms or 0), int(seq or 0))


def _read_dlq(node, port: int) -> dict:
    """The final read of the `dlq` stream: ok value [event ids, in DLQ order]."""
    from splitbrain.harness.dbs.resp import RespConnection

    try:
        conn = RespConnection(node.address, port, connect_timeout=1, op_timeout=5)
        try:
            ents = conn.call("XRANGE", "dlq", "-", "+")
        finally:
            conn.close()
    except Exception as e:
        return {"type": "fail", "error": f"{type(e).__name__}: {e}"}
    out = []
    for _ident, raw in ents or ():
        f = _field(raw, "eid")
        if f is not None:
            out.append(int(f))
    return {"type": "ok", "value": out}


class Agents:
    """The relay and consumer processes of one run, by role, on one node.

    Obligations: every process is started through daemons.spawn (its pid registered with
    the run prefix before anything else can lose it) and signalled only by that recorded
    pid; kill/start/pause/resume never raise (a completion with `error` instead);
    `start` never runs two processes of one role; `ensure_running` resumes a paused and
    restarts a dead agent (the heal before the final phase); `stop_all` stops all.
    """

    def __init__(self, node, port: int, prefix: str, run_dir: str, consumer: str,
                 roles: list[str], extra_args: list[str] | None = None, *,
                 address: str | None = None):
        self.node = node  # where the agents run (agent_host)
        self.address = address or node.address  # n1's Redis
        self.port = port
        self.prefix = prefix
        self.run_dir = run_dir
        self.consumer = consumer
        self.roles = list(roles)
        self.extra_args = list(extra_args or ())  # --queue kafka --bootstrap …
        self.procs: dict[str, Any] = {}
        self.paused: set[str] = set()
        self.poison_p = 0.0  # the share of writes the poison fault marks
        self.lock = threading.RLock()

    def log_path(self, role: str) -> str:
        return os.path.join(self.run_dir, "agents", f"{role}.log")

    def _spawn(self, role: str):
        from splitbrain.harness.dbs import daemons

        path = self.log_path(role)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        argv = [sys.executable, "-m", "splitbrain.workloads.propagation_agent", role,
                self.address, str(self.port), "--consumer", self.consumer,
                *self.extra_args]
        return daemons.spawn(self.node, argv, prefix=self.prefix, what=f"propagation {role}",
                             log_path=path, env={"PYTHONPATH": ROOT})

    def start_all(self) -> None:
        for role in self.roles:
            self.procs[role] = self._spawn(role)

    def has(self, role: str) -> bool:
        return role in self.roles

    def kill(self, role: str) -> dict:
        from splitbrain.harness.dbs import daemons

        with self.lock:
            d = self.procs.get(role)
            if d is None:
                return {"type": "info", "error": f"no {role} in this run"}
            try:
                daemons.signal(self.node, d, "KILL")
                gone = daemons.wait_gone(self.node, d, 5.0)
                daemons.unregister(self.prefix, d)
            except Exception as e:
                return {"type": "info", "error": f"{type(e).__name__}: {e}"}
            self.paused.discard(role)  # SIGKILL ends a stopped process too
            out = {"type": "info", "value": {"role": role, "pid": d.pid, "node": self.node.name}}
            if not gone:
                out["error"] = f"{role} pid {d.pid} still alive 5 s after SIGKILL"
            return out

    def start(self, role: str) -> dict:
        """Restart `role` if its process is gone (no-op while it runs)."""
        from splitbrain.harness.dbs import daemons

        with self.lock:
            d = self.procs.get(role)
            if d is None:
                return {"type": "info", "error": f"no {role} in this run"}
            try:
                if daemons.alive(self.node, d):
                    return {"type": "info", "value": {"role": role, "pid": d.pid,
                                                      "already_running": True}}
                self.procs[role] = d = self._spawn(role)
            except Exception as e:
                return {"type": "info", "error": f"{type(e).__name__}: {e}"}
            return {"type": "info", "value": {"role": role, "pid": d.pid, "node": self.node.name}}

    def pause(self, role: str) -> dict:
        return self._signal(role, "STOP")

    def resume(self, role: str) -> dict:
        return self._signal(role, "CONT")

    def _signal(self, role: str, sig: str) -> dict:
        from splitbrain.harness.dbs import daemons

        with self.lock:
            d = self.procs.get(role)
            if d is None:
                return {"type": "info", "error": f"no {role} in this run"}
            try:
                ok = daemons.signal(self.node, d, sig)
            except Exception as e:
                ok, err = False, f"{type(e).__name__}: {e}"
            else:
                err = None if ok else f"SIG{sig} to {role} pid {d.pid} was not delivered"
            (self.paused.add if sig == "STOP" else self.paused.discard)(role)
            out = {"type": "info", "value": {"role": role, "pid": d.pid, "node": self.node.name}}
            if err:
                out["error"] = err
            return out

    def ensure_running(self) -> None:
        with self.lock:
            for role in list(self.paused):
                self.resume(role)
            for role in self.roles:
                self.start(role)

    def replay(self, count: int) -> dict:
        """Rewind the consumer group `count` entries behind its delivery position (XGROUP
        SETID), so those events are delivered again. Never moves it forward: the new id
        is an entry at or before the position it had."""
        from splitbrain.harness.dbs.resp import RespConnection

        if "kafka" in self.extra_args:
            # Kafka offsets are the consumer's own: it seeks back when it finds the request
            try:
                conn = RespConnection(self.address, self.port, connect_timeout=1,
                                      op_timeout=3)
                try:
                    conn.call("INCRBY", "replay:request", count)
                finally:
                    conn.close()
            except Exception as e:
                return {"type": "info", "error": f"{type(e).__name__}: {e}"}
            return {"type": "info", "value": {"queue": "kafka", "requested": count}}
        try:
            conn = RespConnection(self.address, self.port, connect_timeout=1, op_timeout=3)
            try:
                pos = None
                for g in conn.call("XINFO", "GROUPS", "events") or ():
                    if _field(g, "name") in (b"consumers", "consumers"):
                        pos = _field(g, "last-delivered-id")
                if pos is None:
                    return {"type": "info", "error": "no consumer group on events yet"}
                back = conn.call("XREVRANGE", "events", pos, "-", "COUNT", count + 1)
                to = back[count][0] if len(back or ()) > count else b"0"
                conn.call("XGROUP", "SETID", "events", "consumers", to)
            finally:
                conn.close()
        except Exception as e:
            return {"type": "info", "error": f"{type(e).__name__}: {e}"}
        dec = lambda x: x.decode() if isinstance(x, bytes) else str(x)
        return {"type": "info", "value": {"from": dec(pos), "to": dec(to),
                                          "redelivered": min(count, len(back or ()))}}

    def stop_all(self) -> None:
        from splitbrain.harness.dbs import daemons

        with self.lock:
            for role, d in self.procs.items():
                try:
                    daemons.stop(self.node, d, grace=2.0)
                except Exception as e:  # keep stopping the others; cleanup finds the pid
                    log.warning("stopping the propagation %s (pid %s) failed: %s", role, d.pid, e)
                    continue
                daemons.unregister(self.prefix, d)


def _wait_replicas_caught_up(node, port: int, timeout: float) -> bool:
    """Until every replica the primary on `node` lists has acknowledged its replication
    offset; False if that did not happen within `timeout` (the final reads then say
    what they see, and the checkers judge a lagging replica as such)."""
    from splitbrain.harness.dbs.resp import RespConnection

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            conn = RespConnection(node.address, port, connect_timeout=1, op_timeout=2)
            try:
                raw = conn.call("INFO", "replication")
            finally:
                conn.close()
            info = dict(line.split(":", 1) for line in raw.decode().splitlines()
                        if ":" in line)
            master = int(info.get("master_repl_offset", 0))
            offsets = [int(dict(kv.split("=", 1) for kv in v.split(",") if "=" in kv)
                           .get("offset", -1))
                       for k, v in info.items() if k.startswith("slave") and k[5:].isdigit()]
            if all(o >= master for o in offsets):
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def _tail(path: str, role: str, rec, stop: threading.Event) -> None:
    """Turn the agent's JSON lines into history ops (invoke + ok, process `role`)."""
    pos = 0
    while True:
        done = stop.is_set()
        try:
            with open(path, "rb") as fh:
                fh.seek(pos)
                data = fh.read()
        except OSError:
            data = b""
        cut = data.rfind(b"\n") + 1
        pos += cut
        for line in data[:cut].splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # the agent's own error messages
            if not isinstance(ev, dict) or "f" not in ev:
                continue
            op = {"f": ev.pop("f"), "key": ev.get("key"), "value": ev.get("value")}
            typ = ev.pop("type", "ok")
            rec.invoke(role, op)
            rec.complete(role, op, {"type": typ, "value": ev.get("value"),
                                    "version": ev.get("version"), "error": ev.pop("error", None),
                                    "extra": {k: v for k, v in ev.items()
                                              if k not in ("key", "value", "version")}})
        if done:
            return
        stop.wait(0.05)
