"""Fixtures for nemesis tests on real namespaces and real redis-server processes."""

from __future__ import annotations

import os

import pytest

PORT = 7411  # our own, inside the run's namespaces


@pytest.fixture
def netns_nodes(tmp_path):
    """Three fresh namespaces (NetnsCluster) for one test; removed afterwards."""
    from splitbrain.harness.cluster.netns import NetnsCluster

    cluster = NetnsCluster(nodes=3, subnet=None, workdir_root=str(tmp_path / "nodes"))
    try:
        yield cluster.prefix, cluster.up()
    finally:
        cluster.down()


def redis_db(nodes, prefix, tmp_path, env_fn=None):
    from splitbrain.harness.dbs.redis import RedisDB

    return RedisDB(nodes, topology="replication", store_dir=str(tmp_path / "store"),
                   prefix=prefix, port=PORT, extra_env_fn=env_fn)


def ask(node, *args, timeout=0.5):
    """One RESP command straight from the controller to node:PORT; raises OSError/timeout."""
    import redis

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retries: a node that does not answer must fail fast, not after redis-py's backoff
    r = redis.Redis(host=node.address, port=PORT, socket_timeout=timeout,
                    socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    try:
        return r.execute_command(*args)
    finally:
        r.close()


def pids_in(node) -> list[int]:
    ns = node.meta["netns"]
    out = os.popen(f"ip netns pids {ns}").read().split()
    return [int(p) for p in out]
