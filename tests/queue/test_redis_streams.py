"""The Redis Streams client (harness/dbs/redis_streams.py) against real redis-server
processes on loopback, and the queue workloads' op mix."""

from __future__ import annotations

import random

import pytest

from tests.dbs.local_cluster import redis_cluster
from splitbrain.workloads import get_workload

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


def test_send_assign_poll_offsets_are_stream_ids(tmp_path):
    with redis_cluster(tmp_path, 2, read_from="primary") as (db, nodes):
        c = db.client(nodes[0], "queue", 0)
        ids = []
        for v in (1, 2, 3):
            comp = c.invoke({"f": "send", "key": 7, "value": v})
            assert comp["type"] == "ok" and comp["value"] == v
            ids.append(comp["extra"]["offset"])
        assert all("-" in i for i in ids) and ids == sorted(ids, key=lambda s: tuple(map(int, s.split("-"))))
        assert c.invoke({"f": "assign", "value": [7, 8]}) == {"type": "ok", "value": [7, 8]}
        got = c.invoke({"f": "poll"})
        assert got["type"] == "ok" and got["value"] == {"7": [[ids[0], 1], [ids[1], 2], [ids[2], 3]]}
        assert c.invoke({"f": "poll"})["value"] == {}  # the cursor moved past them
        # re-assigning a covered key keeps its cursor; seek beginning rewinds
        c.invoke({"f": "assign", "value": [7]})
        assert c.invoke({"f": "poll"})["value"] == {}
        c.invoke({"f": "assign", "value": [7], "seek": "beginning"})
        assert len(c.invoke({"f": "poll"})["value"]["7"]) == 3
        c.close()


def test_group_dequeue_ack_claim_and_drain(tmp_path):
    with redis_cluster(tmp_path, 1) as (db, nodes):
        a = db.client(nodes[0], "queue-group", 1)
        b = db.client(nodes[0], "queue-group", 2)
        for v in range(1, 6):
            assert a.invoke({"f": "send", "key": 1, "value": v})["type"] == "ok"
        for c in (a, b):
            c.invoke({"f": "assign", "value": [1]})
        got = a.invoke({"f": "dequeue"})
        assert got["type"] == "ok" and [v for _, v in got["value"]["1"]] == [1, 2, 3, 4, 5]
        assert b.invoke({"f": "dequeue"})["value"] == {}  # the group handed them to a
        acked = a.invoke({"f": "ack"})
        assert acked["type"] == "ok" and len(acked["value"]["1"]) == 5
        # an unacked entry of a consumer that died is claimed by the drain after 2 s
        a.invoke({"f": "send", "key": 1, "value": 6})
        assert [v for _, v in a.invoke({"f": "dequeue"})["value"]["1"]] == [6]
        a.close()
        import time
        time.sleep(2.2)
        d = db.client(nodes[0], "queue-group", 3)
        d.invoke({"f": "assign", "value": [1]})
        drained = d.invoke({"f": "drain", "final": True})
        assert [v for _, v in drained["value"]["1"]] == [6]
        assert d.invoke({"f": "drain", "final": True})["value"] == {}
        b.close()
        d.close()


def test_send_to_a_replica_is_fail(tmp_path):
    from splitbrain.harness.dbs.redis_streams import StreamsClient

    with redis_cluster(tmp_path, 2) as (db, nodes):
        c = StreamsClient(db.topo, nodes[1], "queue", 0)
        c._primary, c._primary_at = nodes[1], 1e18  # route the write to the replica
        c.topo = type(db.topo)(**{**db.topo.__dict__, "kind": "sentinel"})
        out = c.invoke({"f": "send", "key": 1, "value": 1})
        assert out["type"] == "fail" and "READONLY" in out["error"]
        c.close()


@pytest.mark.parametrize("name", ["queue", "queue-group"])
def test_workload_mix_starts_with_assign_and_values_are_unique(name):
    wl = get_workload(name, keys_active=10, max_writes_per_key=5)
    rng = random.Random(3)
    ops = [wl.next_op(p, rng) for _ in range(300) for p in (0, 1)]
    assert ops[0]["f"] == "assign" and ops[1]["f"] == "assign"
    sends = [o for o in ops if o["f"] == "send"]
    assert len({o["value"] for o in sends}) == len(sends) > 50
    fs = {o["f"] for o in ops}
    assert fs >= ({"poll", "dequeue", "ack"} if name == "queue-group" else {"poll"})
    assert len(wl.final_keys()) > 4  # keys retired and were replaced
    assert all(len(o["value"]) <= 4 for o in ops if o["f"] == "assign")
