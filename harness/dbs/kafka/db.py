"""Apache Kafka 4.x in KRaft mode as the system under test (harness/dbs/base.py DB).

Every node runs one JVM that is both broker and controller (a static 3-voter quorum for
3 nodes), from the Maven Central jars of harness/dbs/kafka/install.py. One topic,
`queue`, with `partitions` partitions, RF = min(3, n) and the run's
`min.insync.replicas`; producers use the run's `acks` and idempotence
(harness/dbs/kafka/client.py).

    db = KafkaDB(nodes, store_dir=run_dir, prefix="sb1a2b3c", acks="all", min_insync=2)
    for n in nodes: db.setup(n)          # dirs, server.properties, StorageTool format
    for n in nodes: db.start(n)          # spawn, pid recorded in the run registry
    db.wait_ready(120)                   # 3 brokers registered, topic created, ISR full
    db.kill(node); db.start(node)        # SIGKILL by pid; a restart keeps the data dir

Where the JVM and the jars come from, per node (`_runtime`): a node that sees this
machine's files — netns (the same filesystem) and docker (the cluster bind-mounts the
cached install and this machine's Java read-only at the same paths, NodeNeeds.host_dirs
in harness/dbs/kafka/__init__.py) — runs them in place; any other node (ssh hosts, a
docker node without the mounts) runs `java` from its PATH (the ssh backend installs
openjdk-17-jre-headless where it may) and gets the jars uploaded once into
`<remote root>-cache/kafka/<version>-<fingerprint>/`, kept across runs and found again
by the jars' content hash. Either way the node's Java is checked (17 or newer) before
anything starts, and a missing one is an EnvironmentProblem naming the node and package.

Obligations: processes are signalled only by their recorded pid; data survives `kill`
(Kafka's log is on disk; page cache survives a process kill); `settle` waits for every
partition's ISR to be whole again so the final phase reads a healed cluster; teardown
SIGKILLs, copies logs to the store and removes the data.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import Daemon, RemoteError
from splitbrain.harness.dbs import daemons
from splitbrain.harness.dbs.kafka import config as cfg
from splitbrain.harness.dbs.kafka.client import TOPIC, KafkaQueueClient, KafkaSettings, SharedProducer
from splitbrain.harness.dbs.kafka.install import KafkaDist, ensure_installed, find_java, validate_version
from splitbrain.harness.errors import EnvironmentProblem, InputError

log = logging.getLogger("splitbrain")
ACKS = ("all", "1", "0")
WORKLOADS = ("queue",)


@dataclass
class _NodeState:
    daemon: Daemon | None = None
    paused: bool = False


@dataclass(frozen=True)
class _Runtime:
    """How one node runs Kafka: its java and the jars' classpath there."""

    java: str
    classpath: str


_JAVA_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')
# $1 staged dir, $2 final dir: the first complete copy wins, a later one is dropped, so
# nodes sharing one host (or one cache) may install concurrently.
_PUBLISH = ('if [ -e "$2/fingerprint" ]; then rm -rf "$1"; '
            'else mkdir -p "$(dirname "$2")" && mv -T "$1" "$2" || rm -rf "$1"; fi')


def remote_cache(node: Node) -> str:
    """Where a node keeps uploaded installs across runs: beside the run root (a node's
    workdir is <remote root>/<prefix>/<node>), e.g. /var/tmp/splitbrain-cache."""
    return os.path.dirname(os.path.dirname(node.workdir.rstrip("/"))) + "-cache"


class KafkaDB:
    name = "kafka"
    # no `port`: the clock nemesis would probe it with Redis TIME; with no probe it
    # reports the offsets it applied

    def __init__(self, nodes: list[Node], *, store_dir: str, prefix: str,
                 extra_env_fn: Callable[[Node], Mapping[str, str]] | None = None,
                 acks: str = "all", min_insync: int = 2, idempotence: bool = True,
                 version: str | None = None, heap_mb: int = 384, partitions: int = 8,
                 ready_timeout: float = 180.0):
        if not 1 <= len(nodes) <= 5:
            raise InputError(f"kafka runs on 1 to 5 nodes, not {len(nodes)}")
        if acks not in ACKS:
            raise InputError(f"--kafka-acks {acks!r}: allowed: {', '.join(ACKS)}")
        self.nodes = list(nodes)
        self.replication = min(3, len(self.nodes))
        if not 1 <= min_insync <= self.replication:
            raise InputError(f"--kafka-min-insync {min_insync}: allowed 1 to {self.replication}")
        self.version = validate_version(version)
        self.store_dir, self.prefix = store_dir, prefix
        self.extra_env_fn = extra_env_fn
        self.min_insync, self.heap_mb, self.partitions = min_insync, heap_mb, partitions
        self.ready_timeout = ready_timeout
        self.settings = KafkaSettings(
            bootstrap=",".join(f"{n.address}:{cfg.CLIENT_PORT}" for n in self.nodes),
            partitions=partitions, acks=acks, idempotence=idempotence)
        self.cid = cfg.cluster_id()
        self.producer = SharedProducer(self.settings)
        self._state = {n.name: _NodeState() for n in self.nodes}
        self._locks = {n.name: threading.RLock() for n in self.nodes}
        self._dist: KafkaDist | None = None
        self._java: str | None = None  # this machine's (for nodes that share its files)
        self._fingerprint: str | None = None
        self._runtimes: dict[str, _Runtime] = {}
        self._install_lock = threading.Lock()
        self._admin = None
        self.figures: dict[str, float] = {}

    def paths(self, node: Node) -> cfg.NodePaths:
        return cfg.NodePaths(os.path.join(node.workdir, "kafka"))

    def dist(self) -> KafkaDist:
        with self._install_lock:
            if self._dist is None:
                self._dist = ensure_installed(self.version, log=lambda m: log.info("%s", m))
            return self._dist

    # -- the JVM and jars on a node ------------------------------------------------------

    def _shares_files(self, node: Node) -> bool:
        """The node sees this machine's cached install at its own path."""
        if getattr(node.remote, "shares_pid_namespace", False):
            return True  # netns / local: the same filesystem
        return self.dist().root in (node.meta or {}).get("host_dirs", ())

    def runtime(self, node: Node) -> _Runtime:
        """The node's java and classpath, checked (and the jars installed) on first use."""
        rt = self._runtimes.get(node.name)
        if rt is not None:
            return rt
        dist = self.dist()
        if self._shares_files(node):
            with self._install_lock:
                if self._java is None:
                    # the real path: a docker node has the JVM's dir, not /usr/bin
                    self._java = os.path.realpath(find_java())
            java, lib = self._java, dist.lib_dir
        else:
            java, lib = "java", self._upload_jars(node, dist)
        self._check_java(node, java)
        rt = self._runtimes[node.name] = _Runtime(java, os.path.join(lib, "*"))
        return rt

    def _check_java(self, node: Node, java: str) -> None:
        try:
            res = node.remote.exec([java, "-version"], timeout=60, check=False)
        except RemoteError as e:
            res, why = None, str(e)
        text = (res.stdout + res.stderr) if res is not None else ""
        m = _JAVA_VERSION_RE.search(text)
        if res is None or res.exit_code != 0 or m is None:
            why = (text.strip().splitlines() or ["no output"])[-1][:200] if res else why
            raise EnvironmentProblem(
                f"{node.name}: Kafka needs Java 17 or newer on the node and `{java} -version` "
                f"failed ({why}); Debian: apt-get install openjdk-17-jre-headless")
        major = int(m.group(2) if m.group(1) == "1" else m.group(1))
        if major < 17:
            raise EnvironmentProblem(
                f"{node.name}: Kafka 4.x needs Java 17 or newer; `{java}` is Java {major}. "
                "Debian: apt-get install openjdk-17-jre-headless")

    def _upload_jars(self, node: Node, dist: KafkaDist) -> str:
        """Copy the jars into the node's cache once (by content hash); their lib dir."""
        with self._install_lock:
            if self._fingerprint is None:
                self._fingerprint = dist.fingerprint()
        fp = self._fingerprint
        final = f"{remote_cache(node)}/kafka/{dist.version}-{fp}"
        if self._cached(node, final, fp):
            return f"{final}/lib"
        staged = f"{final}.part-{self.prefix}-{node.name}"  # the run prefix: ours to remove
        t0 = time.monotonic()
        try:
            node.remote.exec(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1/lib"', "sb", staged],
                             timeout=60)
            for jar in dist.jars():
                node.remote.upload(os.path.join(dist.lib_dir, jar), f"{staged}/lib/{jar}")
            daemons.put_text(node, f"{staged}/fingerprint", fp + "\n")
            node.remote.exec(["sh", "-c", _PUBLISH, "sb", staged, final], timeout=60)
        except BaseException:
            try:
                node.remote.exec(["rm", "-rf", staged], timeout=60, check=False)
            except Exception:  # noqa: BLE001 - the upload's error is the news
                pass
            raise
        if not self._cached(node, final, fp):
            raise EnvironmentProblem(f"{node.name}: the Kafka jars uploaded to {final} are "
                                     "not there afterwards")
        self.figures[f"jars_upload_s_{node.name}"] = round(time.monotonic() - t0, 1)
        log.info("kafka jars uploaded to %s:%s in %.1f s", node.name, final,
                 time.monotonic() - t0)
        return f"{final}/lib"

    @staticmethod
    def _cached(node: Node, final: str, fp: str) -> bool:
        try:
            res = node.remote.exec(["cat", f"{final}/fingerprint"], timeout=30, check=False)
        except RemoteError:
            return False
        return res.exit_code == 0 and res.stdout.strip() == fp

    # -- lifecycle ---------------------------------------------------------------------------

    def setup(self, node: Node) -> None:
        """Fresh dirs, server.properties, log4j2; format the storage (idempotent)."""
        rt = self.runtime(node)
        p = self.paths(node)
        node.remote.exec(["rm", "-rf", p.data], timeout=60)
        node.remote.exec(["mkdir", "-p", p.root, p.logs, p.data], timeout=10)
        voters = [(i + 1, n.address) for i, n in enumerate(self.nodes)]
        daemons.put_text(node, p.props, cfg.render_properties(
            node_id=self._index(node) + 1, address=node.address, voters=voters, paths=p,
            replication=self.replication, min_insync=self.min_insync))
        daemons.put_text(node, p.log4j, cfg.LOG4J2)
        res = node.remote.exec(cfg.format_argv(rt.java, rt.classpath, p, self.cid),
                               timeout=120, check=False)
        if res.exit_code != 0:
            raise EnvironmentProblem(f"kafka storage format on {node.name} failed: "
                                     f"{(res.stdout + res.stderr).strip()[-400:]}")

    def start(self, node: Node) -> None:
        rt = self.runtime(node)
        with self._locks[node.name]:
            st = self._state[node.name]
            if st.daemon is not None and daemons.alive(node, st.daemon):
                return
            if st.daemon is not None:
                daemons.unregister(self.prefix, st.daemon)
            p = self.paths(node)
            env = dict(self.extra_env_fn(node)) if self.extra_env_fn else {}
            st.daemon = daemons.spawn(node, cfg.server_argv(rt.java, rt.classpath, p,
                                                            self.heap_mb),
                                      prefix=self.prefix, what="kafka", log_path=p.stdout,
                                      env=env)
            st.paused = False

    def kill(self, node: Node) -> None:
        with self._locks[node.name]:
            st = self._state[node.name]
            if st.daemon is None:
                return
            daemons.signal(node, st.daemon, "KILL")
            if not daemons.wait_gone(node, st.daemon, 10.0, poll=0.05):
                raise EnvironmentProblem(f"kafka on {node.name} (pid {st.daemon.pid}) still "
                                         f"runs 10 s after SIGKILL")
            daemons.unregister(self.prefix, st.daemon)
            st.daemon, st.paused = None, False

    def pause(self, node: Node) -> None:
        with self._locks[node.name]:
            st = self._state[node.name]
            if st.daemon is not None:
                daemons.signal(node, st.daemon, "STOP")
                st.paused = True

    def resume(self, node: Node) -> None:
        with self._locks[node.name]:
            st = self._state[node.name]
            if st.daemon is not None:
                daemons.signal(node, st.daemon, "CONT")
                st.paused = False

    def teardown(self, node: Node) -> None:
        with self._locks[node.name]:
            st = self._state[node.name]
            if st.daemon is not None:
                daemons.signal(node, st.daemon, "KILL")
                daemons.signal(node, st.daemon, "CONT")
                daemons.wait_gone(node, st.daemon, 10.0, poll=0.05)
                daemons.unregister(self.prefix, st.daemon)
                st.daemon, st.paused = None, False
        if all(s.daemon is None for s in self._state.values()):
            self._admin = None
            self.producer.close()
        daemons.copy_files(node, self.log_files(node),
                           os.path.join(self.store_dir, "nodes", node.name))
        try:
            node.remote.exec(["rm", "-rf", self.paths(node).data], timeout=60, check=False)
        except RemoteError:
            pass

    def log_files(self, node: Node) -> list[str]:
        p = self.paths(node)
        return [p.server_log, p.stdout, p.props]

    # -- clients -----------------------------------------------------------------------------

    def client(self, node: Node, model, process: int, *, final: bool = False) -> KafkaQueueClient:
        """A client for the queue model (harness/models.py; a workload name also works)."""
        self._check_workload(model)
        return KafkaQueueClient(self.settings, process, final=final, producer=self.producer)

    def final_client(self, node: Node, model, process: int) -> KafkaQueueClient:
        return self.client(node, model, process, final=True)

    def _check_workload(self, model) -> None:
        workload = model if isinstance(model, str) else (
            model.namespace or model.model if getattr(model, "model", None) == "queue" else model)
        if workload not in WORKLOADS:
            raise InputError(f"kafka has no workload {workload!r}; allowed: {', '.join(WORKLOADS)}")

    # -- cluster state -----------------------------------------------------------------------

    def admin(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient({"bootstrap.servers": self.settings.bootstrap,
                                       "socket.connection.setup.timeout.ms": 3000,
                                       "log_level": 2})
        return self._admin

    def _metadata(self, timeout: float = 3.0):
        try:
            return self.admin().list_topics(timeout=timeout)
        except Exception:
            return None

    def primaries(self) -> list[Node]:
        """The nodes leading a partition of the topic (targets of `kill primaries`, and
        the pool of `partition-one-primary`: one partition leader cut off from its
        followers). A metadata request can time out on a loaded machine; it is asked up
        to three times, because a fault aimed at a leader that finds none is not applied."""
        for _ in range(3):
            md = self._metadata()
            if md is not None and TOPIC in md.topics:
                leaders = {p.leader for p in md.topics[TOPIC].partitions.values()
                           if p.leader >= 0}
                if leaders:
                    return [n for i, n in enumerate(self.nodes) if i + 1 in leaders]
            time.sleep(0.5)
        return []

    def _unhealthy(self) -> str | None:
        md = self._metadata()
        if md is None:
            return "no metadata"
        if len(md.brokers) < len(self.nodes):
            return f"{len(md.brokers)} of {len(self.nodes)} brokers registered"
        t = md.topics.get(TOPIC)
        if t is None or t.error is not None:
            return "topic missing"
        for pid, p in t.partitions.items():
            if p.leader < 0 or len(p.isrs) < self.replication:
                return f"partition {pid}: leader {p.leader}, ISR {list(p.isrs)}"
        return None

    def wait_ready(self, timeout: float | None = None) -> None:
        """All brokers registered, the topic created, every partition led with a full ISR."""
        from confluent_kafka.admin import NewTopic

        timeout = max(float(timeout or 0), self.ready_timeout)
        t0 = time.monotonic()
        deadline = t0 + timeout
        why = "not started"
        created = False
        while time.monotonic() < deadline:
            for n in self.nodes:
                st = self._state[n.name]
                if st.daemon is not None and not daemons.alive(n, st.daemon):
                    raise EnvironmentProblem(f"kafka on {n.name} exited during start-up: "
                                             f"{daemons.tail(n, self.paths(n).server_log, 4)}")
            md = self._metadata()
            if md is not None and len(md.brokers) >= len(self.nodes) and not created:
                if TOPIC in md.topics:
                    created = True
                else:
                    fut = self.admin().create_topics([NewTopic(
                        TOPIC, num_partitions=self.partitions,
                        replication_factor=self.replication,
                        config={"min.insync.replicas": str(self.min_insync),
                                "unclean.leader.election.enable": "false"})])
                    try:
                        fut[TOPIC].result(timeout=10)
                        created = True
                    except Exception as e:
                        why = f"create topic: {e}"
            if created:
                why = self._unhealthy()
                if why is None and not self._warm_up(deadline):
                    why = "the producer's first send was not acknowledged"
                if why is None:
                    self.figures["ready_s"] = round(time.monotonic() - t0, 1)
                    log.info("kafka ready in %.1f s", time.monotonic() - t0)
                    return
            elif md is not None:
                why = f"{len(md.brokers)} of {len(self.nodes)} brokers registered"
            time.sleep(0.5)
        raise EnvironmentProblem(f"kafka was not ready within {timeout:.0f} s: {why}; "
                                 f"{daemons.tail(self.nodes[0], self.paths(self.nodes[0]).server_log, 3)}")

    def _warm_up(self, deadline: float) -> bool:
        """One acknowledged send per partition before the first op: the producer id and
        every leader connection exist, so the run's first sends are not 10 s slow. The
        messages' key `warmup` is no workload key: consumers drop it (client.py)."""
        p = self.producer.get()
        acked = []

        def done(err, msg):
            acked.append(err is None)

        for part in range(self.partitions):
            p.produce(TOPIC, key=b"warmup", value=b"0", partition=part, on_delivery=done)
        while len(acked) < self.partitions and time.monotonic() < deadline:
            p.poll(0.1)
        return len(acked) == self.partitions and all(acked)

    def settle(self, timeout: float) -> str | None:
        """After the heal: wait until every partition has a leader and a full ISR."""
        deadline = time.monotonic() + timeout
        while True:
            why = self._unhealthy()
            if why is None or time.monotonic() >= deadline:
                return why
            time.sleep(0.5)

    def _index(self, node: Node) -> int:
        for i, n in enumerate(self.nodes):
            if n.name == node.name:
                return i
        raise InputError(f"{node.name} is not a node of this cluster")
