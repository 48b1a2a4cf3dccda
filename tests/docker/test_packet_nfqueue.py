"""The nfqueue packet engine on containers: the static sbnfq is uploaded into the
receiving container, its NFQUEUE rule and scheduler live there, and are removed after."""

from __future__ import annotations

import random

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.root]


def test_nfqueue_delay_inside_containers(docker_client, node_image, tmp_path):
    from splitbrain.harness.cluster.docker import DockerCluster
    from splitbrain.nemesis.netem import PacketNemesis

    c = DockerCluster(nodes=2, client=docker_client, workdir_root=str(tmp_path / "wd"))
    nodes = c.up()
    try:
        p = PacketNemesis(nodes, random.Random(1), prefix=c.prefix, engine="nfqueue")
        done = p.invoke({"f": "start-packet", "value": {
            "targets": ["n1"], "peers": ["n2"], "behaviours": {"delay": {"time_ms": 60}}}})
        assert "error" not in done, done
        m = done["value"]["rtt"]["n1->n2"]
        assert "error" not in m["during"], m
        assert 50 <= m["added_p50_ms"] <= 90, m
        stopped = p.invoke({"f": "stop-packet"})
        assert stopped["value"]["counters"]["n1->n2"]["delayed"] >= 10, stopped
        p.teardown()
        rules = nodes[1].remote.exec(["iptables", "-t", "mangle", "-S"]).stdout
        assert f"{c.prefix}-nfq" not in rules
        ps = nodes[1].remote.exec(["ps", "-eo", "comm"]).stdout
        assert "sbnfq" not in ps
    finally:
        c.down()
