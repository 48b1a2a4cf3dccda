"""What one Cassandra node is started with: cassandra.yaml, logback.xml, the JVM argv.

Pure functions (design/cassandra.md §2-§3); CassandraDB writes their output to the node.

    tokens(3)                                  # evenly spaced Murmur3 tokens, one per node
    render_yaml(node, paths, seeds=[...], token=t, cluster_name="sb1a2b3c")
    jvm_argv(java, dist, paths, heap_mb=512)   # the foreground CassandraDaemon command

Choices that matter for what the tests show:
* every node is a seed with a fixed token and `auto_bootstrap: false`: nodes start in
  parallel without the 30 s ring delay or bootstrap streaming;
* `RackInferringSnitch` with the dynamic snitch off: a coordinator orders replicas with
  itself first, so a CL ONE read through node X is answered from X's own data (the final
  reads per node depend on this) — SimpleSnitch leaves the order unsorted;
* request timeouts below the client's (2 s vs 6 s), so a coordinator's own timeout
  (WriteTimeout, which says how many replicas acknowledged) usually answers first;
* hinted handoff stays on: it is part of how Cassandra converges after a partition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from splitbrain.harness.dbs.cassandra_install import CassandraDist

CQL_PORT = 9042
STORAGE_PORT = 7000

LOGBACK_XML = """<configuration scan="false">
  <!-- splitbrain: INFO to <logdir>/system.log; logback's default (DEBUG to stdout) is
       slow and noisy (design/cassandra.md §4). -->
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${cassandra.logdir}/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra.db.lifecycle.LogTransaction" level="WARN"/>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""

# design/cassandra.md §2: the union of 5.0's jvm17-server.options and what embedders pass.
JPMS_FLAGS = (
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.management/com.sun.jmx.remote.security=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
)


@dataclass(frozen=True)
class NodePaths:
    """Everything of one node lives under `root` (`<node.workdir>/cassandra`)."""

    root: str

    @property
    def yaml(self) -> str:
        return os.path.join(self.root, "cassandra.yaml")

    @property
    def logback(self) -> str:
        return os.path.join(self.root, "logback.xml")

    @property
    def logs(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def system_log(self) -> str:
        return os.path.join(self.logs, "system.log")

    @property
    def stdout(self) -> str:
        return os.path.join(self.root, "cassandra.stdout")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def data_dirs(self) -> tuple[str, ...]:
        """Wiped at setup and teardown (a stale cluster name or token is fatal)."""
        return tuple(os.path.join(self.root, d) for d in
                     ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "tmp"))


def tokens(n: int) -> list[int]:
    """n evenly spaced Murmur3 tokens in [-2^63, 2^63)."""
    if n < 1:
        raise ValueError("need at least one node")
    step = 2 ** 64 // n
    return [-(2 ** 63) + i * step for i in range(n)]


COMMITLOG_SYNC = ("periodic", "batch", "group")


def render_yaml(*, address: str, paths: NodePaths, seeds: list[str], token: int,
                cluster_name: str, request_timeout_ms: int = 2000,
                commitlog_sync: str = "periodic") -> str:
    """cassandra.yaml for one node (5.0 key names; Cassandra rejects unknown keys)."""
    r = paths.root
    lines = [
        f"cluster_name: {cluster_name}",
        "num_tokens: 1",
        f"initial_token: {token}",
        "partitioner: org.apache.cassandra.dht.Murmur3Partitioner",
        "endpoint_snitch: RackInferringSnitch",
        "dynamic_snitch: false",
        # periodic (Cassandra's default): acks before the commitlog is fsynced (every
        # 10 s); batch/group: fsync before the ack (group: shared across a 15 ms window)
        f"commitlog_sync: {commitlog_sync}",
        *({"periodic": ["commitlog_sync_period: 10000ms"],
           "group": ["commitlog_sync_group_window: 15ms"]}.get(commitlog_sync, [])),
        "seed_provider:",
        "  - class_name: org.apache.cassandra.locator.SimpleSeedProvider",
        f"    parameters: [{{seeds: \"{','.join(seeds)}\"}}]",
        f"listen_address: {address}",
        f"rpc_address: {address}",
        f"storage_port: {STORAGE_PORT}",
        f"native_transport_port: {CQL_PORT}",
        "start_native_transport: true",
        f"data_file_directories: [{os.path.join(r, 'data')}]",
        f"commitlog_directory: {os.path.join(r, 'commitlog')}",
        f"saved_caches_directory: {os.path.join(r, 'saved_caches')}",
        f"hints_directory: {os.path.join(r, 'hints')}",
        f"cdc_raw_directory: {os.path.join(r, 'cdc_raw')}",
        "auto_bootstrap: false",
        "auto_snapshot: false",
        "hinted_handoff_enabled: true",
        # Hints reach disk (and system_views.pending_hints, which settle() watches) within
        # 1 s instead of 10 s, so the settle phase sees what is still to be delivered.
        "hints_flush_period: 1000ms",
        f"read_request_timeout: {request_timeout_ms}ms",
        f"write_request_timeout: {request_timeout_ms}ms",
        f"counter_write_request_timeout: {request_timeout_ms}ms",
        f"range_request_timeout: {2 * request_timeout_ms}ms",
        f"request_timeout: {2 * request_timeout_ms}ms",
        f"cas_contention_timeout: {max(500, request_timeout_ms // 2)}ms",
        # Small test data: keep memtables from claiming a large slice of a 512 MB heap.
        "memtable_heap_space: 64MiB",
        "memtable_offheap_space: 64MiB",
    ]
    return "\n".join(lines) + "\n"


def jvm_argv(java: str, dist: CassandraDist, paths: NodePaths, *, heap_mb: int = 512,
             processors: int = 2) -> list[str]:
    """The foreground `CassandraDaemon` command for one node (design/cassandra.md §2).

    Startup speed on small machines: C1 only (`TieredStopAtLevel=1`) and the serial GC
    roughly halve the CPU a cold start burns, which is what limits three JVMs on two
    cores; peak throughput is not what a fault-injection test needs."""
    return [
        java,
        f"-Xms{heap_mb}m", f"-Xmx{heap_mb}m", "-Xss256k",
        "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
        "-XX:+ExitOnOutOfMemoryError",
        # a JVM crash report (hs_err_pid*.log) goes with the node's logs, which the run
        # keeps, never into the working directory (a SIGBUS under the disk nemesis)
        f"-XX:ErrorFile={os.path.join(paths.logs, 'hs_err_pid%p.log')}",
        "-ea", "-da:net.openhft...",
        "-Djava.net.preferIPv4Stack=true",
        f"-javaagent:{dist.jamm_jar}", "-Djdk.attach.allowAttachSelf=true",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Dio.netty.allocator.useCacheForAllThreads=true",
        "-Dio.netty.allocator.maxOrder=11",
        *JPMS_FLAGS,
        "-Dcassandra-foreground=yes",  # without it CassandraDaemon closes stdout/stderr
        f"-Dcassandra.config=file://{paths.yaml}",
        f"-Dcassandra.storagedir={paths.root}",
        f"-Dcassandra.logdir={paths.logs}",
        f"-Dlogback.configurationFile={paths.logback}",
        f"-Djava.io.tmpdir={paths.tmp}",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=5000",
        "-Dcassandra.superuser_setup_delay_ms=0",
        # the memtable's per-row heap overhead as this JVM estimates it (180-181 bytes in
        # the start-up logs here): given, Cassandra skips the estimate, a 100 000-step
        # loop that took 1-4 s of every start on 2 cores (SkipListMemtable; it only
        # sizes the memtable accounting for flushes)
        "-Dcassandra.memtable.row_overhead_size=180",
        f"-Dcassandra.available_processors={processors}",
        "-cp", dist.classpath,
        "org.apache.cassandra.service.CassandraDaemon",
    ]
