"""The slot-migrate family with fake DBs: routing to the DB, errors as completions, the
heal, option checks and the config refusing it outside a Redis Cluster."""

from __future__ import annotations

import random

import pytest

from splitbrain.harness.config import build_test
from splitbrain.harness.errors import InputError
from splitbrain.nemesis.schedule import check_options, parse_spec
from splitbrain.nemesis.slot_migrate import SlotMigrateNemesis


class _Fake:
    def __init__(self, fail=False):
        self.fail, self.calls, self.pending_migrations = fail, [], []

    def migrate_slots(self, rng, count):
        self.calls.append(("migrate", count))
        if self.fail:
            self.pending_migrations.append((7, None, None, "a", "b"))
            raise RuntimeError("MIGRATE timed out")
        return {"slots": [1, 2][:count], "from": "n1", "to": "n2", "keys": 3}

    def finish_migrations(self):
        self.calls.append(("finish",))
        done = [p[0] for p in self.pending_migrations]
        self.pending_migrations.clear()
        return done


def test_moves_and_heals_through_the_db():
    db = _Fake()
    nem = SlotMigrateNemesis(db, random.Random(1))
    out = nem.invoke({"f": "slot-migrate", "value": {"slots": 1}})
    assert out == {"type": "info", "value": {"slots": [1], "from": "n1", "to": "n2", "keys": 3}}
    assert nem.heal_all() == {"type": "info", "value": {"finished": []}}
    assert db.calls == [("migrate", 1), ("finish",)]


def test_a_failed_move_is_an_error_and_the_heal_finishes_it():
    db = _Fake(fail=True)
    nem = SlotMigrateNemesis(db, random.Random(1))
    out = nem.invoke({"f": "slot-migrate", "value": {"slots": 2}})
    assert out["error"] == "RuntimeError: MIGRATE timed out" and out["value"] == {"pending": [7]}
    assert nem.invoke({"f": "slot-migrate-finish"})["value"] == {"finished": [7]}


def test_a_db_without_slots_gets_an_error_not_a_crash():
    out = SlotMigrateNemesis(object(), random.Random(1)).invoke({"f": "slot-migrate"})
    assert "topology cluster" in out["error"]


def test_options_and_config():
    assert parse_spec("slot-migrate") == {"slot-migrate": None}
    check_options({"slot-migrate": {"slots": 3}})
    with pytest.raises(InputError, match="slot-migrate.slots"):
        check_options({"slot-migrate": {"slots": 0}})
    with pytest.raises(InputError, match="needs --topology cluster"):
        build_test({"db": "redis", "nemesis": "slot-migrate"})
    t = build_test({"db": "redis", "topology": "cluster", "nodes": 6, "nemesis": "slot-migrate",
                    "workload": "set"})
    assert t.nemesis == "slot-migrate"
