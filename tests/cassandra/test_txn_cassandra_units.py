"""Cassandra txn-list-append without a cluster (harness/dbs/cassandra_txn.py): the CQL a txn
becomes, the reads it reports, the error mapping, and the claims per txn_mode."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.dbs import cassandra_txn as T
from splitbrain.harness.dbs.cassandra import CassandraDB, CassandraOptions
from splitbrain.harness.dbs.cassandra_client import ClientSettings
from splitbrain.harness.errors import InputError


class FakeClient:
    """Records every statement; rows holds the table (c -> text), applied the LWT answer."""

    def __init__(self, rows, applied=True, mode="lwt", fail_write: Exception | None = None):
        self.rows, self.applied, self.calls = dict(rows), applied, []
        self.settings = ClientSettings(txn_mode=mode)
        self.node = SimpleNamespace(name="n1")
        self.read_cl, self.write_cl = "QUORUM", "QUORUM"
        self.fail_write = fail_write

    def _run(self, cql, params, cl, serial=False, timeout=None):
        self.calls.append((cql, params, cl, serial))
        if cql.startswith("SELECT"):
            keys = params[1:]
            return [(k, self.rows[k]) for k in keys if k in self.rows]
        if self.fail_write:
            raise self.fail_write
        return SimpleNamespace(was_applied=self.applied)


def test_a_txn_is_a_serial_read_then_one_conditional_batch_over_every_row_touched():
    c = FakeClient({1: "5 6"})
    op = {"f": "txn", "value": [["r", 1, None], ["append", 2, 9], ["r", 2, None]]}
    out = T.invoke_txn(c, op, "ks")
    assert out["type"] == "ok"
    assert out["value"] == [["r", 1, [5, 6]], ["append", 2, 9], ["r", 2, [9]]]
    (sel, sp, scl, sser), (batch, bp, _, bser) = c.calls
    assert scl == "SERIAL" and sser and sp == (0, 1, 2)
    assert bser and batch.startswith("BEGIN BATCH")
    # the row only read is rewritten unchanged under its condition; the absent one inserted
    assert "IF l = %s" in batch and "IF NOT EXISTS" in batch
    assert bp == ("5 6", 0, 1, "5 6", 0, 2, "9")


def test_not_applied_is_fail_and_read_only_txns_write_nothing():
    c = FakeClient({1: "1"}, applied=False)
    assert T.invoke_txn(c, {"f": "txn", "value": [["append", 1, 2]]}, "ks")["type"] == "fail"
    c = FakeClient({1: "1"})
    out = T.invoke_txn(c, {"f": "txn", "value": [["r", 1, None]]}, "ks")
    assert out == {"type": "ok", "value": [["r", 1, [1]]], "node": "n1"}
    assert len(c.calls) == 1


def test_a_write_timeout_after_sending_is_info():
    import cassandra

    e = cassandra.WriteTimeout("timeout", write_type=cassandra.WriteType.CAS)
    c = FakeClient({}, fail_write=e)
    assert T.invoke_txn(c, {"f": "txn", "value": [["append", 1, 2]]}, "ks")["type"] == "info"


def test_plain_mode_reads_at_the_consistency_level_and_writes_unconditionally():
    c = FakeClient({1: "1"}, mode="plain")
    out = T.invoke_txn(c, {"f": "txn", "value": [["r", 1, None], ["append", 1, 2]]}, "ks")
    assert out["value"] == [["r", 1, [1]], ["append", 1, 2]]
    (_, _, scl, sser), (batch, bp, _, _) = c.calls
    assert scl == "QUORUM" and not sser and " IF " not in batch
    assert bp == ("1 2", 0, 1)


def test_claims_follow_txn_mode():
    nodes = [Node(f"n{i}", f"10.0.0.{i}", None, "/nonexistent") for i in (1, 2, 3)]
    lwt = CassandraDB(nodes, store_dir="/s", prefix="sbx").claims
    assert lwt["transactions"] == "strict-serializable" and "Paxos" in lwt["transactions_why"]
    plain = CassandraDB(nodes, store_dir="/s", prefix="sbx", txn_mode="plain").claims
    assert plain["transactions"] is None and "plain" in plain["transactions_why"]
    with pytest.raises(InputError):
        CassandraOptions(txn_mode="paxos").validate(3)


class FakeBatchClient(FakeClient):
    """txn_mode=batch: rows holds k -> list (one partition per key)."""

    def _run(self, cql, params, cl, serial=False, timeout=None):
        self.calls.append((cql, params, cl, serial))
        if cql.startswith("SELECT"):
            got = self.rows.get(params[0])
            return SimpleNamespace(one=lambda: None if got is None else (got,))
        if self.fail_write:
            raise self.fail_write
        return SimpleNamespace(was_applied=True)


def test_batch_mode_reads_each_key_alone_then_one_logged_batch_of_list_appends():
    c = FakeBatchClient({1: [5, 6]}, mode="batch")
    op = {"f": "txn", "value": [["r", 1, None], ["append", 2, 9], ["append", 1, 7],
                                ["r", 2, None], ["r", 1, None], ["append", 2, 10]]}
    out = T.invoke_txn(c, op, "ks")
    assert out["type"] == "ok"
    # own appends seen client-side; a key read twice is read from the store once
    assert out["value"] == [["r", 1, [5, 6]], ["append", 2, 9], ["append", 1, 7],
                            ["r", 2, [9]], ["r", 1, [5, 6, 7]], ["append", 2, 10]]
    reads, (batch, bp, bcl, bser) = c.calls[:-1], c.calls[-1]
    assert [(p, cl, s) for _, p, cl, s in reads] == [((1,), "QUORUM", False),
                                                     ((2,), "QUORUM", False)]
    assert all("WHERE k = %s" in q and T.BATCH_TABLE in q for q, *_ in reads)
    # one LOGGED batch, one commutative append per key, values in the txn's order
    assert batch.startswith("BEGIN BATCH") and "UNLOGGED" not in batch and " IF " not in batch
    assert batch.count("SET l = l + %s") == 2 and not bser and bcl == "QUORUM"
    assert bp == ([9, 10], 2, [7], 1)


def test_batch_mode_read_only_txns_write_nothing_and_a_batch_timeout_is_info():
    import cassandra

    c = FakeBatchClient({}, mode="batch")
    assert T.invoke_txn(c, {"f": "txn", "value": [["r", 3, None]]}, "ks")["value"] == [
        ["r", 3, []]]
    assert len(c.calls) == 1
    assert T.plain_read(c, 3, "ks") == {"type": "ok", "value": []}
    e = cassandra.WriteTimeout("timeout", write_type=cassandra.WriteType.BATCH_LOG)
    c = FakeBatchClient({}, mode="batch", fail_write=e)
    assert T.invoke_txn(c, {"f": "txn", "value": [["append", 1, 2]]}, "ks")["type"] == "info"


def test_batch_mode_claims_nothing():
    nodes = [Node(f"n{i}", f"10.0.0.{i}", None, "/nonexistent") for i in (1, 2, 3)]
    b = CassandraDB(nodes, store_dir="/s", prefix="sbx", txn_mode="batch").claims
    assert b["transactions"] is None and "not isolated" in b["transactions_why"]
