"""etcd as a datastore (Debian's `etcd-server` 3.4), through the v3 JSON gateway.

One package exporting `SPEC`, registered by one line in harness/dbs/__init__.py:

* `config.py`  — EtcdOptions, the member's argv, what `--db etcd` accepts (clock: no);
* `gateway.py` — one HTTP/1.1 connection whose errors say when they happened;
* `client.py`  — register / cas-register ops and the fail/info mapping;
* `db.py`      — EtcdDB: setup, start, kill, pause, resume, teardown, readiness, leader.
"""

from splitbrain.harness.cluster.base import BUILTIN_NEEDS
from splitbrain.harness.dbs.base import DatastoreSpec
from splitbrain.harness.dbs.etcd.config import CLOCK_UNSUPPORTED, READ_MODES, EtcdOptions
from splitbrain.harness.dbs.etcd.db import EtcdDB

SPEC = DatastoreSpec(
    name="etcd", summary="etcd 3.4 (raft), v3 JSON gateway, linearizable or serializable reads",
    options=EtcdOptions, needs=BUILTIN_NEEDS["etcd"],
    make=lambda nodes, ctx, opts: EtcdDB(nodes, store_dir=ctx.store_dir, prefix=ctx.prefix,
                                         opts=opts, extra_env_fn=ctx.node_env),
    label=lambda o, workload: f"etcd-{o.read_mode}-{workload}",
    flags=("read_mode",), db_class=lambda: EtcdDB,
    models=("register",), refuses={"clock": CLOCK_UNSUPPORTED})

__all__ = ["EtcdDB", "EtcdOptions", "READ_MODES", "SPEC"]
