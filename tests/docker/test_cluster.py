"""DockerCluster against a real engine: topology, isolation, faults inside nodes, cleanup."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time

import pytest

from splitbrain.harness.errors import EnvironmentProblem
from tests.docker.conftest import resource_counts, sb_docker_resources

pytestmark = [pytest.mark.docker, pytest.mark.root]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _can_connect(remote, addr: str, port: int) -> bool:
    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])),"
            " timeout=1.5).close()\nexcept OSError:\n sys.exit(1)")
    return remote.exec(["python3", "-c", code, addr, str(port)], check=False,
                       timeout=10).exit_code == 0


def _controller_outside_address() -> str:
    """The controller's address on its default route (not on any node network)."""
    out = subprocess.run(["ip", "-j", "-4", "route", "get", "192.0.2.77"], capture_output=True,
                         text=True, timeout=10).stdout
    return json.loads(out)[0].get("prefsrc") or "192.0.2.1"


def test_up_builds_an_isolated_network_and_down_removes_it(docker_client, node_image, tmp_path):
    from splitbrain.harness.cluster.docker import DockerCluster
    from splitbrain.harness import registry

    before = resource_counts(docker_client)
    c = DockerCluster(nodes=3, client=docker_client, workdir_root=str(tmp_path))
    t0 = time.monotonic()
    nodes = c.up()
    up_s = time.monotonic() - t0
    print(f"\n[figure] docker cluster up, 3 nodes, image present: {up_s:.2f}s {c.timings}")
    try:
        assert [n.name for n in nodes] == ["n1", "n2", "n3"]
        assert len({n.address for n in nodes}) == 3
        net = docker_client.api.inspect_network(c.network)
        assert net["Internal"] is True and net["Labels"]["splitbrain.prefix"] == c.prefix
        for n in nodes:
            info = docker_client.api.inspect_container(n.meta["container"])
            assert info["Name"].lstrip("/").startswith(c.prefix)
            assert "NET_ADMIN" in info["HostConfig"]["CapAdd"]
            assert info["Config"]["Labels"]["splitbrain.prefix"] == c.prefix
            routes = n.remote.exec(["ip", "-4", "route"]).stdout
            assert "default" not in routes, routes  # no route out
            assert not _can_connect(n.remote, _controller_outside_address(), 22)
        # a listener on n1 is reachable from the controller and from n2
        d = nodes[0].remote.spawn(["python3", "-m", "http.server", "8080"],
                                  log_path=f"{nodes[0].workdir}/http.log")
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((nodes[0].address, 8080), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "controller cannot reach n1"
                time.sleep(0.1)
        assert _can_connect(nodes[1].remote, nodes[0].address, 8080)
        # NET_ADMIN: the partition nemesis' iptables rules work inside the containers
        from splitbrain.nemesis.partition import PartitionNemesis

        nem = PartitionNemesis(nodes, prefix=c.prefix, rng=random.Random(1))
        nem.setup()
        comp = nem.invoke({"f": "start-partition", "value": "n1|n2,n3"})
        assert "error" not in comp, comp
        assert not _can_connect(nodes[1].remote, nodes[0].address, 8080)
        socket.create_connection((nodes[0].address, 8080), timeout=2).close()  # controller: never cut
        nem.invoke({"f": "stop-partition"})
        assert _can_connect(nodes[1].remote, nodes[0].address, 8080)
        nem.teardown()
        # packet faults (tc, or iptables statistic + htb where the kernel lacks netem)
        from splitbrain.nemesis.netem import PacketNemesis

        pkt = PacketNemesis(nodes, random.Random(2), prefix=c.prefix)
        pkt.setup()
        comp = pkt.invoke({"f": "start-packet", "value": {
            "targets": ["n3"], "peers": ["n1"], "behaviours": {"loss": {"percent": 50}}}})
        assert "error" not in comp, comp
        assert "error" not in pkt.invoke({"f": "stop-packet"})
        pkt.teardown()
        assert d.pid > 1
    finally:
        rep = c.down()
    assert rep.ok, rep.lines()
    assert resource_counts(docker_client) == before
    assert os.path.exists(tmp_path / c.prefix / "n1" / "http.log"), "node dirs fetched at down"
    assert c.down().ok  # idempotent


def test_cleanup_removes_only_sb_resources(docker_client, node_image):
    from splitbrain.harness.cluster.docker_cleanup import cleanup_docker

    api = docker_client.api
    made = []
    try:
        for name, labels in (("sbzz1a-n1", {}), ("sbzz1b-n2", {"splitbrain.prefix": "sbzz1b"}),
                             ("sbzz1c-n1", {}), ("sbkeep-x", {}), ("keep-sbzz1a-n1", {})):
            cid = api.create_container(node_image.tag, ["true"], name=name, labels=labels)["Id"]
            made.append(cid)
        api.create_network("sbzz1a-net", internal=True)
        api.create_network("sbkeep-netx", internal=True)
        removed = cleanup_docker("sbzz1a", frozenset())
        assert removed == ["docker container sbzz1a-n1", "docker network sbzz1a-net"], removed
        from splitbrain.harness import registry

        live = {r["prefix"] for r in registry.runs() if registry.owner_alive(r)}
        removed = cleanup_docker(None, frozenset({"sbzz1c"} | live))
        assert removed == ["docker container sbzz1b-n2"], removed
        left = sb_docker_resources(docker_client)
        assert {"sbzz1c-n1", "sbkeep-x"} <= left["containers"]
        assert "sbkeep-netx" in left["networks"]
        names = {c["Names"][0] for c in api.containers(all=True)}
        assert "/keep-sbzz1a-n1" in names
    finally:
        for cid in made:
            try:
                api.remove_container(cid, force=True)
            except Exception:
                pass
        for n in ("sbzz1a-net", "sbkeep-netx"):
            try:
                api.remove_network(n)
            except Exception:
                pass


def test_unreachable_engines_are_one_clear_sentence(tmp_path):
    from splitbrain.harness.control.docker import docker_client

    with pytest.raises(EnvironmentProblem, match="cannot reach the Docker engine at tcp://127.0.0.1:1"):
        docker_client("tcp://127.0.0.1:1")
    # ssh:// is constructed through paramiko; a host that refuses is reported the same way
    with pytest.raises(EnvironmentProblem, match="ssh://root@127.0.0.1:1"):
        docker_client("ssh://root@127.0.0.1:1")
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--backend", "docker",
                        "--docker-host", "tcp://127.0.0.1:1", "--time-limit", "1",
                        "--store", str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 254, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "cannot reach the Docker engine" in r.stderr


def test_cluster_cli_lists_images(docker_client, node_image):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "image", "ls"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert node_image.tag in r.stdout
