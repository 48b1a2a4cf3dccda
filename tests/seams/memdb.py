"""A datastore in one module: a linearizable in-memory register store (no processes).

Everything `--db memdb` needs is here: the options dataclass, the node needs, the factory,
the label, the DB with the capabilities it has, and a client that speaks the register
model (harness/models.py) — never a workload's name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from splitbrain.harness.cluster.base import NodeNeeds
from splitbrain.harness.dbs.base import DatastoreSpec
from splitbrain.harness.models import as_spec


@dataclass(frozen=True)
class MemOptions:
    slow_ms: int = 0

    def validate(self, nodes: int) -> None:
        if self.slow_ms < 0:
            from splitbrain.harness.errors import InputError

            raise InputError(f"--db-opt slow_ms={self.slow_ms}: must be 0 or more")


class MemDB:
    """One dict behind one lock: every op is atomic, so every history is linearizable."""

    name = "memdb"
    ready_timeout = 1.0

    def __init__(self, nodes, ctx, opts: MemOptions):
        self.nodes = list(nodes)
        self.data: dict = {}
        self.versions: dict = {}
        self.lock = threading.Lock()
        self.down: set[str] = set()
        self.frozen = threading.Event()
        self.frozen.set()
        self.flaky = False  # set by the `flaky` fault family (tests/seams/flaky.py)

    def setup(self, node): pass
    def teardown(self, node): pass
    def wait_ready(self, timeout): pass

    # capabilities: Killable, Pausable, HasPrimaries
    def start(self, node): self.down.discard(node.name)
    def kill(self, node): self.down.add(node.name)
    def pause(self, node): pass
    def resume(self, node): pass
    def primaries(self): return self.nodes[:1]

    def client(self, node, model, process, *, final=False):
        return MemClient(self, node, as_spec(model))


class MemClient:
    def __init__(self, db: MemDB, node, spec):
        self.db, self.node, self.spec = db, node, spec

    def invoke(self, op):
        if self.node.name in self.db.down or self.db.flaky:
            return {"type": "fail", "error": "refused"}  # nothing was applied
        k = (self.spec.key_space, op.get("key"))
        with self.db.lock:
            if op["f"] == "read":
                return {"type": "ok", "value": self.db.data.get(k),
                        "version": self.db.versions.get(k, 0)}
            if op["f"] == "write":
                self.db.data[k] = op["value"]
                self.db.versions[k] = self.db.versions.get(k, 0) + 1
                return {"type": "ok", "version": self.db.versions[k]}
            expected, new = op["value"]
            if self.db.data.get(k) != expected:
                return {"type": "fail", "error": "cas-mismatch"}
            self.db.data[k] = new
            self.db.versions[k] = self.db.versions.get(k, 0) + 1
            return {"type": "ok", "version": self.db.versions[k]}

    def close(self): pass


SPEC = DatastoreSpec(
    name="memdb", summary="an in-memory linearizable register (tests)", options=MemOptions,
    needs=NodeNeeds({}), make=lambda nodes, ctx, opts: MemDB(nodes, ctx, opts),
    label=lambda o, workload: f"memdb-{workload}", db_class=lambda: MemDB)
