"""The relay and consumer processes of the `propagation` workloads (real OS processes,
started inside a node's namespace, so faults can kill and pause them).

    python -m splitbrain.workloads.propagation_agent relay    HOST PORT
    python -m splitbrain.workloads.propagation_agent consumer HOST PORT --consumer version|none

* relay: XREADGROUP the `outbox` stream (group `relay`; first its own pending entries,
  after a start or an error), XADD each entry to `events`, then XACK the outbox —
  at-least-once: a relay killed between XADD and XACK publishes the event again.
* consumer: XREADGROUP `events` (group `consumers`; first its own pending entries, so a
  restarted consumer redelivers), apply the batch to the derived store, then XACK the
  batch. `version`
  applies only an event newer than the stored version (a Lua script); `none` appends the
  event id to `der:<key>` (RPUSH), so every duplicate is visible.

Every relay/apply is printed as one JSON line on stdout (the runner turns them into
history ops). Errors are retried after a short sleep; SIGTERM ends the loop.
"""

from __future__ import annotations

import json
import signal
import sys
import time

from splitbrain.harness.dbs.resp import Ambiguous, NotSent, ReplyError, RespConnection

APPLY_VERSION = """#!lua
local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
local v = tonumber(ARGV[2])
if v > cur then
  redis.call('HSET', KEYS[1], 'ver', ARGV[2], 'val', ARGV[1])
  return 1
end
return 0
"""

APPLY_NONE = """#!lua
redis.call('RPUSH', KEYS[2], ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], 'ver', ARGV[2]) end
return 1
"""

WORK_S = 0.01  # per-event processing time: the window a kill between apply and ack hits
_stop = False


def _term(*_):
    global _stop
    _stop = True


def emit(**ev) -> None:
    sys.stdout.write(json.dumps(ev) + "\n")
    sys.stdout.flush()


def _fields(raw) -> dict:
    return {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw) - 1, 2)}


def ensure_group(conn, stream: str, group: str) -> None:
    try:
        conn.call("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
    except ReplyError as e:
        if e.code != "BUSYGROUP":
            raise


def relay(conn, state: dict) -> None:
    ensure_group(conn, "outbox", "relay")
    # after a start or an error, our own pending entries first: a read whose reply was
    # lost (timed out while the server was paused) still moved its entries into our
    # pending list, and only reading from "0" delivers them again
    start = "0" if state.get("fresh", True) else ">"
    reply = conn.call("XREADGROUP", "GROUP", "relay", "r1", "COUNT", 50, "BLOCK", 200,
                      "STREAMS", "outbox", start)
    got = False
    for _stream, entries in reply or ():
        for ident, raw in entries:
            got = True
            f = _fields(raw)
            conn.call("XADD", "events", "*", "eid", f["eid"], "key", f["key"], "ver", f["ver"])
            emit(f="relay", value=int(f["eid"]), key=int(f["key"]))
            conn.call("XACK", "outbox", "relay", ident)
    if not got:
        state["fresh"] = False


def consume(conn, mode: str, state: dict) -> None:
    ensure_group(conn, "events", "consumers")
    # after a restart, this consumer's own pending entries first (redeliveries)
    start = "0" if state.get("fresh", True) else ">"
    reply = conn.call("XREADGROUP", "GROUP", "consumers", "c1", "COUNT", 50, "BLOCK", 200,
                      "STREAMS", "events", start)
    got = False
    done_ids = []
    for _stream, entries in reply or ():
        for ident, raw in entries:
            got = True
            f = _fields(raw)
            k, eid, ver = f["key"], f["eid"], f["ver"]
            if mode == "version":
                done = conn.call("EVAL", APPLY_VERSION, 1, f"derv:{k}", eid, ver)
            else:
                done = conn.call("EVAL", APPLY_NONE, 2, f"derv:{k}", f"der:{k}", eid, ver)
            emit(f="apply", value=int(eid), key=int(k), version=int(ver),
                 decision="applied" if int(done) else "skipped-older")
            done_ids.append(ident)
            time.sleep(WORK_S)  # the consumer's own work per event, before the batch ack
    if done_ids:
        # one ack for the whole batch, as batch consumers do: a consumer killed before it
        # re-applies the batch after its restart (at-least-once)
        conn.call("XACK", "events", "consumers", *done_ids)
    if not got:
        state["fresh"] = False


def main(argv: list[str]) -> int:
    role, host, port = argv[0], argv[1], int(argv[2])
    mode = argv[argv.index("--consumer") + 1] if "--consumer" in argv else "version"
    signal.signal(signal.SIGTERM, _term)
    conn = None
    state: dict = {}
    while not _stop:
        try:
            if conn is None:
                conn = RespConnection(host, port, connect_timeout=1.0, op_timeout=2.0)
            if role == "relay":
                relay(conn, state)
            else:
                consume(conn, mode, state)
        except (NotSent, Ambiguous, ReplyError, OSError) as e:
            sys.stderr.write(f"{role}: {e}\n")
            state["fresh"] = True  # an unacked entry must be re-read from our pending list
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
