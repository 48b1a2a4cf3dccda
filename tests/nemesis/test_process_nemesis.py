"""ProcessNemesis against real redis-server nodes (RedisDB): kill/start, pause/resume."""

from __future__ import annotations

import os
import random
import time

import pytest

from splitbrain.nemesis.process import ProcessNemesis
from tests.nemesis.conftest import ask, pids_in, redis_db

pytestmark = [pytest.mark.root, pytest.mark.redis]


def server_pid(node) -> int:
    return int(ask(node, "INFO", "server")["process_id"])  # redis-py parses INFO


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def answers(node) -> bool:
    try:
        return bool(ask(node, "PING", timeout=0.3))
    except Exception:
        return False


def wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_kill_restart_pause_resume(netns_nodes, tmp_path):
    prefix, nodes = netns_nodes
    db = redis_db(nodes, prefix, tmp_path)
    proc = ProcessNemesis(nodes, db, random.Random(3))
    try:
        for n in nodes:
            db.setup(n)
            db.start(n)
        db.wait_ready(30)
        n2, n3 = nodes[1], nodes[2]
        pid = server_pid(n2)
        assert alive(pid)

        done = proc.invoke({"f": "kill", "value": ["n2"]})
        assert done["value"]["nodes"] == ["n2"] and "error" not in done
        assert wait(lambda: not alive(pid)), "killed pid still runs"
        assert not answers(n2)
        assert proc.active() == ["killed n2"]

        done = proc.invoke({"f": "start", "value": None})  # restarts what it killed
        assert done["value"]["nodes"] == ["n2"]
        assert wait(lambda: answers(n2))
        assert server_pid(n2) != pid

        done = proc.invoke({"f": "pause", "value": ["n3"]})
        assert done["value"]["nodes"] == ["n3"]
        assert not answers(n3), "a SIGSTOPped redis-server answered"
        assert answers(nodes[0])
        done = proc.invoke({"f": "resume", "value": None})
        assert done["value"]["nodes"] == ["n3"]
        assert wait(lambda: answers(n3))
        assert proc.active() == []

        # target specs resolve through the seeded rng; heal_all undoes a mixed state
        proc.invoke({"f": "pause", "value": "minority"})
        proc.invoke({"f": "kill", "value": "one"})
        assert proc.active()
        healed = proc.heal_all()
        assert "error" not in healed, healed
        assert proc.active() == []
        assert wait(lambda: all(answers(n) for n in nodes))
    finally:
        for n in nodes:
            db.teardown(n)
    assert all(pids_in(n) == [] for n in nodes)


def test_db_errors_are_recorded_not_raised(netns_nodes):
    prefix, nodes = netns_nodes

    class Broken:
        def kill(self, node):
            raise RuntimeError("no pid recorded")

    proc = ProcessNemesis(nodes, Broken(), random.Random(0))
    done = proc.invoke({"f": "kill", "value": "all"})
    assert done["type"] == "info" and "no pid recorded" in done["error"]
    assert "error" in proc.invoke({"f": "explode", "value": None})
