"""Kafka on the docker and ssh backends, without a JVM: what a docker node bind-mounts,
the node's Java check, and the content-addressed upload of the jars to a node that does
not see this machine's files (harness/dbs/kafka/db.py `runtime`)."""

from __future__ import annotations

import os
import threading

import pytest

from splitbrain.harness.cluster import docker_image
from splitbrain.harness.cluster.base import Node
from splitbrain.harness.config import build_test
from splitbrain.harness.control.base import ExecResult
from splitbrain.harness.control.local import LocalRemote
from splitbrain.harness.dbs.kafka import SPEC
from splitbrain.harness.dbs.kafka import db as kafka_db
from splitbrain.harness.dbs.kafka.db import KafkaDB
from splitbrain.harness.dbs.kafka.install import KafkaDist, java_dirs
from splitbrain.harness.errors import EnvironmentProblem


def test_kafka_runs_on_every_backend():
    assert build_test({"db": "kafka", "workload": "queue", "backend": "docker"}).backend == "docker"
    t = build_test({"db": "kafka", "workload": "queue", "backend": "ssh",
                    "ssh_nodes": ("10.0.0.2", "10.0.0.3", "10.0.0.4")})
    assert t.backend == "ssh"


def test_docker_nodes_use_the_standard_image_and_mount_the_install():
    needs = SPEC.needs
    assert needs.commands == ("java",) and needs.host_dirs is not None  # netns, ssh: java
    assert needs.in_image().packages == ()  # docker: the mounts bring it
    assert docker_image.default_image(needs.in_image()) == docker_image.default_image("redis")


def test_java_dirs_are_the_home_and_its_absolute_link_targets(tmp_path):
    home = tmp_path / "jvm" / "java-17"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "lib" / "security").mkdir(parents=True)
    etc = tmp_path / "etc" / "java-17"
    (etc / "security").mkdir(parents=True)
    for f in ("jvm.cfg", "security/java.security"):
        (etc / f).write_text("x")
    os.symlink(etc / "jvm.cfg", home / "lib" / "jvm.cfg")
    os.symlink(etc / "security" / "java.security", home / "lib" / "security" / "java.security")
    os.symlink("../bin/java", home / "lib" / "relative")  # inside the home: nothing more
    os.symlink(tmp_path / "gone" / "x", home / "lib" / "dangling")  # absent: not mounted
    link = tmp_path / "usr-bin-java"
    os.symlink(home / "bin" / "java", link)  # /usr/bin/java -> alternatives -> the home
    assert java_dirs(str(link)) == sorted([str(etc), str(home)])


class _JavaRemote:
    def __init__(self, code: int, text: str):
        self.code, self.text = code, text

    def exec(self, argv, **kw):
        return ExecResult(self.code, "", self.text)


def _db(nodes) -> KafkaDB:
    return KafkaDB(nodes, store_dir="/nonexistent", prefix="sbtest01", min_insync=1)


@pytest.mark.parametrize("code,text,needle", [
    (127, "sh: java: not found", "n1: Kafka needs Java 17 or newer on the node"),
    (0, 'openjdk version "11.0.22" 2024-01-16', "is Java 11"),
    (0, 'java version "1.8.0_392"', "is Java 8"),
])
def test_a_node_without_java_17_is_an_environment_problem(code, text, needle):
    node = Node("n1", "10.0.0.2", _JavaRemote(code, text), "/w/n1")
    with pytest.raises(EnvironmentProblem, match=needle) as e:
        _db([node])._check_java(node, "java")
    assert "openjdk-17-jre-headless" in str(e.value)


def test_java_17_and_newer_pass():
    for text in ('openjdk version "17.0.15" 2025-04-15', 'openjdk version "21" 2023-09-19'):
        node = Node("n1", "10.0.0.2", _JavaRemote(0, text), "/w/n1")
        _db([node])._check_java(node, "java")


class _RemoteNode(LocalRemote):
    shares_pid_namespace = False  # acts as a host that does not see our files


def test_jars_are_uploaded_once_by_content_and_concurrent_nodes_agree(tmp_path, monkeypatch):
    lib = tmp_path / "dist" / "4.4.0" / "lib"
    lib.mkdir(parents=True)
    for i in range(3):
        (lib / f"kafka_2.13-{i}.jar").write_bytes(os.urandom(1000))
    dist = KafkaDist("4.4.0", str(lib))
    cache = tmp_path / "cache"
    monkeypatch.setattr(kafka_db, "remote_cache", lambda node: str(cache))
    nodes = [Node(f"n{i}", f"10.0.0.{i + 1}", _RemoteNode(f"n{i}"), str(tmp_path / f"w/n{i}"))
             for i in (1, 2, 3)]
    db = _db(nodes)
    got = {}
    threads = [threading.Thread(target=lambda n=n: got.update({n.name: db._upload_jars(n, dist)}))
               for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = cache / "kafka" / f"4.4.0-{dist.fingerprint()}"
    assert set(got.values()) == {str(final / "lib")}
    assert os.listdir(cache / "kafka") == [final.name]  # no staged copy left behind
    assert sorted(os.listdir(final / "lib")) == dist.jars()
    assert (final / "fingerprint").read_text().strip() == dist.fingerprint()
    for j in dist.jars():
        assert (final / "lib" / j).read_bytes() == (lib / j).read_bytes()
    # cached: a later run uploads nothing
    db2 = _db(nodes)
    monkeypatch.setattr(LocalRemote, "upload", lambda *a: pytest.fail("uploaded again"))
    assert db2._upload_jars(nodes[0], dist) == str(final / "lib")
    # other content is another entry, never mistaken for the cached one
    before = dist.fingerprint()
    (lib / "kafka_2.13-0.jar").write_bytes(b"changed")
    assert KafkaDist("4.4.0", str(lib)).fingerprint() != before


def test_nodes_sharing_this_machines_files_run_the_install_in_place(tmp_path):
    lib = tmp_path / "4.4.0" / "lib"
    lib.mkdir(parents=True)
    dist = KafkaDist("4.4.0", str(lib))
    local = Node("n1", "10.0.0.2", LocalRemote("n1"), "/w/n1")
    mounted = Node("n2", "10.0.0.3", _RemoteNode("n2"), "/w/n2",
                   meta={"host_dirs": [dist.root, "/usr/lib/jvm/x"]})
    ssh = Node("n3", "10.0.0.4", _RemoteNode("n3"), "/w/n3", meta={"backend": "ssh"})
    db = _db([local, mounted, ssh])
    db._dist = dist
    assert db._shares_files(local) and db._shares_files(mounted)
    assert not db._shares_files(ssh)


def test_docker_refuses_to_mount_what_is_not_there(tmp_path):
    from splitbrain.harness.cluster.base import NodeNeeds
    from splitbrain.harness.cluster.docker import DockerCluster

    there = tmp_path / "jars"
    there.mkdir()
    ok = DockerCluster("sbtest02", db=NodeNeeds(host_dirs=lambda: [str(there), str(there)]))
    assert ok._host_dirs() == [str(there)]  # each once; nothing is created before up()
    bad = DockerCluster("sbtest02", db=NodeNeeds(host_dirs=lambda: [str(tmp_path / "gone")]))
    with pytest.raises(EnvironmentProblem, match="cannot share .*gone"):
        bad._host_dirs()  # the engine would mount an empty dir in its place
    assert DockerCluster("sbtest02", db="redis")._host_dirs() == []


# -- `--workload propagation --queue kafka` off netns ------------------------------------

SSH3 = {"ssh_nodes": ("10.0.0.2", "10.0.0.3", "10.0.0.4")}


@pytest.mark.parametrize("backend, extra", [("docker", {}), ("ssh", SSH3)])
def test_propagation_through_kafka_runs_on_docker_and_ssh(backend, extra):
    t = build_test({"workload": "propagation", "queue": "kafka", "backend": backend, **extra})
    assert (t.backend, t.queue) == (backend, "kafka")


@pytest.mark.parametrize("backend, extra", [("docker", {}), ("ssh", SSH3)])
def test_cassandra_source_is_refused_off_netns(backend, extra):
    from splitbrain.harness.errors import InputError

    with pytest.raises(InputError, match="netns backend only"):
        build_test({"workload": "propagation", "source": "cassandra", "backend": backend,
                    **extra})


def test_the_queue_adds_kafkas_needs_to_the_nodes():
    from splitbrain.harness.dbs.kafka import NEEDS
    from splitbrain.harness.dbs.redis import SPEC as REDIS
    from splitbrain.workloads.propagation import node_needs

    redis = REDIS.needs
    assert node_needs(build_test({"workload": "propagation"}), redis) is redis
    both = node_needs(build_test({"workload": "propagation", "queue": "kafka"}), redis)
    assert both.tools == {**redis.tools, "java": "openjdk-17-jre-headless"}
    assert both.host_dirs is NEEDS.host_dirs  # docker: the jars and JVM bind-mounted
    # the docker image stays the standard one (Redis is in the base packages)
    assert docker_image.default_image(both.in_image()) == docker_image.default_image(redis)


def test_agents_run_in_n1_on_netns_and_on_the_controller_elsewhere(tmp_path):
    from splitbrain.workloads.propagation import agent_host

    class _Ssh:  # a remote of another machine: no shared pids or files
        pass

    shared = [Node("n1", "10.0.0.2", LocalRemote("n1"), str(tmp_path))]
    assert agent_host(shared, "sbunit", str(tmp_path)) is shared[0]
    there = agent_host([Node("n1", "10.0.0.2", _Ssh(), "/srv/x")], "sbunit", str(tmp_path))
    assert (there.name, there.address, there.workdir) == ("controller", "10.0.0.2",
                                                          str(tmp_path))
    assert isinstance(there.remote, LocalRemote) and there.remote.run_prefix == "sbunit"
