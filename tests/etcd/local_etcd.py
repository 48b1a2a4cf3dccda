"""Real etcd clusters for tests: on loopback addresses (no root), or in namespaces.

`etcd_cluster(tmp_path, n, **opts)` builds nodes on the controller itself (distinct
127.0.x.y addresses, one free port pair >= 20000, never the system etcd's 2379), starts
Debian's etcd on each and waits until a leader serves reads. Daemons are recorded in the
run registry and stopped by pid in `finally`. Skips the test when `etcd` is missing.
"""

from __future__ import annotations

import secrets
import shutil
from contextlib import contextmanager

import pytest

from splitbrain.harness import registry
from tests.dbs.local_cluster import local_nodes


def require_etcd() -> None:
    if shutil.which("etcd") is None:
        pytest.skip("needs Debian's etcd-server (bash scripts/setup.sh)")


@contextmanager
def etcd_cluster(tmp_path, n: int = 3, **opts):
    """A started, ready EtcdDB on loopback nodes; torn down in finally."""
    from splitbrain.harness.dbs.etcd import EtcdDB, EtcdOptions

    require_etcd()
    prefix = "sbt" + secrets.token_hex(3)
    registry.open_run(prefix, "local", test=True)
    try:
        nodes, port = local_nodes(tmp_path, n, prefix)  # port and port + 1 are free
        db = EtcdDB(nodes, store_dir=str(tmp_path / "store"), prefix=prefix,
                    opts=EtcdOptions(client_port=port, peer_port=port + 1, **opts))
        try:
            for node in nodes:
                db.setup(node)
            for node in nodes:
                db.start(node)
            db.wait_ready(30)
            yield db, nodes
        finally:
            for node in nodes:
                db.teardown(node)
    finally:
        registry.forget(prefix)
