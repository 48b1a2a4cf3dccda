"""Elle's own unit-test histories (jepsen-io/elle test/elle/list_append_test.clj,
rw_register_test.clj), transcribed as data in fixtures/elle/*.json: each names the history
in Elle's notation, what was asked (models or anomalies), and Elle's expected verdict,
anomaly types and `not` (transactions.md §8.1)."""

from __future__ import annotations

import json
import os

import pytest

from checkers.options import CheckOptions
from checkers.transactions import check
from tests.checkers.txn_notation import history

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "elle")


def _load(name):
    with open(os.path.join(HERE, name)) as fh:
        return json.load(fh)


def _run(case, kind):
    h = history(case["spec"], kind, case.get("layout", "completion"), case.get("processes"),
                case.get("versions"))
    opts = CheckOptions(consistency_models=tuple(case.get("models", ())),
                        txn_anomalies=tuple(case.get("anomalies", ())),
                        txn_assume=tuple(case.get("assume", ())))
    return check(h, opts)["transactions"].to_json()


@pytest.mark.parametrize("case", _load("list_append.json"), ids=lambda c: c["name"])
def test_elle_list_append(case):
    r = _run(case, "list-append")
    assert r["valid"] == case["valid"], r
    if "types" in case:
        assert r["anomaly_types"] == sorted(case["types"]), r
    if "not" in case:
        assert r["not"] == sorted(case["not"]), r


@pytest.mark.parametrize("case", _load("rw_register.json"), ids=lambda c: c["name"])
def test_elle_rw_register(case):
    r = _run(case, "rw-register")
    assert r["valid"] == case["valid"], r
    if "types" in case:
        assert r["anomaly_types"] == sorted(case["types"]), r
    if "not" in case:
        assert r["not"] == sorted(case["not"]), r
