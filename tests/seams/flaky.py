"""A fault family in one module: `flaky` makes the datastore refuse every op while on."""

from __future__ import annotations

from splitbrain.harness.dbs.base import HasPrimaries
from splitbrain.nemesis.base import FaultFamily


class FlakyNemesis:
    name = "flaky"
    faults = ("start-flaky", "stop-flaky")

    def __init__(self, db):
        self.db = db

    def setup(self): pass

    def invoke(self, fault):
        self.db.flaky = fault["f"] == "start-flaky"
        return {"type": "info", "value": {"flaky": self.db.flaky}}

    def heal_all(self):
        return self.invoke({"f": "stop-flaky"})

    def teardown(self):
        self.db.flaky = False


FAMILIES = (FaultFamily(
    name="flaky", nemesis="flaky", starts=("start-flaky",), stop="stop-flaky",
    start_template=lambda ctx, variants, opts: {"f": "start-flaky", "value": None},
    build=lambda ctx: FlakyNemesis(ctx.db), needs=(HasPrimaries,), heal_rank=5),)
