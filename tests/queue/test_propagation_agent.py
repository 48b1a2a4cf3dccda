"""The consumer of the propagation workloads (workloads/propagation_agent.py) step by step
against a real redis-server on loopback: idempotency modes under redelivery, poison
events dead-lettered once after the delivery limit (also when a replay redelivers them),
and `Agents.replay` rewinding the group backwards only."""

from __future__ import annotations

import json

import pytest

from splitbrain.harness.dbs.resp import RespConnection
from splitbrain.workloads import propagation_agent as agent
from splitbrain.workloads.propagation import Agents, _backlog
from tests.dbs.local_cluster import redis_cluster

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


def _drain(conn, mode, capsys, rounds=15):
    state: dict = {}
    for _ in range(rounds):
        agent.consume(conn, mode, state)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _publish(conn, n, poison=()):
    for i in range(1, n + 1):
        extra = ("poison", "1") if i in poison else ()
        conn.call("XADD", "events", "*", "eid", i, "key", i % 2, "ver", (i + 1) // 2, *extra)


@pytest.mark.parametrize("mode, dup_effect", [("none", True), ("dedupe", False), ("version", False)])
def test_redelivery_after_a_replay_duplicates_only_without_idempotency(tmp_path, capsys, mode,
                                                                       dup_effect, monkeypatch):
    monkeypatch.setattr(agent, "WORK_S", 0)
    monkeypatch.setattr(agent, "BLOCK_MS", 5)
    with redis_cluster(tmp_path, 1) as (db, nodes):
        conn = RespConnection(nodes[0].address, db.port, connect_timeout=1, op_timeout=2)
        _publish(conn, 10, poison={4})
        evs = _drain(conn, mode, capsys)
        assert [e["value"] for e in evs if e["f"] == "dlq"] == [4]
        assert sum(1 for e in evs if e["f"] == "apply" and e.get("type") == "fail") == 3
        # rewind 5 entries behind the group's position: 6..10 come again
        ag = Agents(nodes[0], db.port, "sbtest", str(tmp_path), mode, [])
        out = ag.replay(5)
        assert out["value"]["redelivered"] == 5, out
        assert _backlog(conn)  # a rewound group is not drained
        again = _drain(conn, mode, capsys)
        applied = [e["value"] for e in again if e["f"] == "apply" and e.get("decision") == "applied"]
        assert (sorted(applied) == [6, 7, 8, 9, 10]) is dup_effect
        assert not _backlog(conn)
        lists = {k: [int(x) for x in conn.call("LRANGE", f"der:{k}", 0, -1)] for k in (0, 1)}
        if mode != "version":
            flat = lists[0] + lists[1]
            assert (len(flat) != len(set(flat))) is dup_effect
            assert 4 not in flat  # the poison event was never applied
        # a replay over the dead-lettered event: delivered and failed again, never a 2nd DLQ
        ag.replay(100)
        third = _drain(conn, mode, capsys)
        assert not [e for e in third if e["f"] == "dlq"]
        assert [int(f[1][1]) for f in conn.call("XRANGE", "dlq", "-", "+")] == [4]
        conn.close()


def test_replay_never_moves_the_group_forward(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(agent, "WORK_S", 0)
    monkeypatch.setattr(agent, "BLOCK_MS", 5)
    with redis_cluster(tmp_path, 1) as (db, nodes):
        conn = RespConnection(nodes[0].address, db.port, connect_timeout=1, op_timeout=2)
        agent.ensure_group(conn, "events", "consumers")
        _publish(conn, 10)
        ag = Agents(nodes[0], db.port, "sbtest", str(tmp_path), "version", [])
        # nothing delivered yet: the rewind stays at the start, so nothing is skipped
        ag.replay(3)
        evs = _drain(conn, "version", capsys)
        assert sorted(e["value"] for e in evs if e["f"] == "apply") == list(range(1, 11))
        conn.close()
