"""Real Redis clusters for tests: on loopback addresses, or in network namespaces.

`redis_cluster(tmp_path, n, **db_opts)` builds nodes on the controller itself: each node
is a distinct loopback address 127.0.<random>.<i> with its own workdir, reached through
LocalRemote; all nodes share one free port >= 20000 (never the system Redis on 6379), the
Sentinels use port + 1. `netns_redis_cluster` does the same inside real namespaces
(NetnsCluster; needs root). Daemons are recorded in the run registry and stopped by pid
in `finally`.
"""

from __future__ import annotations

import random
import secrets
import socket
from contextlib import contextmanager

from splitbrain.harness import registry
from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.local import LocalRemote


def _free_port(addresses: list[str], rng: random.Random) -> int:
    for _ in range(200):
        port = rng.randrange(20000, 40000)
        ok = True
        for addr in addresses:
            for p in (port, port + 1):  # the Sentinel uses port + 1
                s = socket.socket()
                try:
                    s.bind((addr, p))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return port
    raise RuntimeError("no free port")


def local_nodes(tmp_path, n: int, prefix: str) -> tuple[list[Node], int]:
    rng = random.Random()
    octet = rng.randrange(100, 250)
    addrs = [f"127.0.{octet}.{i + 1}" for i in range(n)]
    port = _free_port(addrs, rng)
    nodes = [Node(name=f"n{i + 1}", address=a, remote=LocalRemote(f"n{i + 1}", run_prefix=prefix),
                  workdir=str(tmp_path / f"n{i + 1}")) for i, a in enumerate(addrs)]
    return nodes, port


@contextmanager
def _running(db, nodes):
    try:
        for node in nodes:
            db.setup(node)
        for node in nodes:
            db.start(node)
        db.wait_ready(20)
        yield db, nodes
    finally:
        for node in nodes:
            db.teardown(node)


@contextmanager
def redis_cluster(tmp_path, n: int = 3, **kw):
    """A started, ready RedisDB on loopback nodes; torn down in finally."""
    from splitbrain.harness.dbs.redis import RedisDB

    prefix = "sbt" + secrets.token_hex(3)
    registry.open_run(prefix, "local", test=True)
    try:
        nodes, port = local_nodes(tmp_path, n, prefix)
        db = RedisDB(nodes, store_dir=str(tmp_path / "store"), prefix=prefix, port=port,
                     sentinel_port=port + 1, **kw)
        with _running(db, nodes) as out:
            yield out
    finally:
        registry.forget(prefix)


@contextmanager
def netns_redis_cluster(tmp_path, n: int = 3, **kw):
    """A started, ready RedisDB on default ports inside fresh namespaces (root only)."""
    from splitbrain.harness.cluster.netns import NetnsCluster
    from splitbrain.harness.dbs.redis import RedisDB

    prefix = "sbt" + secrets.token_hex(3)
    cluster = NetnsCluster(prefix=prefix, nodes=n, subnet=None,
                           workdir_root=str(tmp_path / "nodes"))
    try:
        nodes = cluster.up()
        db = RedisDB(nodes, store_dir=str(tmp_path / "store"), prefix=prefix, **kw)
        with _running(db, nodes) as out:
            yield out
    finally:
        cluster.down()
        registry.forget(prefix)


def port_closed(host: str, port: int) -> bool:
    """Nothing accepts on host:port (a killed server's listening socket can outlive its
    pid by a few ms; tests that need "connection refused" wait for this)."""
    import socket

    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return False
    except OSError:
        return True
