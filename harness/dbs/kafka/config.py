"""Kafka node files: server.properties (combined broker+controller, KRaft), log4j2, JVM argv.

Derived from Kafka's own `config/server.properties` (design/queues.md §(c)): a static
quorum of every node (`controller.quorum.voters`), so formatting needs no bootstrap
flags; unclean leader election off; internal topics RF = min(3, n). `min.insync.replicas`
is the run's option (default 2): with `acks=all` it is what makes an acknowledged send
durable against one node's loss.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
REPLICA_LAG_TIME_MAX_MS = 5000
# a follower counts as caught up as of its previous fetch, so it can look up to two
# waits behind: the wait stays well under half the ISR lag limit, or followers drop out
MAX_FOLLOWER_FETCH_WAIT_MS = 2000

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.req.name = kafka.request.logger
logger.req.level = WARN
"""


@dataclass(frozen=True)
class NodePaths:
    root: str

    @property
    def data(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def logs(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def props(self) -> str:
        return os.path.join(self.root, "server.properties")

    @property
    def log4j(self) -> str:
        return os.path.join(self.root, "log4j2.properties")

    @property
    def stdout(self) -> str:
        return os.path.join(self.logs, "stdout.log")

    @property
    def server_log(self) -> str:
        return os.path.join(self.logs, "server.log")


def cluster_id() -> str:
    """A 22-character URL-safe base64 UUID, as `StorageTool random-uuid` prints.

    Like Kafka's own `Uuid.randomUuid()`, never one that starts with '-': the
    storage tool's argument parser would read it as an option (`--cluster-id:
    expected one argument`), which failed one CI run in 64.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def render_properties(*, node_id: int, address: str, voters: list[tuple[int, str]],
                      paths: NodePaths, replication: int, min_insync: int,
                      follower_fetch_wait_ms: int = 0) -> str:
    quorum = ",".join(f"{i}@{a}:{CONTROLLER_PORT}" for i, a in voters)
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={quorum}",
        f"listeners=PLAINTEXT://{address}:{CLIENT_PORT},CONTROLLER://{address}:{CONTROLLER_PORT}",
        f"advertised.listeners=PLAINTEXT://{address}:{CLIENT_PORT}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={paths.data}",
        "num.partitions=1",
        f"default.replication.factor={replication}",
        f"min.insync.replicas={min_insync}",
        "unclean.leader.election.enable=false",
        "auto.create.topics.enable=false",
        f"offsets.topic.replication.factor={replication}",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={min(2, replication)}",
        f"share.coordinator.state.topic.replication.factor={replication}",
        f"share.coordinator.state.topic.min.isr={min(2, replication)}",
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=1000",
        # a follower cut off for longer than this leaves the ISR (default 30 s)
        f"replica.lag.time.max.ms={REPLICA_LAG_TIME_MAX_MS}",
        # KRaft fences a broker that misses heartbeats this long (default 9 s)
        "broker.session.timeout.ms=6000",
        "num.network.threads=2",
        "num.io.threads=2",
        "num.recovery.threads.per.data.dir=1",
        "log.segment.bytes=67108864",
    ]
    if follower_fetch_wait_ms > 0:
        # a follower's fetch is held at the leader until 1 MiB is there or the wait is
        # up: the queue's sends never fill 1 MiB, so followers lag by up to the wait
        # (an acks=1 leader acknowledges that much its followers do not have yet)
        lines += ["replica.fetch.min.bytes=1048576",
                  f"replica.fetch.wait.max.ms={follower_fetch_wait_ms}"]
    return "\n".join(lines) + "\n"


def java_base(java: str, classpath: str, paths: NodePaths, heap_mb: int, *,
              gc: tuple[str, ...] = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                                     "-XX:InitiatingHeapOccupancyPercent=35",
                                     "-XX:+ExplicitGCInvokesConcurrent")) -> list[str]:
    return [java, f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", *gc, "-XX:ActiveProcessorCount=1",
            f"-XX:ErrorFile={os.path.join(paths.logs, 'hs_err_pid%p.log')}",  # not into the cwd
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={paths.log4j}",
            f"-Dkafka.logs.dir={paths.logs}", "-cp", classpath]


# The storage format is a one-shot JVM per node, three at once at every run's start:
# C1 only, the serial GC and no perf-data file cut the CPU it burns before it exits.
SHORT_LIVED_JVM = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")


def format_argv(java: str, classpath: str, paths: NodePaths, cid: str) -> list[str]:
    return java_base(java, classpath, paths, 128, gc=SHORT_LIVED_JVM) + [
        "kafka.tools.StorageTool", "format", "-t", cid, "-c", paths.props, "--ignore-formatted"]


def server_argv(java: str, classpath: str, paths: NodePaths, heap_mb: int) -> list[str]:
    # C1 only (as Cassandra's nodes, cassandra_config.jvm_argv): a broker reaches "Kafka
    # Server started" with ~40% less CPU (3.4 -> 2.0 CPU-s measured here), which is what
    # three JVMs on two cores wait for at every start and restart; a test's few hundred
    # ops/s need no C2-compiled code.
    base = java_base(java, classpath, paths, heap_mb)
    return [base[0], "-XX:TieredStopAtLevel=1", *base[1:], "kafka.Kafka", paths.props]
