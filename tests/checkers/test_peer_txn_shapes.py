"""Transactional histories shaped as other projects record them: no `:f` (Elle judges an
op by its value), or micro-op lists under `:read`/`:write`/`:txn`."""

from __future__ import annotations

import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import InputError, read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "peers")


def _check(path):
    h = read_history(path)
    return h, run_checks(h, CheckOptions())["checkers"]


def test_a_list_append_history_without_f_is_read_as_transactions():
    h, res = _check(os.path.join(DATA, "tidb-list-append-head.edn"))
    assert {o.f for o in h.ops} == {"txn"}
    t = res["transactions"]
    assert t["valid"] is True, t["anomalies"][:2]
    assert t["stats"]  # it looked


def test_an_injected_read_of_a_failed_append_without_f_is_g1a(tmp_path):
    src = open(os.path.join(DATA, "tidb-list-append-head.edn")).read()
    # process 2 reads key 2 holding the element of the failed append [:append 2 2] (index 9)
    src += ('{:type :invoke, :value [[:r 2 nil]], :process 2, :time 1589367458700000000, :index 100}\n'
            '{:type :ok, :value [[:r 2 [2]]], :process 2, :time 1589367458700000001, :index 101}\n')
    p = tmp_path / "g1a.edn"
    p.write_text(src.replace("{:type :invoke, :value [[:r 3 nil] [:r 0 nil]], :process 2",
                             "{:type :invoke, :value [[:r 3 nil] [:r 0 nil]], :process 22"))
    _, res = _check(str(p))
    t = res["transactions"]
    assert t["valid"] is False
    assert "G1a" in t["anomaly_types"], t["anomaly_types"]


def test_rw_register_lists_under_read_write_txn_all_info_are_unknown_as_elle_says():
    h, res = _check(os.path.join(DATA, "braft-rw-register-all-info-head.edn"))
    assert {o.f for o in h.ops} == {"txn"}
    assert res["transactions"]["valid"] == "unknown"  # Elle: :valid? :unknown, empty-transaction-graph


def test_an_op_without_f_whose_value_is_not_micro_ops_is_a_clear_error(tmp_path):
    p = tmp_path / "h.edn"
    p.write_text("{:type :invoke, :value 3, :process 0}\n{:type :ok, :value 3, :process 0}\n")
    with pytest.raises(InputError, match=r"h\.edn:1: missing :f"):
        read_history(str(p))


def test_key_first_tuples_with_a_flattened_cas_are_keyed_registers():
    h, res = _check(os.path.join(DATA, "omnipaxos-kv-head.edn"))
    cas = [o for o in h.ops if o.f == "cas"]
    assert cas and all(o.key in ("k0", "k1") and len(o.value) == 2 for o in cas)
    assert {o.key for o in h.ops} == {"k0", "k1", "k2", "k3"}
    assert res["linearizable"]["valid"] is True          # cas present: cas-register
    assert all(c["valid"] is not False for c in res.values()), {
        n: c["anomalies"][:1] for n, c in res.items() if c["valid"] is False}


def test_a_stale_read_in_key_first_tuples_is_found(tmp_path):
    src = open(os.path.join(DATA, "omnipaxos-kv-head.edn")).read().rstrip().rstrip("]")
    # k1 holds v4 (cas v2→v4 acknowledged); a later read returns v2
    src += (' {:process 3 :type :invoke :f :read :value ["k1" nil]}\n'
            ' {:process 3 :type :ok :f :read :value ["k1" "v2"]}\n]\n')
    p = tmp_path / "stale.edn"
    p.write_text(src)
    _, res = _check(str(p))
    lin = res["linearizable"]
    assert lin["valid"] is False and lin["anomalies"][0]["key"] == "k1"
