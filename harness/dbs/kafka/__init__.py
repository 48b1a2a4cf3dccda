"""Apache Kafka 4.x (KRaft) as a datastore: install from Maven Central, node config, the
DB lifecycle and the confluent-kafka queue client. See db.py.

One package exporting `SPEC`, registered by one line in harness/dbs/__init__.py. Its
options (acks, min_insync, idempotence) are also the `--kafka-*` run flags (aliases).
"""

from __future__ import annotations

from dataclasses import dataclass

from splitbrain.harness.cluster.base import NodeNeeds
from splitbrain.harness.dbs.base import DatastoreSpec
from splitbrain.harness.dbs.kafka.db import KafkaDB
from splitbrain.harness.errors import InputError

ACKS_CHOICES = ("all", "1", "0")


@dataclass(frozen=True)
class KafkaOptions:
    """acks: the producer's acks; min_insync: the topic's min.insync.replicas (at most
    the replication factor, min(3, nodes)); idempotence: the idempotent producer."""

    acks: str = "all"
    min_insync: int = 2
    idempotence: bool = True

    def validate(self, nodes: int) -> None:
        if self.acks not in ACKS_CHOICES:
            raise InputError(f"--kafka-acks {self.acks!r}: allowed: {', '.join(ACKS_CHOICES)}")
        if not 1 <= nodes <= 5:
            raise InputError(f"--nodes {nodes}: Kafka runs 1 to 5 nodes")
        if not 1 <= self.min_insync <= min(3, nodes):
            raise InputError(f"--kafka-min-insync {self.min_insync}: allowed 1 to {min(3, nodes)}")


def _rules(test, opts: KafkaOptions) -> None:
    """Kafka runs the queue workload (one consumer per process, no groups yet), on every
    backend (netns, docker, ssh: see db.py for how the jars and the JVM reach a node)."""
    if getattr(test, "workload", "queue") != "queue":
        raise InputError(f"--db kafka runs the queue workload, not {test.workload!r}")


def _host_dirs() -> list[str]:
    # imported late: `splitbrain check` never needs the installer
    from splitbrain.harness.dbs.kafka.install import host_dirs

    return host_dirs()


# `java` on every node: netns checks this machine, ssh hosts get the package installed
# where they may; docker nodes bind-mount the cached jars and this machine's JVM instead
# (host_dirs), so the standard node image serves and no Java image is built.
NEEDS = NodeNeeds({"java": "openjdk-17-jre-headless"},
                  "bash scripts/setup.sh --cassandra (Debian: openjdk-17-jre-headless maven)",
                  host_dirs=_host_dirs)


SPEC = DatastoreSpec(
    name="kafka", summary="Apache Kafka 4.x (KRaft), acks/min.insync.replicas/idempotence",
    options=KafkaOptions,
    needs=NEEDS,
    make=lambda nodes, ctx, o: KafkaDB(nodes, store_dir=ctx.store_dir, prefix=ctx.prefix,
                                       extra_env_fn=ctx.node_env, acks=o.acks,
                                       min_insync=o.min_insync, idempotence=o.idempotence),
    label=lambda o, workload: f"kafka-acks{o.acks}-isr{o.min_insync}-{workload}",
    aliases={"kafka_acks": "acks", "kafka_min_insync": "min_insync",
             "kafka_idempotence": "idempotence"},
    flags=("kafka_acks", "kafka_min_insync", "kafka_idempotence"), db_class=lambda: KafkaDB,
    models=("queue",), rules=_rules)

__all__ = ["KafkaDB", "KafkaOptions", "SPEC"]
