"""Faithful transaction import (transactions.md §1.3-1.4, linearizability.md §2.8)."""

import json
import os

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import history_from_events, read_edn, read_history, read_jsonl

PEER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "peer-histories",
                    "knossos")


def _ev(i, p, typ, value, **kw):
    return dict(index=i, time=i * 10, process=p, type=typ, f="txn", value=value, **kw)


def test_ok_txn_keeps_the_completions_reads():
    h = history_from_events([
        _ev(0, 0, "invoke", [["append", "x", 1], ["r", "y", None]]),
        _ev(1, 1, "invoke", [["r", "x", None], ["append", "y", 7]]),
        _ev(2, 0, "ok", [["append", "x", 1], ["r", "y", [7]]], node="n1"),
        _ev(3, 1, "info", [["r", "x", [1]], ["append", "y", 7]], error="timeout"),
    ])
    a, b = h.ops
    assert a.f == "txn" and a.type == "ok" and a.key is None and a.node == "n1"
    assert a.value == (("append", "x", 1), ("r", "y", (7,)))
    # an info txn: writes kept, reads unknown even if the client recorded them
    assert b.type == "info" and b.value == (("r", "x", None), ("append", "y", 7))
    assert "txn" in a.describe() and "append x 1" in a.describe()


def test_pending_and_failed_txns_drop_reads():
    h = history_from_events([
        _ev(0, 0, "invoke", [["w", "x", 1], ["r", "y", 3]]),
        _ev(1, 1, "invoke", [["w", "y", 2]]),
        _ev(2, 1, "fail", [["w", "y", 2]]),
    ])
    by = {op.process: op for op in h.ops}
    assert by[0].type == "info" and by[0].value == (("w", "x", 1), ("r", "y", None))
    assert by[1].type == "fail" and by[1].value == (("w", "y", 2),)


@pytest.mark.parametrize("bad", [
    [["append", "x", 2], ["r", "y", [7]]],   # a write value changed
    [["append", "x", 1]],                     # a micro-op missing
    [["append", "z", 1], ["r", "y", [7]]],   # another key
])
def test_completion_that_does_not_match_is_refused(bad):
    with pytest.raises(InputError, match="do not match the invocation"):
        history_from_events([
            _ev(0, 0, "invoke", [["append", "x", 1], ["r", "y", None]]),
            _ev(1, 0, "ok", bad),
        ])


@pytest.mark.parametrize("value", [5, [["frob", "x", 1]], [["w", "x"]], [["r", {"a": 1}, None]]])
def test_malformed_micro_ops_name_the_place(tmp_path, value):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(_ev(0, 0, "invoke", value)) + "\n"
                 + json.dumps(_ev(1, 0, "ok", value)) + "\n")
    with pytest.raises(InputError, match=r"h\.jsonl"):
        read_jsonl(str(p))


def test_jsonl_txn_round_trip(tmp_path):
    p = tmp_path / "h.jsonl"
    evs = [_ev(0, 0, "invoke", [["r", "x", None], ["w", "x", 4]]),
           _ev(1, 0, "ok", [["r", "x", 3], ["w", "x", 4]], versions=[2, 3])]
    p.write_text("".join(json.dumps(e) + "\n" for e in evs))
    (op,) = read_jsonl(str(p)).ops
    assert op.value == (("r", "x", 3), ("w", "x", 4))
    assert op.extra == {"versions": [2, 3]}


def test_edn_multi_mop_txns_are_kept_and_normalised(tmp_path):
    q = tmp_path / "txn.edn"
    q.write_text('[{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0}\n'
                 ' {:type :invoke, :f :txn, :value [[:r :x]], :process 1}\n'
                 ' {:type :ok, :f :txn, :value [[:append :x 1] [:r :y [5]]], :process 0}\n'
                 ' {:type :ok, :f :txn, :value [[:r :x [1]]], :process 1}\n'
                 ' {:type :invoke, :f :txn, :value [[:read :x nil] [:write :y 3]], :process 2}\n'
                 ' {:type :info, :f :txn, :value [[:read :x 9] [:write :y 3]], :process 2}]')
    h = read_edn(str(q))
    assert h.meta["txn"] is True
    a, b, c = h.ops
    assert a.value == (("append", "x", 1), ("r", "y", (5,)))
    assert b.f == "txn" and b.value == (("r", "x", (1,)),)  # a one-mop txn stays a txn here
    assert c.type == "info" and c.value == (("r", "x", None), ("w", "y", 3))


def test_edn_single_mop_txns_stay_txns(tmp_path):
    # Jepsen/elle-cli judge a file of one-micro-op txns as transactions; as plain ops only
    # the single-key checkers judged it, and they called Elle-proven anomalies valid
    q = tmp_path / "single.edn"
    q.write_text('[{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0}\n'
                 ' {:type :ok, :f :txn, :value [[:append :x 1]], :process 0}]')
    h = read_edn(str(q))
    (op,) = h.ops
    assert op.f == "txn" and op.value == (("append", "x", 1),) and h.meta["txn"] is True


@pytest.mark.skipif(not os.path.isdir(PEER), reason="shared/peer-histories not present")
def test_knossos_multi_register_reads_come_from_the_completion():
    path = os.path.join(PEER, "multi-register", "good", "multi-register.edn")
    h = read_history(path)
    txns = [op for op in h.ops if op.f == "txn" and op.type == "ok"]
    assert txns
    reads = [v for op in txns for mf, _k, v in op.value if mf == "r"]
    assert reads and any(v is not None for v in reads)
