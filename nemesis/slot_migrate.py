"""The `slot-migrate` fault: move hash slots between primaries under load (Redis Cluster).

    nem = SlotMigrateNemesis(db, rng)            # db: RedisClusterDB (harness/dbs/redis_cluster.py)
    nem.invoke({"f": "slot-migrate", "value": {"slots": 2}})
    # -> {"type": "info", "value": {"slots": [4711, 9012], "from": "n2", "to": "n1", "keys": 3}}
    nem.invoke({"f": "slot-migrate-finish"})    # completes a migration a failure left open

Each fault picks two current primaries with the run's rng and moves `slots` slots (ones
that hold keys, so clients really meet ASK and MOVED) from one to the other with CLUSTER
SETSLOT IMPORTING/MIGRATING, MIGRATE and SETSLOT NODE, the way a reshard does. A correct
cluster and client lose nothing: ops during the move are redirected, never applied
twice. The stop f `slot-migrate-finish` is the family's heal: it finishes any migration a
failure (e.g. a concurrent partition) left half-done, so the final reads see one owner
per slot. Slots moved stay moved: a reshard is not undone.

The fault needs a DB with `migrate_slots(rng, count)` and `finish_migrations()` (today
only `--db redis --topology cluster`); the redis spec refuses it elsewhere (254), and a
DB without them gets an `error` on each fault instead of a crash.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from splitbrain.harness.errors import InputError
from splitbrain.nemesis.base import FaultFamily


class SlotMigrateNemesis:
    """Slot moves through the DB (Nemesis protocol); invoke never raises."""

    name = "slot-migrate"
    faults = ("slot-migrate", "slot-migrate-finish")

    def __init__(self, db, rng: random.Random, slots: int = 2):
        self.db = db
        self.rng = rng
        self.slots = slots

    def setup(self) -> None:
        pass

    def invoke(self, fault: dict[str, Any]) -> dict[str, Any]:
        f = fault.get("f")
        if not callable(getattr(self.db, "migrate_slots", None)):
            return {"type": "info", "value": None,
                    "error": "slot-migrate needs --db redis --topology cluster"}
        try:
            if f == "slot-migrate-finish":
                return {"type": "info", "value": {"finished": self.db.finish_migrations()}}
            if f != "slot-migrate":
                return {"type": "info", "value": None,
                        "error": f"slot-migrate nemesis has no fault {f!r}"}
            value = fault.get("value") or {}
            count = int(value.get("slots", self.slots)) if isinstance(value, Mapping) else self.slots
            return {"type": "info", "value": self.db.migrate_slots(self.rng, count)}
        except Exception as e:  # the run goes on; the heal finishes what is left open
            return {"type": "info", "value": {"pending": [p[0] for p in
                                                         getattr(self.db, "pending_migrations", [])]},
                    "error": f"{type(e).__name__}: {e}"}

    def heal_all(self) -> dict[str, Any]:
        return self.invoke({"f": "slot-migrate-finish"})

    def teardown(self) -> None:
        pass  # nothing of its own: slots belong to the cluster, torn down with it


def _check_options(opts: Mapping[str, Any]) -> None:
    n = opts.get("slots", 2)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 64:
        raise InputError(f"nemesis option slot-migrate.slots: an integer 1 to 64, not {n!r}")


def _start(ctx, variants, opts) -> dict[str, Any]:
    return {"f": "slot-migrate", "value": {"slots": int(opts.get("slots", 2))}}


def _build(ctx) -> SlotMigrateNemesis:
    slots = int((ctx.options.get("slot-migrate") or {}).get("slots", 2)) \
        if isinstance(ctx.options, Mapping) else 2
    return SlotMigrateNemesis(ctx.db, ctx.rng, slots)


FAMILIES = (FaultFamily(
    name="slot-migrate", nemesis="slot_migrate", starts=("slot-migrate",),
    stop="slot-migrate-finish", start_template=_start, build=_build,
    option_keys=frozenset({"slots"}), validate_options=_check_options, heal_rank=45,
    summary="move hash slots between Redis Cluster primaries under load (ASK/MOVED)"),)
