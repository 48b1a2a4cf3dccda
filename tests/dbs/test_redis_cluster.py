"""Redis Cluster topology: the layout rule, hash slots, the slot-map parser, the
one-primary partition shape (pure), and RedisClusterDB + its client on a real 6-node
cluster on loopback addresses (no root): slots agree with the server's CLUSTER KEYSLOT,
MOVED and ASK are followed once, a pinned replica read is served by the replica."""

from __future__ import annotations

import random
import secrets
import time

import pytest

from splitbrain.harness import registry
from splitbrain.harness.config import build_test
from splitbrain.harness.dbs.redis_cluster import (RedisClusterDB, layout, parse_slots,
                                                  slot_ranges)
from splitbrain.harness.dbs.redis_cluster_client import crc16, key_slot
from splitbrain.harness.dbs.resp import RespConnection
from splitbrain.harness.errors import InputError
from splitbrain.nemesis.partition import NAMED_SHAPES, build_grudge, grudge_one_primary
from splitbrain.nemesis.schedule import parse_spec
from tests.dbs.local_cluster import local_nodes

# -- pure --------------------------------------------------------------------------------


def test_layout_rule():
    assert layout(6) == [(0, [3]), (1, [4]), (2, [5])]
    assert layout(8) == [(0, [4]), (1, [5]), (2, [6]), (3, [7])]
    for bad in (1, 2, 3, 4, 5, 7, 9):
        with pytest.raises(InputError, match="even --nodes of 6 or more"):
            layout(bad)


def test_slot_ranges_cover_every_slot_once():
    for p in (3, 4):
        rs = slot_ranges(p)
        assert rs[0][0] == 0 and rs[-1][1] == 16383
        assert all(b[0] == a[1] + 1 for a, b in zip(rs, rs[1:]))
        sizes = [hi - lo + 1 for lo, hi in rs]
        assert max(sizes) - min(sizes) <= 1
    assert slot_ranges(3) == [(0, 5460), (5461, 10921), (10922, 16383)]


def test_crc16_and_key_slot_known_values():
    assert crc16(b"123456789") == 0x31C3  # the XModem check value
    assert key_slot("foo") == 12182       # redis.io cluster spec examples
    assert key_slot("{user1000}.following") == key_slot("user1000")
    assert key_slot("foo{}{bar}") == key_slot("foo{}{bar}".encode())
    assert key_slot("foo{}{bar}") != key_slot("bar")   # empty first tag: whole key hashed
    assert key_slot("foo{{bar}}zap") == key_slot("{bar")


def test_parse_slots():
    reply = [[5461, 10922, [b"10.0.0.2", 6379, b"id2"], [b"10.0.0.5", 6379, b"id5"]],
             [0, 5460, [b"10.0.0.1", 6379, b"id1"], [b"10.0.0.4", 6379, b"id4"]]]
    assert parse_slots(reply) == [(0, 5460, "10.0.0.1", ("10.0.0.4",)),
                                  (5461, 10922, "10.0.0.2", ("10.0.0.5",))]
    assert parse_slots(None) is None
    assert parse_slots([[0, 1]]) is None


def test_one_primary_shape_isolates_exactly_one_primary():
    nodes = [f"n{i}" for i in range(1, 7)]
    seen = set()
    for seed in range(20):
        g = grudge_one_primary(nodes, ["n1", "n2", "n3"], random.Random(seed))
        loner = [n for n, peers in g.items() if len(peers) == 5]
        assert len(loner) == 1 and loner[0] in {"n1", "n2", "n3"}
        assert all(g[n] == frozenset(loner) for n in nodes if n != loner[0])
        seen.add(loner[0])
    assert seen == {"n1", "n2", "n3"}
    g, shape = build_grudge("one-primary", nodes, random.Random(1), ["n2"])
    assert shape == "one-primary" and g["n2"] == frozenset(set(nodes) - {"n2"})
    with pytest.raises(InputError, match="reports its primaries"):
        build_grudge("one-primary", nodes, random.Random(1), None)
    assert parse_spec("partition-one-primary") == {"partition": ("one-primary",)}
    assert "one-primary" not in NAMED_SHAPES  # the default random pool is unchanged


def test_config_refuses_what_a_cluster_cannot_run():
    with pytest.raises(InputError, match="even --nodes of 6 or more"):
        build_test({"db": "redis", "topology": "cluster", "nodes": 3})
    with pytest.raises(InputError, match="single-key models only"):
        build_test({"db": "redis", "topology": "cluster", "nodes": 6,
                    "workload": "txn-list-append"})
    t = build_test({"db": "redis", "topology": "cluster", "nodes": 6, "workload": "register"})
    assert t.topology == "cluster"


# -- a real cluster on loopback -------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path):
    prefix = "sbt" + secrets.token_hex(3)
    registry.open_run(prefix, "local", test=True)
    nodes, port = local_nodes(tmp_path, 6, prefix)
    db = RedisClusterDB(nodes, read_from="primary", store_dir=str(tmp_path / "store"),
                        prefix=prefix, port=port)
    try:
        for n in nodes:
            db.setup(n)
        for n in nodes:
            db.start(n)
        db.wait_ready(40)
        yield db, nodes
    finally:
        for n in nodes:
            db.teardown(n)
        registry.forget(prefix)


def _call(db, node, *args):
    c = RespConnection(node.address, db.port, connect_timeout=1, op_timeout=2)
    try:
        return c.call(*args)
    finally:
        c.close()


def _ids(db, nodes):
    return {n.name: _call(db, n, "CLUSTER", "MYID").decode() for n in nodes}


@pytest.mark.redis
@pytest.mark.timeout(90)
def test_real_cluster_routes_redirects_and_reads_replicas(cluster):
    db, nodes = cluster
    assert db.settle(5) is None
    assert sorted(n.name for n in db.primaries()) == ["n1", "n2", "n3"]
    for k in ("list:0", "list:1", "register:7", "foo", "{user1000}.following"):
        assert _call(db, nodes[0], "CLUSTER", "KEYSLOT", k) == key_slot(k)

    c = db.client(nodes[0], "list", 0)
    spec_key = f"{c.spec.key_space}:5"
    slot = key_slot(spec_key)
    owner = next(n for n, (lo, hi) in zip(nodes, slot_ranges(3)) if lo <= slot <= hi)
    replica = nodes[nodes.index(owner) + 3]
    assert c.invoke({"f": "append", "key": 5, "value": 1})["node"] == owner.name

    # a wrong slot map (everything on a node that does not own the slot): MOVED, followed
    wrong = next(n for n in nodes[:3] if n is not owner)
    c._ranges = [(0, 16383, wrong.address, ())]
    comp = c.invoke({"f": "append", "key": 5, "value": 2})
    assert comp == {"type": "ok", "value": 2, "version": 2, "node": owner.name}, comp

    # ASK: the key's (empty) slot being migrated owner → wrong
    ids = _ids(db, nodes)
    key2 = next(k for k in range(100, 400)
                if key_slot(f"{c.spec.key_space}:{k}") != slot
                and any(lo <= key_slot(f"{c.spec.key_space}:{k}") <= hi and n is owner
                        for n, (lo, hi) in zip(nodes, slot_ranges(3))))
    slot2 = key_slot(f"{c.spec.key_space}:{key2}")
    _call(db, wrong, "CLUSTER", "SETSLOT", slot2, "IMPORTING", ids[owner.name])
    _call(db, owner, "CLUSTER", "SETSLOT", slot2, "MIGRATING", ids[wrong.name])
    c.refresh()
    comp = c.invoke({"f": "append", "key": key2, "value": 9})
    assert comp == {"type": "ok", "value": 9, "version": 1, "node": wrong.name}, comp
    for n in (owner, wrong):
        _call(db, n, "CLUSTER", "SETSLOT", slot2, "STABLE")

    # a pinned read on the replica is served there (READONLY), after replication
    f = db.final_client(replica, "list", 50)
    deadline = time.monotonic() + 10
    while True:
        got = f.invoke({"f": "read", "key": 5, "final": True})
        if got.get("value") == [1, 2] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == {"type": "ok", "value": [1, 2], "version": 2, "node": replica.name}, got
    # a pinned read of a key outside the node's shard is served by a member of its shard
    other = db.final_client(wrong, "list", 51)
    got = other.invoke({"f": "read", "key": 5, "final": True})
    assert got["type"] == "ok" and got["node"] in {owner.name, replica.name}, got
    for x in (c, f, other):
        x.close()


@pytest.mark.redis
@pytest.mark.timeout(90)
def test_real_cluster_killed_primary_fails_over_and_settles(cluster):
    db, nodes = cluster
    c = db.client(nodes[0], "set", 0)
    for i in range(30):
        assert c.invoke({"f": "add", "key": i % 5, "value": i})["type"] == "ok"
    db.kill(nodes[0])
    # while n1's shard has no primary the cluster refuses ops: fail; cluster replies are
    # never mapped to info
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        comp = c.invoke({"f": "add", "key": 0, "value": 1000})
        seen.add(comp["type"])
        if comp["type"] == "info":  # only a transport timeout/reset (a loaded machine)
            assert comp["error"].startswith("indeterminate:"), comp
        if comp["type"] == "ok" and comp["node"] == "n4":
            break
        time.sleep(0.1)
    assert comp["type"] == "ok" and comp["node"] == "n4", comp
    assert "fail" in seen, seen  # refused (connect, CLUSTERDOWN) while no primary
    db.start(nodes[0])            # rejoins from nodes.conf as n4's replica
    assert db.settle(30) is None
    assert "n4" in {n.name for n in db.primaries()}
    c.close()



# -- error mapping with a scripted transport (no server) ------------------------------------


def _scripted_client(outcomes):
    """A cluster client whose every op attempt takes the next outcome (an exception to
    raise or a completion to return); the slot map is fixed and never refetched."""
    from splitbrain.harness.cluster.base import Node
    from splitbrain.harness.dbs.redis_client import RedisTopology
    from splitbrain.harness.dbs.redis_cluster_client import RedisClusterClient

    nodes = tuple(Node(name=f"n{i}", address=f"10.9.9.{i}", remote=None, workdir="/x")
                  for i in range(1, 7))
    topo = RedisTopology(nodes=nodes, kind="cluster", read_from="primary", master_name="sbx")
    c = RedisClusterClient(topo, nodes[0], "list", 0)
    c._ranges = [(0, 16383, "10.9.9.1", ("10.9.9.4",))]
    c.refresh = lambda: True
    sent = []

    class Conn(str):
        def call(self, *args):
            sent.append(f"{self}:{args[0]}")

    c._conn_for = lambda node, readonly: Conn(node.name)

    def execute(conn, f, key, value):
        sent.append(conn)
        o = outcomes.pop(0)
        if isinstance(o, Exception):
            raise o
        return dict(o)

    c._execute = execute
    return c, sent


@pytest.mark.parametrize("error, kind", [
    ("CLUSTERDOWN The cluster is down", "fail"),
    ("TRYAGAIN Multiple keys request during rehashing of slot", "fail"),
    ("CROSSSLOT Keys in request don't hash to the same slot", "fail"),
    ("READONLY You can't write against a read only replica.", "fail"),
    ("ERR something after execution started", "info"),
])
def test_error_replies_map_to_fail_or_info(error, kind):
    from splitbrain.harness.dbs.resp import ReplyError

    c, _ = _scripted_client([ReplyError(error)])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["type"] == kind


def test_transport_phases_and_redirects():
    from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError

    c, _ = _scripted_client([NotSent("connect refused")])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["type"] == "fail"
    c, _ = _scripted_client([Ambiguous("timeout")])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["type"] == "info"
    # MOVED is followed once, to the named node
    ok = {"type": "ok", "value": 5, "version": 1}
    c, sent = _scripted_client([ReplyError("MOVED 3 10.9.9.2:6379"), ok])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["node"] == "n2" and sent == ["n1", "n2"]
    # a second redirect is not followed: fail (neither attempt executed)
    c, sent = _scripted_client([ReplyError("MOVED 3 10.9.9.2:6379"),
                                ReplyError("ASK 3 10.9.9.3:6379")])
    comp = c.invoke({"f": "append", "key": 1, "value": 5})
    assert comp["type"] == "fail" and comp["node"] == "n2" and sent == ["n1", "n2"]
    # ASK: ASKING then the op at the named node; a timeout there is info
    c, sent = _scripted_client([ReplyError("ASK 3 10.9.9.3:6379"), Ambiguous("timeout")])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["type"] == "info"
    assert sent == ["n1", "n3:ASKING", "n3"]
    # a redirect to an address outside the cluster is not followed
    c, sent = _scripted_client([ReplyError("MOVED 3 10.1.1.1:6379")])
    assert c.invoke({"f": "append", "key": 1, "value": 5})["type"] == "fail" and sent == ["n1"]


@pytest.mark.redis
@pytest.mark.timeout(90)
def test_real_cluster_wait_makes_an_unreplicated_write_info(cluster):
    db, nodes = cluster
    db.wait_replicas = 1
    c = db.client(nodes[0], "set", 0)
    key = 3
    slot = key_slot(f"{c.spec.key_space}:{key}")
    owner = next(n for n, (lo, hi) in zip(nodes, slot_ranges(3)) if lo <= slot <= hi)
    replica = nodes[nodes.index(owner) + 3]
    assert c.invoke({"f": "add", "key": key, "value": 1})["type"] == "ok"
    db.pause(replica)  # well under the node timeout: no failover, just no replica ack
    try:
        comp = c.invoke({"f": "add", "key": key, "value": 2})
    finally:
        db.resume(replica)
    assert comp["type"] == "info" and "WAIT: 0/1" in comp["error"], comp
    assert comp["node"] == owner.name
    assert c.invoke({"f": "add", "key": key, "value": 3})["type"] == "ok"
    c.close()
    with pytest.raises(InputError, match="only with --topology cluster"):
        build_test({"db": "redis", "db_options": {"wait_replicas": 1}})
    assert build_test({"db": "redis", "topology": "cluster", "nodes": 6,
                       "db_options": {"wait-replicas": "1"}}).db_options


def test_cli_refuses_a_count_that_cannot_form_shards():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--db", "redis",
                        "--topology", "cluster", "--nodes", "5", "--time-limit", "5"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=root))
    assert p.returncode == 254, (p.stdout, p.stderr)
    assert "even --nodes of 6 or more" in p.stderr + p.stdout
    assert "Traceback" not in p.stderr
