"""ClockNemesis on real namespaces with real redis-server nodes: what TIME says."""

from __future__ import annotations

import os
import random
import time

import pytest

from splitbrain.nemesis.clock import ClockNemesis, redis_time_probe
from tests.nemesis.conftest import PORT, pids_in, redis_db

pytestmark = [pytest.mark.root, pytest.mark.redis]


def offsets(clock):
    done = clock.sample()
    assert "error" not in done, done
    return done["value"]


def test_bump_strobe_drift_reset_observed_through_redis_time(netns_nodes, tmp_path):
    prefix, nodes = netns_nodes
    clock = ClockNemesis(nodes, prefix, random.Random(1), time_probe=redis_time_probe(PORT))
    db = redis_db(nodes, prefix, tmp_path, env_fn=clock.shim_env)
    wall_minus_mono = time.time() - time.monotonic()
    try:
        clock.setup()
        for n in nodes:
            db.setup(n)
            db.start(n)
        db.wait_ready(30)
        files = [clock.control_path(n) for n in nodes]
        assert all(os.path.exists(f) for f in files)
        assert all(abs(v) < 50 for v in offsets(clock).values())

        done = clock.invoke({"f": "clock-bump", "value": {"nodes": ["n2"], "delta_ms": 5000}})
        assert "error" not in done and done["value"]["nodes"] == ["n2"]
        time.sleep(0.02)
        o = offsets(clock)
        assert abs(o["n2"] - 5000) < 50, o
        assert abs(o["n1"]) < 50 and abs(o["n3"]) < 50, o

        clock.invoke({"f": "clock-bump", "value": {"nodes": ["n2"], "delta_ms": -7000}})
        time.sleep(0.02)
        assert abs(offsets(clock)["n2"] + 2000) < 50

        clock.invoke({"f": "clock-reset", "value": None})
        time.sleep(0.02)
        assert all(abs(v) < 50 for v in offsets(clock).values())

        # strobe: n3 flips between +500 ms and 0 every 20 ms for 1 s
        clock.invoke({"f": "clock-strobe", "value": {"nodes": ["n3"], "delta_ms": 500,
                                                      "period_ms": 20, "duration_s": 1.0}})
        seen = []
        probe = redis_time_probe(PORT)
        t_end = time.monotonic() + 0.8
        while time.monotonic() < t_end:
            seen.append(probe(nodes[2]))
            time.sleep(0.007)
        assert any(abs(s - 0.5) < 0.05 for s in seen), seen
        assert any(abs(s) < 0.05 for s in seen), seen
        time.sleep(0.4)  # strobe over: back where it started
        assert abs(offsets(clock)["n3"]) < 50

        # drift: n1's offset grows 0.5 s per s
        clock.invoke({"f": "clock-drift", "value": {"nodes": ["n1"], "rate": 0.5}})
        a = offsets(clock)["n1"]
        time.sleep(0.6)
        b = offsets(clock)["n1"]
        assert 250 < b - a < 400, (a, b)
        assert clock.active()

        clock.invoke({"f": "clock-reset", "value": {"nodes": ["n1"]}})
        time.sleep(0.02)
        assert all(abs(v) < 50 for v in offsets(clock).values())
        # the controller's own clock never moved
        assert abs((time.time() - time.monotonic()) - wall_minus_mono) < 0.05
    finally:
        clock.teardown()
        for n in nodes:
            db.teardown(n)
    assert not any(os.path.exists(f) for f in files)
    assert not [f for n in nodes for f in os.listdir(n.workdir) if f.startswith(f"{prefix}-clock")]
    assert all(pids_in(n) == [] for n in nodes)
    clock.teardown()  # idempotent


def test_bad_fault_is_an_error_not_an_exception(netns_nodes):
    prefix, nodes = netns_nodes
    clock = ClockNemesis(nodes, prefix, random.Random(1))
    try:
        assert "error" in clock.invoke({"f": "clock-bump", "value": {"nodes": ["n9"],
                                                                      "delta_ms": 1}})
        assert "error" in clock.invoke({"f": "clock-warp", "value": {}})
        # no probe: offsets are what we configured
        clock.setup()
        clock.invoke({"f": "clock-bump", "value": {"nodes": ["n1"], "delta_ms": 1000}})
        done = clock.invoke({"f": "clock-offsets"})
        assert done["source"] == "configured" and round(done["value"]["n1"]) == 1000
    finally:
        clock.teardown()
