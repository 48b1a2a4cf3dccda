"""Transactions on Redis (transactions.md §7.1): one Lua script per txn.

A script runs atomically on one server (no other client's command in between), so a txn
on the primary takes effect at one instant inside its request: strict-serializable. The
script gets the micro-ops as KEYS (one per mop, `<workload>:<key>`) and ARGV (f, value
pairs) and returns one reply per mop:
* txn-list-append: `r` = LRANGE k 0 -1, `append` = RPUSH k v (the reply is the new length);
* txn-rw-register: `w` = HINCRBY k ver 1 + HSET k val v (reply: the version), `r` = HMGET k
  val ver; the versions go into the completion's aligned `versions` list (§1.1).
A read-only txn uses the `no-writes` variant, so it may run on a replica; a txn with
writes is declared a write script, so a replica rejects it up front (READONLY: `fail`).

Error mapping (§7.1): not sent → fail; an error reply Redis gives before running anything
(READONLY, NOSCRIPT handled, BUSY, OOM, …) → fail; sent but no reply (timeout, reset,
EOF) → info; any other error reply → info with `partial-exec` (a script that fails half-way
keeps its earlier effects; the dedicated key space makes that impossible by design).

`invoke_txn(client, op)` is the one entry point the Redis client calls for f == "txn".
"""

from __future__ import annotations

import hashlib
from typing import Any

from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError

_LIST_BODY = """
local out = {}
for i = 1, #KEYS do
  local f = ARGV[2 * i - 1]
  if f == 'r' then
    out[i] = redis.call('LRANGE', KEYS[i], 0, -1)
  else
    out[i] = redis.call('RPUSH', KEYS[i], ARGV[2 * i])
  end
end
return out
"""

_REGISTER_BODY = """
local out = {}
for i = 1, #KEYS do
  local f = ARGV[2 * i - 1]
  if f == 'r' then
    local got = redis.call('HMGET', KEYS[i], 'val', 'ver')
    out[i] = {got[1] or '', got[2] or 0, got[1] and 1 or 0}
  else
    local ver = redis.call('HINCRBY', KEYS[i], 'ver', 1)
    redis.call('HSET', KEYS[i], 'val', ARGV[2 * i])
    out[i] = {ARGV[2 * i], ver, 1}
  end
end
return out
"""

SCRIPTS = {
    ("txn-list-append", True): "#!lua\n" + _LIST_BODY,
    ("txn-list-append", False): "#!lua flags=no-writes\n" + _LIST_BODY,
    ("txn-rw-register", True): "#!lua\n" + _REGISTER_BODY,
    ("txn-rw-register", False): "#!lua flags=no-writes\n" + _REGISTER_BODY,
}

# Replies Redis gives before a script runs (nothing applied).
_BEFORE_RUN = frozenset({"READONLY", "NOSCRIPT", "LOADING", "MASTERDOWN", "NOREPLICAS",
                         "BUSY", "OOM", "MISCONF", "NOAUTH", "NOPERM"})


def _decode(raw: Any) -> Any:
    from splitbrain.harness.dbs.redis_client import decode_value

    return decode_value(raw)


def _sha1(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def read_only(mops) -> bool:
    return all(m[0] == "r" for m in mops)


def run_script(conn, workload: str, mops) -> list:
    """Run the txn's script on `conn`; raises NotSent / Ambiguous / ReplyError."""
    writes = not read_only(mops)
    script = SCRIPTS[(workload, writes)]
    keys = [f"{workload}:{k}" for _, k, _ in mops]
    argv: list = []
    for f, _, v in mops:
        argv += [f, "" if v is None else v]
    try:
        return conn.call("EVALSHA", _sha1(script), len(keys), *keys, *argv)
    except ReplyError as e:
        if e.code != "NOSCRIPT":
            raise
    # NOSCRIPT: nothing ran, so sending the body now cannot apply the txn twice
    return conn.call("EVAL", script, len(keys), *keys, *argv)


def completion(workload: str, mops, reply: list) -> dict:
    """The ok completion: the micro-ops with reads filled in (and versions)."""
    out = []
    versions: list = []
    for (f, k, v), r in zip(mops, reply):
        if workload == "txn-list-append":
            if f == "r":
                out.append(["r", k, [_decode(x) for x in r]])
                versions.append(len(r))
            else:
                out.append([f, k, v])
                versions.append(int(r))
        else:
            val, ver, present = r
            if f == "r":
                out.append(["r", k, _decode(val) if int(present) else None])
                versions.append(int(ver) if int(present) else None)
            else:
                out.append([f, k, v])
                versions.append(int(ver))
    comp = {"type": "ok", "value": out}
    if workload == "txn-rw-register":
        comp["versions"] = versions
    return comp


def invoke_txn(client, op: dict) -> dict:
    """Execute one txn op for a RedisClient; never raises for datastore errors."""
    mops = [list(m) for m in (op.get("value") or [])]
    inv_value = [[f, k, None if f == "r" else v] for f, k, v in mops]
    if not mops:
        return {"type": "fail", "value": inv_value, "node": None, "error": "empty txn"}
    ro = read_only(mops)
    target = client._target({"f": "read" if ro else "txn", "node": op.get("node"),
                             "final": op.get("final")})
    if target is None:
        return {"type": "fail", "value": inv_value, "node": None, "error": "no-primary-known"}
    conn = client._conn(target)
    try:
        reply = run_script(conn, client.txn_kind, mops)
    except NotSent as e:
        if not ro:
            client._forget_primary()
        return {"type": "fail", "value": inv_value, "node": target.name,
                "error": f"not-sent: {e}"}
    except Ambiguous as e:
        if not ro:
            client._forget_primary()
        return {"type": "info", "value": inv_value, "node": target.name,
                "error": f"indeterminate: {e}"}
    except ReplyError as e:
        if e.code in ("READONLY", "MASTERDOWN") or not ro:
            client._forget_primary()
        if e.code in _BEFORE_RUN:
            return {"type": "fail", "value": inv_value, "node": target.name, "error": e.message}
        return {"type": "info", "value": inv_value, "node": target.name,
                "error": f"partial-exec: {e.message}"}
    if not isinstance(reply, list) or len(reply) != len(mops):
        return {"type": "info", "value": inv_value, "node": target.name,
                "error": f"unexpected script reply {reply!r:.80}"}
    comp = completion(client.txn_kind, mops, reply)
    comp["node"] = target.name
    return comp


def plain_read(conn, workload: str, key: Any) -> dict:
    """A single-key read (the final phase reads keys one by one) in the txn key space."""
    reply = run_script(conn, workload, [["r", key, None]])
    comp = completion(workload, [["r", key, None]], reply)
    (_, _, value), = comp["value"]
    out = {"type": "ok", "value": value}
    if workload == "txn-rw-register":
        out["version"] = comp["versions"][0] or 0
    return out
