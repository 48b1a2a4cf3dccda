"""The whole package on a real 3-node Redis: mixed faults, then the final heal."""

from __future__ import annotations

import os
import random

import pytest

from splitbrain.nemesis.schedule import build_package
from tests.nemesis.conftest import ask, pids_in, redis_db
from tests.nemesis.test_netem import leftovers

pytestmark = [pytest.mark.root, pytest.mark.redis]


def test_mixed_schedule_heals_and_cleans_up(netns_nodes, tmp_path):
    prefix, nodes = netns_nodes
    holder = {}
    db = redis_db(nodes, prefix, tmp_path, env_fn=lambda n: holder["pkg"].node_env(n))
    pkg = build_package("partition,clock,kill,pause,packet-loss", nodes=nodes, db=db,
                        prefix=prefix, rng=random.Random(5), interval=0.1)
    holder["pkg"] = pkg
    try:
        pkg.setup()
        for n in nodes:
            db.setup(n)
            db.start(n)
        db.wait_ready(30)
        fs = []
        for _ in range(12):
            fault = pkg.next_fault()
            done = pkg.invoke(fault)
            fs.append(fault["f"])
            assert done["type"] == "info", (fault, done)
            # a paused or killed node cannot tell its time; every fault itself must work
            assert "error" not in done or fault["f"] == "clock-offsets", (fault, done)
        for fault in pkg.final_ops():
            done = pkg.invoke(fault)
            assert "error" not in done, (fault, done)
        assert pkg.active() == []
        assert all(ask(n, "PING") for n in nodes)
        offsets = pkg.invoke({"f": "clock-offsets"})["value"]
        assert all(abs(v) < 50 for v in offsets.values()), offsets
        assert len(set(fs)) >= 4, fs
    finally:
        pkg.teardown()
        for n in nodes:
            db.teardown(n)
    for n in nodes:
        assert leftovers(n, prefix) == []
        assert f"{prefix}-part" not in n.remote.exec(["iptables", "-S"]).stdout
        assert not [f for f in os.listdir(n.workdir) if f.startswith(f"{prefix}-clock")]
        assert pids_in(n) == []
    pkg.teardown()  # idempotent
