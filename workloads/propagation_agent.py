"""The relay and consumer processes of the `propagation` workloads (real OS processes,
started inside a node's namespace, so faults can kill and pause them).

    python -m splitbrain.workloads.propagation_agent relay    HOST PORT
    python -m splitbrain.workloads.propagation_agent consumer HOST PORT --consumer version|dedupe|none

* relay: XREADGROUP the `outbox` stream (group `relay`; first its own pending entries,
  after a start or an error), XADD each entry to `events`, then XACK the outbox —
  at-least-once: a relay killed between XADD and XACK publishes the event again.
* consumer: XREADGROUP `events` (group `consumers`; first its own pending entries, so a
  restarted consumer redelivers), apply the batch to the derived store, then XACK the
  batch (`--consumer-idempotency`): `version` applies only an event newer than the
  stored version (a Lua script); `none` appends the event id to `der:<key>` (RPUSH), so
  every duplicate is visible; `dedupe` does the same append, but only when the event id
  is new to the `processed` set — the set add and the effect in one Lua script, so a
  consumer killed between them cannot apply an event twice or mark it without applying.
* poison events (field `poison 1`): the consumer always fails on them and leaves them
  pending; it re-reads its own pending entries (each read is one more delivery, Redis'
  delivery count), and once an entry was delivered DELIVERY_LIMIT times one Lua script
  acks it and — only if its id is new to the `dlq:ids` set — appends it to the `dlq`
  stream: dead-lettered exactly once, even when a replay redelivers it.

With `--queue kafka --bootstrap HOST:PORT,…` the `events` stream is a Kafka topic
(`queue`, one partition, RF 3, acks=all, idempotent producer): the relay acks the outbox
only after Kafka acknowledged the batch; the consumer (group `consumers`, static member
`c1`, so a restarted consumer takes its partition back at once) applies a batch, then
commits its offsets synchronously — a consumer killed in between re-applies the batch.
Kafka has no delivery count: the consumer counts a poison event's attempts in the
`attempts` hash, seeks back to it (committing only what came before) until the limit,
then dead-letters it to the same `dlq` stream, once (`dlq:ids`). A replay is a request
the consumer finds in `replay:request` and answers by seeking back that many offsets.

With `--source cassandra --cassandra HOST` the relay reads the outbox from Cassandra
instead of the `outbox` stream (harness/dbs/cassandra_outbox.py `relay_step`: it polls
every key's outbox partition above its cursor and publishes each row exactly once); the
consumer is unchanged.

Every relay/apply is printed as one JSON line on stdout (the runner turns them into
history ops). Errors are retried after a short sleep; SIGTERM ends the loop.
"""

from __future__ import annotations

import json
import signal
import sys
import time

from splitbrain.harness.dbs.resp import ReplyError, RespConnection

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

APPLY_DEDUPE = """#!lua
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], 'ver', ARGV[2]) end
return 1
"""

# KEYS: events, dlq, dlq:ids; ARGV: entry id, group, limit, eid, key, ver.
# -1: no longer pending (acked meanwhile); 0: under the limit; -2: acked, its id was
# dead-lettered before (a replay redelivered it); n > 0: dead-lettered after n deliveries
DEAD_LETTER = """#!lua
local p = redis.call('XPENDING', KEYS[1], ARGV[2], ARGV[1], ARGV[1], 1)
if #p == 0 then return -1 end
local n = tonumber(p[1][4])
if n < tonumber(ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
if redis.call('SADD', KEYS[3], ARGV[4]) == 0 then return -2 end
redis.call('XADD', KEYS[2], '*', 'eid', ARGV[4], 'key', ARGV[5], 'ver', ARGV[6], 'attempts', n)
return n
"""

MODES = ("none", "dedupe", "version")
DELIVERY_LIMIT = 3  # deliveries of a poison event before it is dead-lettered
BLOCK_MS = 200  # how long an idle consumer waits for new events per read
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


def apply_event(conn, mode: str, k, eid, ver) -> tuple[int, str]:
    """Apply one event to the derived store by the consumer's idempotency mode (one Lua
    script each, so effect and bookkeeping are atomic); returns (applied?, the decision
    recorded when it was not)."""
    if mode == "version":
        return conn.call("EVAL", APPLY_VERSION, 1, f"derv:{k}", eid, ver), "skipped-older"
    if mode == "dedupe":
        return (conn.call("EVAL", APPLY_DEDUPE, 3, f"derv:{k}", f"der:{k}", "processed", eid,
                          ver), "skipped-duplicate")
    return conn.call("EVAL", APPLY_NONE, 2, f"derv:{k}", f"der:{k}", eid, ver), "skipped-older"


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
            extra = ("poison", "1") if f.get("poison") == "1" else ()
            conn.call("XADD", "events", "*", "eid", f["eid"], "key", f["key"], "ver", f["ver"],
                      *extra)
            emit(f="relay", value=int(f["eid"]), key=int(f["key"]))
            conn.call("XACK", "outbox", "relay", ident)
    if not got:
        state["fresh"] = False


def consume(conn, mode: str, state: dict) -> None:
    ensure_group(conn, "events", "consumers")
    # after a restart, this consumer's own pending entries first (redeliveries); after a
    # failed (poison) event too: re-reading it is its next delivery
    start = "0" if state.get("fresh", True) or state.get("retry") else ">"
    reply = conn.call("XREADGROUP", "GROUP", "consumers", "c1", "COUNT", 50, "BLOCK", BLOCK_MS,
                      "STREAMS", "events", start)
    got = False
    done_ids = []
    failed = []
    for _stream, entries in reply or ():
        for ident, raw in entries:
            got = True
            if raw is None:  # deleted from the stream while pending
                done_ids.append(ident)
                continue
            f = _fields(raw)
            k, eid, ver = f["key"], f["eid"], f["ver"]
            if f.get("poison") == "1":
                # the consumer always fails on a poison event: not acked, so it stays
                # pending and comes back (at-least-once) until the delivery limit
                emit(f="apply", type="fail", value=int(eid), key=int(k), version=int(ver),
                     error="poison event: the consumer failed on it")
                failed.append((ident, eid, k, ver))
                continue
            done, skipped = apply_event(conn, mode, k, eid, ver)
            emit(f="apply", value=int(eid), key=int(k), version=int(ver),
                 decision="applied" if int(done) else skipped)
            done_ids.append(ident)
            time.sleep(WORK_S)  # the consumer's own work per event, before the batch ack
    if done_ids:
        # one ack for the whole batch, as batch consumers do: a consumer killed before it
        # re-applies the batch after its restart (at-least-once)
        conn.call("XACK", "events", "consumers", *done_ids)
    for ident, eid, k, ver in failed:
        n = int(conn.call("EVAL", DEAD_LETTER, 3, "events", "dlq", "dlq:ids", ident,
                          "consumers", DELIVERY_LIMIT, eid, k, ver))
        if n > 0:
            emit(f="dlq", value=int(eid), key=int(k), version=int(ver), attempts=n,
                 reason="poison")
    state["retry"] = bool(failed)
    if failed:
        time.sleep(0.05)  # a retry is the next delivery; do not spin on it
    if not got:
        state["fresh"] = False


def relay_cassandra(conn, session, state: dict) -> None:
    """`--source cassandra`: publish the Cassandra outbox (harness/dbs/cassandra_outbox.py:
    per-key cursors in `relay:pos`, advanced atomically with each XADD)."""
    from splitbrain.harness.dbs.cassandra_outbox import relay_step

    if not relay_step(conn, session, state, emit):
        time.sleep(0.1)


KAFKA_TOPIC = "queue"  # harness/dbs/kafka/client.py TOPIC: what KafkaDB creates


def relay_kafka(conn, producer, state: dict) -> None:
    ensure_group(conn, "outbox", "relay")
    start = "0" if state.get("fresh", True) else ">"
    reply = conn.call("XREADGROUP", "GROUP", "relay", "r1", "COUNT", 50, "BLOCK", 200,
                      "STREAMS", "outbox", start)
    batch = []
    for _stream, entries in reply or ():
        for ident, raw in entries:
            if raw is None:
                conn.call("XACK", "outbox", "relay", ident)
                continue
            f = _fields(raw)
            batch.append((ident, f))
    if not batch:
        state["fresh"] = False
        return
    acked: dict = {}

    def done(err, msg, ident=None):
        acked[ident] = err is None

    for ident, f in batch:
        producer.produce(KAFKA_TOPIC, key=f["key"].encode(),
                         value=json.dumps({k: f[k] for k in ("eid", "key", "ver", "poison")
                                           if k in f}).encode(),
                         on_delivery=lambda err, msg, i=ident: done(err, msg, i))
    producer.flush(15)
    for ident, f in batch:
        if acked.get(ident):
            emit(f="relay", value=int(f["eid"]), key=int(f["key"]))
            conn.call("XACK", "outbox", "relay", ident)
        else:
            state["fresh"] = True  # not acknowledged: re-read from our pending list


KAFKA_DEAD_LETTER = """#!lua
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -2 end
redis.call('XADD', KEYS[1], '*', 'eid', ARGV[1], 'key', ARGV[2], 'ver', ARGV[3], 'attempts', ARGV[4])
return tonumber(ARGV[4])
"""


def _kafka_replay(conn, consumer) -> None:
    """A pending replay request: seek every assigned partition that many offsets back."""
    from confluent_kafka import TopicPartition

    req = conn.call("GETDEL", "replay:request")
    if not req:
        return
    n = int(req)
    for tp in consumer.position(consumer.assignment()):
        if tp.offset >= 0:
            consumer.seek(TopicPartition(tp.topic, tp.partition, max(0, tp.offset - n)))
    emit(f="replayed", value=n)


def consume_kafka(conn, consumer, mode: str, state: dict) -> None:
    from confluent_kafka import TopicPartition

    _kafka_replay(conn, consumer)
    msgs = consumer.consume(num_messages=50, timeout=0.2)
    if not msgs:
        return
    for m in msgs:
        if m.error() is not None or m.key() == b"warmup":
            continue
        f = json.loads(m.value())
        k, eid, ver = str(f["key"]), str(f["eid"]), str(f["ver"])
        if f.get("poison") == "1":
            n = int(conn.call("HINCRBY", "attempts", eid, 1))
            emit(f="apply", type="fail", value=int(eid), key=int(k), version=int(ver),
                 offset=m.offset(), error="poison event: the consumer failed on it")
            if n < DELIVERY_LIMIT:
                # not done: commit what came before it, and fetch it again
                here = TopicPartition(m.topic(), m.partition(), m.offset())
                consumer.commit(offsets=[here], asynchronous=False)
                consumer.seek(here)
                time.sleep(0.05)
                return
            got = int(conn.call("EVAL", KAFKA_DEAD_LETTER, 2, "dlq", "dlq:ids", eid, k, ver, n))
            if got > 0:
                emit(f="dlq", value=int(eid), key=int(k), version=int(ver), attempts=got,
                     reason="poison")
            continue
        done, skipped = apply_event(conn, mode, k, eid, ver)
        emit(f="apply", value=int(eid), key=int(k), version=int(ver), offset=m.offset(),
             decision="applied" if int(done) else skipped)
        time.sleep(WORK_S)
    consumer.commit(asynchronous=False)  # after the batch's effects: at-least-once


def _kafka_client(role: str, bootstrap: str):
    if role == "relay":
        from confluent_kafka import Producer

        return Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "delivery.timeout.ms": 10000, "request.timeout.ms": 3000,
                         "log_level": 2})
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "consumers",
                  "group.instance.id": "c1", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 500, "isolation.level": "read_committed",
                  "log_level": 2})
    c.subscribe([KAFKA_TOPIC])
    return c


def main(argv: list[str]) -> int:
    role, host, port = argv[0], argv[1], int(argv[2])
    mode = argv[argv.index("--consumer") + 1] if "--consumer" in argv else "version"
    if mode not in MODES:
        sys.stderr.write(f"--consumer {mode!r}: allowed: {', '.join(MODES)}\n")
        return 254
    queue = argv[argv.index("--queue") + 1] if "--queue" in argv else "redis"
    bootstrap = argv[argv.index("--bootstrap") + 1] if "--bootstrap" in argv else ""
    source = argv[argv.index("--source") + 1] if "--source" in argv else "redis"
    cass_host = argv[argv.index("--cassandra") + 1] if "--cassandra" in argv else host
    signal.signal(signal.SIGTERM, _term)
    conn = None
    state: dict = {}
    kafka = _kafka_client(role, bootstrap) if queue == "kafka" else None
    cass = None
    if source == "cassandra" and role == "relay":
        from splitbrain.harness.dbs.cassandra_outbox import relay_session

        cass = relay_session(cass_host)
    while not _stop:
        try:
            if conn is None:
                conn = RespConnection(host, port, connect_timeout=1.0, op_timeout=2.0)
            if cass is not None:
                relay_cassandra(conn, cass, state)
            elif kafka is not None:
                if role == "relay":
                    relay_kafka(conn, kafka, state)
                else:
                    consume_kafka(conn, kafka, mode, state)
            elif role == "relay":
                relay(conn, state)
            else:
                consume(conn, mode, state)
        except Exception as e:  # Redis errors, or confluent_kafka's KafkaException
            sys.stderr.write(f"{role}: {e}\n")
            state["fresh"] = True  # an unacked entry must be re-read from our pending list
            if kafka is not None and role == "consumer":
                # the consumer's position already passed the batch it did not finish: a
                # fresh consumer resumes from the committed offset, so it is applied again
                try:
                    kafka.close()
                except Exception:
                    pass
                kafka = _kafka_client(role, bootstrap)
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
