"""txn-list-append on Cassandra (transactions.md §7.2, row C2): one partition, Paxos.

Cassandra 5.0 has no multi-partition transactions; what it claims is that lightweight
transactions are linearizable per partition and that a conditional batch on one partition
has its conditions evaluated and its statements applied together. So every txn runs on the
one partition `p = 0` of `txn_la` (Elle keys are clustering keys `c`), and:

1. `SELECT c, l … WHERE p = 0 AND c IN (…)` at SERIAL reads the txn's rows (an error here:
   `fail`, nothing was written);
2. the reads are computed client-side, with the txn's own earlier appends applied (P-T14);
3. a read-only txn is done (a SERIAL read is linearizable); otherwise one conditional batch
   writes every row the txn touched under the condition that it still holds what step 1
   read — `UPDATE … IF l = ?`, or `INSERT … IF NOT EXISTS` for an absent row — rows only
   read are rewritten unchanged (promoting reads to writes, so the batch applies only if
   nothing the txn read has changed since);
4. not applied → `fail`; a timeout or lost connection after sending → `info`
   (cassandra_client.classify with lwt=True).

A list is stored as text ("1 2 3"): its order is the txn's, not Cassandra's TimeUUID cell
order (native lists are not traceable under concurrency, §7.2). Each txn thus takes effect
at its batch's Paxos commit, inside its call: strict-serializable, which is what
`CassandraDB.claims["transactions"]` says. Final reads are SERIAL reads of one key.

`txn_mode=plain` (`--db-opt txn_mode=plain`) is the negative control: the same txns as a
read at the configured consistency, then one unconditional single-partition batch of the
written rows. Nothing ties the write to what was read, so concurrent txns overwrite each
other's appends (lost updates, incompatible orders); the store claims no model for it.

`txn_mode=batch` (`--db-opt txn_mode=batch`) is the multi-partition negative control (§7.2
row C3): every Elle key is its own partition of `txn_lb` (`k int PRIMARY KEY, l list<int>`),
each read is a separate single-partition read at the configured consistency, in micro-op
order, and all of a txn's appends go in ONE LOGGED BATCH of native, commutative list appends
(`UPDATE … SET l = l + [v, …] WHERE k = ?`, one statement per key, the txn's own order).
No read-modify-write, so no append is lost; but a logged batch is only eventually atomic
(batchlog) and not isolated, and nothing orders the reads against other batches. A reader
can see a batch on one partition and not yet on another (fractured read → G-single-item),
and two txns can read the same state of a key and both append to it (Elle's lost-update:
the read/write race P4, though both appends survive) or write-skew (G2-item). **Claims:
none** — Cassandra promises no isolation across partitions, and 5.0 has no multi-partition
transactions. Native list order is the coordinator's TimeUUID cell order, taken when the
batch is built, not the order the replicas apply it, so two concurrent appends to one key
can be seen in different orders (incompatible-order: the datatype, cassandra.md §6).
Final reads are per-key reads at the client's read consistency (ONE in the final phase).
"""

from __future__ import annotations

from typing import Any

TABLE = "txn_la"
BATCH_TABLE = "txn_lb"  # txn_mode=batch: one partition per key, a native list<int>
PARTITION = 0


def schema(keyspace: str, opts: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {keyspace}.{TABLE} (p int, c int, l text, "
            f"PRIMARY KEY (p, c)) {opts}")


def batch_schema(keyspace: str, opts: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {keyspace}.{BATCH_TABLE} (k int PRIMARY KEY, "
            f"l list<int>) {opts}")


def _decode(text: str | None) -> list[int]:
    return [int(x) for x in text.split()] if text else []


def _encode(lst: list[int]) -> str:
    return " ".join(str(x) for x in lst)


def _mode(client) -> str:
    return getattr(client.settings, "txn_mode", "lwt")


def _plain(client) -> bool:
    return _mode(client) == "plain"


def _read_batch_key(client, key: int, keyspace: str) -> list[int]:
    """txn_mode=batch: one single-partition read (its own request, its own instant)."""
    row = client._run(f"SELECT l FROM {keyspace}.{BATCH_TABLE} WHERE k = %s", (key,),
                      client.read_cl).one()
    return [int(x) for x in (row[0] or [])] if row else []


def _read_rows(client, keys: list[int], keyspace: str) -> dict[int, str | None]:
    marks = ", ".join(["%s"] * len(keys))
    cql = f"SELECT c, l FROM {keyspace}.{TABLE} WHERE p = %s AND c IN ({marks})"
    if _plain(client):
        rows = client._run(cql, (PARTITION, *keys), client.read_cl)
    else:
        rows = client._run(cql, (PARTITION, *keys), "SERIAL", serial=True)
    return {int(c): l for c, l in rows}


def plain_read(client, key: Any, keyspace: str) -> dict:
    """A single-key read (the final phase reads keys one by one): SERIAL, or in plain mode
    at the client's read consistency (ONE for the final phase)."""
    if _mode(client) == "batch":
        return {"type": "ok", "value": _read_batch_key(client, int(key), keyspace)}
    got = _read_rows(client, [int(key)], keyspace)
    return {"type": "ok", "value": _decode(got.get(int(key)))}


def invoke_txn(client, op: dict, keyspace: str) -> dict:
    """One txn op -> its completion (ok with the reads filled in, fail or info)."""
    from splitbrain.harness.dbs.cassandra_client import classify, describe_error

    mops = op.get("value") or []
    node = client.node.name
    if _mode(client) == "batch":
        return _invoke_batch(client, mops, node, keyspace)
    keys = sorted({int(k) for _, k, _ in mops})
    try:
        before = _read_rows(client, keys, keyspace)
    except Exception as e:  # nothing was written
        return {"type": "fail", "value": mops, "node": node,
                "error": f"serial-read: {describe_error(e)}"}
    state = {k: _decode(before.get(k)) for k in keys}
    out = []
    wrote = False
    for f, k, v in mops:
        k = int(k)
        if f == "r":
            out.append(["r", k, list(state[k])])
        elif f == "append":
            state[k].append(int(v))
            out.append(["append", k, v])
            wrote = True
        else:
            return {"type": "fail", "value": mops, "node": node,
                    "error": f"unsupported micro-op {f!r} for txn-list-append"}
    if not wrote:
        return {"type": "ok", "value": out, "node": node}
    if _plain(client):
        written = sorted({int(k) for f, k, _ in mops if f == "append"})
        stmts = [f"UPDATE {keyspace}.{TABLE} SET l = %s WHERE p = %s AND c = %s"] * len(written)
        params = [x for k in written for x in (_encode(state[k]), PARTITION, k)]
        try:
            client._run("BEGIN UNLOGGED BATCH " + "; ".join(stmts) + "; APPLY BATCH",
                        tuple(params), client.write_cl)
        except Exception as e:
            return {"type": classify(e, write=True), "value": mops, "node": node,
                    "error": describe_error(e)}
        return {"type": "ok", "value": out, "node": node}
    stmts, params = [], []
    for k in keys:
        if k in before:
            stmts.append(f"UPDATE {keyspace}.{TABLE} SET l = %s WHERE p = %s AND c = %s "
                         f"IF l = %s")
            params += [_encode(state[k]), PARTITION, k, before[k]]
        else:
            stmts.append(f"INSERT INTO {keyspace}.{TABLE} (p, c, l) VALUES (%s, %s, %s) "
                         f"IF NOT EXISTS")
            params += [PARTITION, k, _encode(state[k])]
    cql = "BEGIN BATCH " + "; ".join(stmts) + "; APPLY BATCH"
    try:
        rs = client._run(cql, tuple(params), client.write_cl, serial=True)
    except Exception as e:
        return {"type": classify(e, write=True, lwt=True), "value": mops, "node": node,
                "error": describe_error(e)}
    if not rs.was_applied:
        return {"type": "fail", "value": mops, "node": node, "error": "cas-mismatch"}
    return {"type": "ok", "value": out, "node": node}


def _invoke_batch(client, mops: list, node: str, keyspace: str) -> dict:
    """txn_mode=batch: reads one by one as the micro-ops come (a key read twice is read
    once, with the txn's own appends applied client-side, P-T14), then one logged batch of
    `l = l + [...]` per appended key. A read error: `fail` (nothing written yet); a batch
    error: cassandra_client.classify (a WriteTimeout, BATCH_LOG or BATCH, is `info`: the
    batchlog may still replay it)."""
    from splitbrain.harness.dbs.cassandra_client import classify, describe_error

    state: dict[int, list[int]] = {}
    appends: dict[int, list[int]] = {}  # key -> values, in the txn's order
    out = []
    for f, k, v in mops:
        k = int(k)
        if f == "r":
            if k not in state:
                try:
                    state[k] = _read_batch_key(client, k, keyspace) + appends.get(k, [])
                except Exception as e:  # nothing was written
                    return {"type": "fail", "value": mops, "node": node,
                            "error": f"read: {describe_error(e)}"}
            out.append(["r", k, list(state[k])])
        elif f == "append":
            appends.setdefault(k, []).append(int(v))
            if k in state:
                state[k].append(int(v))
            out.append(["append", k, v])
        else:
            return {"type": "fail", "value": mops, "node": node,
                    "error": f"unsupported micro-op {f!r} for txn-list-append"}
    if not appends:
        return {"type": "ok", "value": out, "node": node}
    keys = list(appends)
    stmt = f"UPDATE {keyspace}.{BATCH_TABLE} SET l = l + %s WHERE k = %s"
    params = tuple(x for k in keys for x in (appends[k], k))
    try:
        client._run("BEGIN BATCH " + "; ".join([stmt] * len(keys)) + "; APPLY BATCH",
                    params, client.write_cl)
    except Exception as e:
        return {"type": classify(e, write=True), "value": mops, "node": node,
                "error": describe_error(e)}
    return {"type": "ok", "value": out, "node": node}
