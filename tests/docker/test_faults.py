"""Faults that touch node files and processes, on containers: the clock shim (built on the
controller, uploaded into the container) and kill/pause by the pid spawn recorded."""

from __future__ import annotations

import random
import time

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.root, pytest.mark.redis]


def test_clock_bump_and_process_faults_act_inside_the_container(docker_client, node_image,
                                                                  tmp_path):
    from splitbrain.harness.cluster.docker import DockerCluster
    from splitbrain.harness.dbs.redis import RedisDB
    from splitbrain.nemesis.clock import ClockNemesis

    c = DockerCluster(nodes=1, client=docker_client, workdir_root=str(tmp_path / "wd"))
    nodes = c.up()
    try:
        db = RedisDB(nodes, store_dir=str(tmp_path / "run"), prefix=c.prefix)
        clock = ClockNemesis(nodes, c.prefix, random.Random(3), db)
        db.extra_env_fn = clock.shim_env
        db.setup(nodes[0])
        db.start(nodes[0])
        db.wait_ready(20)
        base = clock.sample()["value"]["n1"]
        assert abs(base) < 500, base
        comp = clock.invoke({"f": "clock-bump", "value": {"nodes": ["n1"], "delta_ms": 5000}})
        assert "error" not in comp, comp
        time.sleep(0.1)
        bumped = clock.sample()["value"]["n1"]
        assert 4500 < bumped < 5500, bumped  # redis TIME inside the container moved
        clock.invoke({"f": "clock-reset"})
        time.sleep(0.1)
        assert abs(clock.sample()["value"]["n1"]) < 500
        # pause / resume / kill act on the recorded pid inside the container
        db.pause(nodes[0])
        assert db.primaries() == []  # a stopped redis does not answer ROLE
        db.resume(nodes[0])
        assert [n.name for n in db.primaries()] == ["n1"]
        db.kill(nodes[0])
        assert db.primaries() == []
        db.start(nodes[0])
        db.wait_ready(20)
        clock.teardown()
        db.teardown(nodes[0])
        logs = tmp_path / "run" / "nodes" / "n1"
        assert (logs / "redis.log").read_text().count("Ready to accept connections") == 2
    finally:
        c.down()
