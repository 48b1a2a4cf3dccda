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

Relay and consumer are real processes (workloads/propagation_agent.py) started inside
the first node's namespace by `start_agents`; their relays and applies become history
ops (processes `relay`, `consumer`). Workers write sources (unique event ids) and read
both stores; the final phase waits for the queue to drain, then reads every key's source
and derived state on every node (`final`). Checked by checkers/propagation. Not yet: the
`--nemesis` forms of kill-consumer and the `pause-consumer` / `kill-relay` / `replay` /
`poison` faults, a DLQ,
Kafka as the queue, Cassandra as the source, `dedupe` idempotency, Sentinel (the agents
follow n1).
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

    # checkers/__init__.py DEFAULTS["propagation"] (workloads do not import the checkers)
    checkers = ("lost-event", "orphan-effect", "duplicate-effect", "derived-regression",
                "propagation-lag")

    def next_op(self, process: int, rng: random.Random) -> dict[str, Any]:
        with self.pool.lock:
            key = self.pool.pick(rng)
            if rng.random() < self.write_ratio:
                self.pool.wrote(key)
                return {"f": "write-source", "key": key, "value": self.pool.next_value()}
        return {"f": "read-derived" if rng.random() < 0.75 else "read-source", "key": key}

    def final_keys(self) -> list[Any]:
        return self.pool.all_keys()

    # -- the relay and consumer processes ------------------------------------------------

    def start_agents(self, nodes, db, rec, prefix: str, run_dir: str):
        """Start relay + consumer in the first node's namespace; returns their stop."""
        from splitbrain.harness.dbs import daemons

        node = nodes[0]
        port = getattr(db, "port", 6379)
        env = {"PYTHONPATH": ROOT}
        agents = []
        roles = (["relay"] if self.name != "propagation-dual-write" else []) + ["consumer"]
        for role in roles:
            path = os.path.join(run_dir, "agents", f"{role}.log")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            argv = [sys.executable, "-m", "splitbrain.workloads.propagation_agent", role, node.address,
                    str(port), "--consumer", self.consumer]
            d = daemons.spawn(node, argv, prefix=prefix, what=f"propagation {role}",
                              log_path=path, env=env)
            agents.append((role, d, path))
        stop = threading.Event()
        tails = [threading.Thread(target=_tail, args=(path, role, rec, stop), daemon=True,
                                  name=f"tail-{role}") for role, _, path in agents]
        for t in tails:
            t.start()
        self._agents = (node, agents)
        killer_stop = threading.Event()
        killer = None
        if getattr(self, "kill_every", None):
            killer = threading.Thread(target=self._kill_consumer_loop, name="kill-consumer",
                                      args=(node, agents, rec, prefix, killer_stop), daemon=True)
            killer.start()

        def stop_killer() -> None:
            # like every fault, kill-consumer ends before the final phase (it restarts the
            # consumer if it was down), so the queue can drain
            killer_stop.set()
            if killer is not None:
                killer.join(timeout=15)
        self._stop_killer = stop_killer

        def stop_all() -> None:
            stop_killer()
            for _role, d, _ in agents:
                daemons.stop(node, d, grace=2.0)
                daemons.unregister(prefix, d)
            time.sleep(0.3)
            stop.set()
            for t in tails:
                t.join(timeout=5)
        return stop_all

    def _kill_consumer_loop(self, node, agents, rec, prefix, stop: threading.Event) -> None:
        """kill-consumer: SIGKILL the consumer by its pid, restart it after 1 s."""
        from splitbrain.harness.dbs import daemons

        i = next(j for j, a in enumerate(agents) if a[0] == "consumer")
        while not stop.wait(self.kill_every):
            role, d, path = agents[i]
            op = {"f": "kill-consumer", "value": node.name}
            rec.invoke("nemesis", op)
            daemons.signal(node, d, "KILL")
            daemons.wait_gone(node, d, 5.0)
            daemons.unregister(prefix, d)
            rec.complete("nemesis", op, {"type": "info", "value": {"pid": d.pid}})
            if stop.wait(1.0):
                break
            op = {"f": "start-consumer", "value": node.name}
            rec.invoke("nemesis", op)
            d = daemons.spawn(node, list(d.argv), prefix=prefix, what="propagation consumer",
                              log_path=path, env={"PYTHONPATH": ROOT})
            agents[i] = (role, d, path)
            rec.complete("nemesis", op, {"type": "info", "value": {"pid": d.pid}})
        role, d, path = agents[i]
        if not daemons.alive(node, d):  # stopped while killed: drain with a fresh one
            agents[i] = (role, daemons.spawn(node, list(d.argv), prefix=prefix,
                                             what="propagation consumer", log_path=path,
                                             env={"PYTHONPATH": ROOT}), path)

    def final_phase(self, test, nodes, db, workload, rec, *, first_process: int,
                    deadline: float) -> None:
        """Wait (≤ 30 s) until relay and consumer have drained their streams, then read
        every key's source and derived state on every node."""
        from splitbrain.harness.dbs.resp import RespConnection

        stop_killer = getattr(self, "_stop_killer", None)
        if stop_killer is not None:
            stop_killer()
        node = nodes[0]
        end = time.monotonic() + 60.0
        busy = True
        while time.monotonic() < end:
            try:
                conn = RespConnection(node.address, getattr(db, "port", 6379),
                                      connect_timeout=1, op_timeout=2)
                try:
                    busy = _backlog(conn)
                finally:
                    conn.close()
            except Exception:
                busy = True
            if not busy:
                break
            time.sleep(0.5)
        time.sleep(0.5)
        # the last applies must reach the replicas before their final reads (≤ 10 s)
        _wait_replicas_caught_up(node, getattr(db, "port", 6379), 10.0)
        # say whether the queue drained: events still queued are late, not lost
        op = {"f": "queue-backlog", "value": None, "final": True}
        rec.invoke(first_process, op, final=True)
        rec.complete(first_process, op, {"type": "ok", "value": bool(busy)}, final=True)
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
        except Exception:
            continue
        for g in groups or ():
            d = {g[i].decode(): g[i + 1] for i in range(0, len(g) - 1, 2)}
            if int(d.get("pending") or 0) > 0 or int(d.get("lag") or 0) > 0:
                return True
    return False


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
            rec.invoke(role, op)
            rec.complete(role, op, {"type": "ok", "value": ev.get("value"),
                                    "version": ev.get("version"),
                                    "extra": {k: v for k, v in ev.items()
                                              if k not in ("key", "value", "version")}})
        if done:
            return
        stop.wait(0.05)
