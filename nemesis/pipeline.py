"""Pipeline faults of the propagation workloads: the relay and consumer processes.

    --nemesis kill-consumer,pause-consumer,kill-relay,replay,poison

* `kill-consumer` — SIGKILL the consumer by its recorded pid (between an apply and its
  batch ack, so at-least-once redelivers); healed by `start-consumer` (a fresh consumer
  reads its own pending entries first).
* `pause-consumer` — SIGSTOP the consumer (events pile up: propagation lag); healed by
  `resume-consumer` (SIGCONT).
* `kill-relay` — SIGKILL the outbox relay (killed between publish and outbox ack, it
  publishes again); healed by `start-relay`.
* `replay` — rewind the consumer group (XGROUP SETID) `count` entries (option, default
  60) behind its delivery position (with `--queue kafka`: the consumer seeks back `count`
  offsets when it sees the request), so those events are delivered again: an idempotent
  consumer (`version`, `dedupe`) shows nothing, `none` shows duplicate effects; its stop
  (`end-replay`) does nothing — a rewind is instantaneous.
* `poison` — from `start-poison` to `stop-poison`, a share `p` (option, default 0.2) of
  the writes carry a poison flag: the consumer always fails on them, and after
  DELIVERY_LIMIT deliveries dead-letters them to the `dlq` stream.

The processes belong to the workload (workloads/propagation.py `Agents`), which starts
them after the nemeses are built: the runner then `attach`es them to this nemesis. A run
whose workload has no pipeline is refused before it starts (`check_workload`, from
harness/config.py); a fault before `attach` is recorded with an error.
"""

from __future__ import annotations

import threading
from typing import Any

from splitbrain.harness.errors import InputError
from splitbrain.nemesis.base import FaultFamily

WORKLOADS = ("propagation", "propagation-dual-write", "propagation-none")
REPLAY_COUNT = 60
POISON_P = 0.2


def check_workload(families, workload: str, queue: str = "redis") -> None:
    """InputError unless every pipeline fault asked for has its process in `workload`
    (and `--queue kafka` runs an outbox workload)."""
    if queue not in ("redis", "kafka"):
        raise InputError(f"--queue {queue!r}: allowed: redis, kafka")
    if queue == "kafka":
        if workload not in ("propagation", "propagation-none"):
            raise InputError(f"--queue kafka is for the outbox workloads (propagation, "
                             f"propagation-none), not --workload {workload}")
    mine = [f for f in families if f in _NAMES]
    if not mine:
        return
    if workload not in WORKLOADS:
        raise InputError(f"--nemesis {mine[0]} needs a propagation workload (its relay and "
                         f"consumer processes); allowed with: {', '.join(WORKLOADS)}")
    if workload == "propagation-dual-write" and "kill-relay" in mine:
        raise InputError("--nemesis kill-relay needs a relay: --workload "
                         "propagation-dual-write has none (clients publish themselves)")


def check_source(source: str, workload: str, queue: str = "redis") -> None:
    """InputError unless `--source` names a source this workload can run on: Cassandra
    (the outbox in its partitions, harness/dbs/cassandra_outbox.py) for the propagation
    workloads, with the Redis Streams queue."""
    if source not in ("redis", "cassandra"):
        raise InputError(f"--source {source!r}: allowed: redis, cassandra")
    if source == "cassandra":
        if workload not in WORKLOADS:
            raise InputError(f"--source cassandra is for the propagation workloads "
                             f"({', '.join(WORKLOADS)}), not --workload {workload}")
        if queue != "redis":
            raise InputError("--source cassandra publishes to Redis Streams: not with "
                             f"--queue {queue}")


class PipelineNemesis:
    """Kills, pauses, rewinds and poisons the pipeline of run `prefix`.

    Obligations: invoke never raises (an error comes back in the completion); every stop
    undoes its family's start and is safe when nothing is active; heal_all restarts /
    resumes every agent and ends poisoning; signals go only to the pids the workload
    recorded."""

    name = "pipeline"
    faults = ("kill-consumer", "start-consumer", "pause-consumer", "resume-consumer",
              "kill-relay", "start-relay", "replay", "end-replay", "start-poison",
              "stop-poison")

    def __init__(self, prefix: str, options: dict):
        self.prefix = prefix
        self.options = options
        self.poisoning = False
        self.down: set[str] = set()
        self._lock = threading.Lock()
        self._attached: Any = None

    def setup(self) -> None:
        pass

    def attach(self, agents) -> None:
        """The workload's relay/consumer handle (workloads/propagation.py Agents): kill,
        start, pause, resume by role, replay(count), poison_p, ensure_running."""
        with self._lock:
            self._attached = agents

    def _agents(self):
        with self._lock:
            return self._attached

    def invoke(self, fault: dict) -> dict:
        f = fault.get("f")
        agents = self._agents()
        if agents is None:
            return {"type": "info", "value": fault.get("value"),
                    "error": "no propagation pipeline is running in this run"}
        try:
            if f in ("kill-consumer", "kill-relay"):
                role = f.split("-")[1]
                self.down.add(f"killed {role}")
                return agents.kill(role)
            if f in ("start-consumer", "start-relay"):
                role = f.split("-")[1]
                self.down.discard(f"killed {role}")
                return agents.start(role)
            if f == "pause-consumer":
                self.down.add("paused consumer")
                return agents.pause("consumer")
            if f == "resume-consumer":
                self.down.discard("paused consumer")
                return agents.resume("consumer")
            if f == "replay":
                count = int((self.options.get("replay") or {}).get("count", REPLAY_COUNT))
                return agents.replay(count)
            if f == "end-replay":
                return {"type": "info", "value": None}
            if f in ("start-poison", "stop-poison"):
                p = float((self.options.get("poison") or {}).get("p", POISON_P))
                self.poisoning = f == "start-poison"
                agents.poison_p = p if self.poisoning else 0.0
                return {"type": "info", "value": {"p": agents.poison_p}}
        except Exception as e:
            return {"type": "info", "value": fault.get("value"),
                    "error": f"{type(e).__name__}: {e}"}
        return {"type": "info", "value": fault.get("value"),
                "error": f"pipeline nemesis has no fault {f!r}"}

    def heal_all(self) -> dict:
        agents = self._agents()
        if agents is None:
            return {"type": "info", "value": None}
        agents.poison_p = 0.0
        self.poisoning = False
        agents.ensure_running()
        self.down.clear()
        return {"type": "info", "value": {"healed": True}}

    def active(self) -> list[str]:
        return sorted(self.down) + (["poisoning writes"] if self.poisoning else [])

    def teardown(self) -> None:
        pass  # the processes are the workload's: it stops them


def _build(ctx) -> PipelineNemesis:
    return PipelineNemesis(ctx.prefix, dict(ctx.options or {}))


def _fixed(f: str):
    return lambda ctx, variants, opts: {"f": f, "value": None}


def _check_replay(opts) -> None:
    c = opts.get("count", REPLAY_COUNT)
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise InputError(f"nemesis option replay.count {c!r}: must be a whole number of "
                         f"events, 1 or more")


def _check_poison(opts) -> None:
    p = opts.get("p", POISON_P)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise InputError(f"nemesis option poison.p {p!r}: must be a share of writes, "
                         f"more than 0 and at most 1")


FAMILIES = (
    FaultFamily(name="kill-consumer", nemesis="pipeline", starts=("kill-consumer",),
                stop="start-consumer", start_template=_fixed("kill-consumer"), build=_build,
                heal_rank=40, summary="propagation: SIGKILL the consumer by recorded pid, "
                                      "then restart it"),
    FaultFamily(name="pause-consumer", nemesis="pipeline", starts=("pause-consumer",),
                stop="resume-consumer", start_template=_fixed("pause-consumer"),
                build=_build, heal_rank=35,
                summary="propagation: SIGSTOP the consumer by recorded pid, then SIGCONT"),
    FaultFamily(name="kill-relay", nemesis="pipeline", starts=("kill-relay",),
                stop="start-relay", start_template=_fixed("kill-relay"), build=_build,
                heal_rank=40, summary="propagation: SIGKILL the outbox relay by recorded "
                                      "pid, then restart it"),
    FaultFamily(name="replay", nemesis="pipeline", starts=("replay",), stop="end-replay",
                start_template=_fixed("replay"), build=_build,
                option_keys=frozenset({"count"}), validate_options=_check_replay,
                heal_rank=45, summary="propagation: rewind the consumer group (XGROUP "
                                      "SETID) so the last events are delivered again"),
    FaultFamily(name="poison", nemesis="pipeline", starts=("start-poison",),
                stop="stop-poison", start_template=_fixed("start-poison"), build=_build,
                option_keys=frozenset({"p"}), validate_options=_check_poison, heal_rank=45,
                summary="propagation: mark a share of writes as poison (the consumer "
                        "fails on them; dead-lettered after 3 deliveries)"),
)

_NAMES = frozenset(f.name for f in FAMILIES)
