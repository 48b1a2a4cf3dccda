"""Elle's own unit-test histories (jepsen-io/elle test/elle/list_append_test.clj,
rw_register_test.clj), transcribed as data in fixtures/elle/*.json: each names the history
in Elle's notation, what was asked (models or anomalies), and Elle's expected verdict,
anomaly types and `not` (transactions.md §8.1)."""

from __future__ import annotations

import json
import os

import pytest

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.transactions import check
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
    r = check(h, opts)["transactions"].to_json()
    for a in r["anomalies"] + r.get("notices", []):
        if "cycle" in a:  # §6.2: every cycle's witness alone reproduces it
            assert a.get("witness_replay") == "confirmed", a
    return r


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


def _edn_value(x):
    if x is None:
        return "nil"
    if isinstance(x, str):
        return ":" + x
    if isinstance(x, list):
        return "[" + " ".join(_edn_value(v) for v in x) + "]"
    return str(x)


def _to_edn(events) -> str:
    """Jepsen's EDN form of the events (keywords, vectors, nil), one map a line."""
    lines = []
    for e in events:
        mops = " ".join("[" + " ".join(_edn_value(p) for p in m) + "]" for m in e["value"])
        lines.append(f"{{:type :{e['type']}, :f :txn, :value [{mops}], "
                     f":process {e['process']}, :index {e['index']}, :time {e['time']}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", [c for c in _load("list_append.json")][:12],
                         ids=lambda c: c["name"])
def test_elle_fixtures_via_jepsen_edn_import(case, tmp_path):
    """The same verdict when the fixture arrives as a Jepsen history.edn (keywords, nil
    reads in invocations, multi-micro-op :txn kept as txns)."""
    from splitbrain.harness.history import read_history
    from tests.checkers.txn_notation import events

    evs = events(case["spec"], "list-append", case.get("layout", "completion"),
                 case.get("processes"))
    p = tmp_path / "history.edn"
    p.write_text(_to_edn(evs))
    h = read_history(str(p))
    assert all(op.f == "txn" for op in h.ops)  # one-micro-op txns too (§1.4, amended)
    opts = CheckOptions(workload="txn-list-append",
                        consistency_models=tuple(case.get("models", ())),
                        txn_anomalies=tuple(case.get("anomalies", ())))
    r = check(h, opts)["transactions"].to_json()
    assert r["valid"] == case["valid"], r
    if "types" in case:
        assert r["anomaly_types"] == sorted(case["types"]), r
