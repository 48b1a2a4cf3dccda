"""Scheduling and configuration of the disk family and the packet engine (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from splitbrain.harness.config import build_test, nemesis_options_of
from splitbrain.harness.dbs.redis import render_redis_conf
from splitbrain.harness.errors import InputError
from splitbrain.nemesis.schedule import FAMILY_OF_F, STOP_OF, allowed_names, build_package, parse_spec


class NetnsLike:
    def netns(self):
        return "sbtest-n"


@dataclass
class Node:
    name: str
    address: str = "10.0.0.1"
    workdir: str = "/nonexistent"
    iface: str = "eth0"
    remote: object = None


class DiskDB:
    appendfsync = None

    def data_dir(self, node):
        return f"/nonexistent/{node.name}"

    def primaries(self):
        return []


NODES = [Node(f"n{i}", remote=NetnsLike()) for i in range(1, 4)]


def test_disk_names_parse():
    assert parse_spec("disk") == {"disk": None}
    assert parse_spec("disk-lose-unsynced,disk-slow") == {"disk": ("lose-unsynced", "slow")}
    assert {"disk", "disk-lose-unsynced", "disk-slow"} <= set(allowed_names())
    assert STOP_OF["disk"] == "disk-heal"
    assert {FAMILY_OF_F[f] for f in ("disk-lose-unsynced", "disk-slow", "disk-heal")} == {"disk"}
    with pytest.raises(InputError):
        parse_spec("disk-melt")


def test_disk_schedule_alternates_fault_and_heal_and_keeps_primaries_unresolved():
    pkg = build_package("disk-lose-unsynced", nodes=NODES, db=DiskDB(), prefix="sbtest",
                        rng=random.Random(3), interval=1.0,
                        options={"disk": {"targets": ["primaries"], "torn": True}})
    ops = [pkg.next_fault() for _ in range(4)]
    assert [o["f"] for o in ops] == ["disk-lose-unsynced", "disk-heal"] * 2
    assert ops[0]["value"] == {"targets": "primaries", "torn": True}
    assert pkg.final_ops() == []          # the last heal was handed out
    pkg.next_fault()
    assert pkg.final_ops() == [{"f": "disk-heal", "value": None}]


def test_disk_slow_template_carries_the_delays():
    pkg = build_package("disk-slow", nodes=NODES, db=DiskDB(), prefix="sbtest",
                        rng=random.Random(3), interval=1.0,
                        options={"disk": {"fsync_ms": 250, "write_ms": 5}})
    op = pkg.next_fault()
    assert op["f"] == "disk-slow" and op["value"]["fsync_ms"] == 250
    assert op["value"]["write_ms"] == 5 and op["value"]["targets"]


def test_disk_needs_a_data_directory_and_netns_nodes():
    class NoDir:
        pass

    with pytest.raises(InputError, match="data directory"):
        build_package("disk", nodes=NODES, db=NoDir(), prefix="sbtest",
                      rng=random.Random(1), interval=1.0)
    with pytest.raises(InputError, match="netns"):
        build_package("disk", nodes=[Node("n1", remote=object())], db=DiskDB(),
                      prefix="sbtest", rng=random.Random(1), interval=1.0)
    with pytest.raises(InputError, match="disk.kinds"):
        build_package("disk", nodes=NODES, db=DiskDB(), prefix="sbtest", rng=random.Random(1),
                      interval=1.0, options={"disk": {"kinds": ["melt"]}})


def test_packet_engine_option_and_flag():
    pkg = build_package("packet-latency", nodes=NODES, db=DiskDB(), prefix="sbtest",
                        rng=random.Random(1), interval=1.0,
                        options={"packet": {"engine": "nfqueue", "targets": ["primaries"]}})
    assert pkg.packet.engine == "nfqueue"
    assert pkg.next_fault()["value"]["targets"] == "primaries"
    with pytest.raises(InputError, match="packet.engine"):
        build_package("packet", nodes=NODES, db=DiskDB(), prefix="sbtest",
                      rng=random.Random(1), interval=1.0, options={"packet": {"engine": "tc"}})
    t = build_test({"packet_engine": "nfqueue", "nemesis": "packet"})
    assert nemesis_options_of(t)["packet"]["engine"] == "nfqueue"
    assert "packet" not in nemesis_options_of(build_test({"nemesis": "packet"}))
    with pytest.raises(InputError, match="packet-engine"):
        build_test({"packet_engine": "tc"})


def test_redis_appendfsync_config():
    with pytest.raises(InputError, match="redis-appendfsync"):
        build_test({"redis_appendfsync": "sometimes"})
    assert build_test({"redis_appendfsync": "always"}).redis_appendfsync == "always"
    node = NODES[0]
    off = render_redis_conf(node, port=1, data_dir="/d", logfile="/l", replicaof=None)
    assert "appendonly no" in off and "appendfsync" not in off
    on = render_redis_conf(node, port=1, data_dir="/d", logfile="/l", replicaof=None,
                           appendfsync="everysec")
    assert "appendonly yes" in on and "appendfsync everysec" in on


def test_cassandra_commitlog_sync_config():
    from splitbrain.harness.dbs.cassandra_config import NodePaths, render_yaml

    def y(mode):
        return render_yaml(address="10.0.0.2", paths=NodePaths("/r"), seeds=["10.0.0.2"],
                           token=0, cluster_name="sbtest", commitlog_sync=mode)
    assert "commitlog_sync: periodic" in y("periodic") and "commitlog_sync_period" in y("periodic")
    assert "commitlog_sync: batch" in y("batch") and "commitlog_sync_period" not in y("batch")
    assert "commitlog_sync_group_window: 15ms" in y("group")
    with pytest.raises(InputError, match="cassandra-commitlog-sync"):
        build_test({"db": "cassandra", "cassandra_commitlog_sync": "never"})
