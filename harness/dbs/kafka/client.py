"""The Kafka client of the `queue` workload (one logical process), on confluent-kafka.

Keys are logical partitions: key k is partition `k % partitions` of the one topic, with
the message key `k`, so retiring keys never needs new topics; a poll returns only
messages of the keys the process is assigned, per key in delivery order.

* `send` — produce + flush; ok carries `offset` (exact, from the delivery report).
* `assign` — client-side positions: partitions still covered keep the next offset, new
  ones (or `seek: "beginning"`) start at the beginning; the consumer is re-assigned.
* `poll` — consume(); value {key: [[offset, value], …]}. A `final` poll that gets nothing
  reports `ok` {} only once its position has reached every assigned partition's high
  watermark (else it keeps consuming, then `fail`s): an empty final poll means "read to
  the end", which the checker relies on.

Positions are the client's (`next_off`), and the history must say when the consumer
moved them itself: librdkafka silently re-seeks a partition after a leader change when
its KIP-320 offset validation returns an end offset below the fetch position, or resets
it by `auto.offset.reset` after OFFSET_OUT_OF_RANGE. A message below the partition's
next offset is such a rewind; the poll then carries `reset: [the keys of that partition
it is assigned]` (the checker starts those keys afresh, as Jepsen does after a seek) and
`reset_from: {key: [expected next offset, offset delivered]}`. A poll that fails drops
its batch, so the consumer is torn down and rebuilt at `next_off` (which the dropped
batch did not move): a failed poll never makes the next one look like a skip.
Non-fatal consumer error events are informational (librdkafka retries by itself): they
are counted in `consumer_errors` and the poll stays ok.

Error mapping (design/queues.md §(d); no per-message persistence status in Python):
`fail` only for errors raised before any attempt can have been appended (queue full,
unknown partition, size, auth, config); everything else — timeouts (`_MSG_TIMED_OUT` may
be committed), transport errors, NOT_ENOUGH_REPLICAS (the last retry's answer; an earlier
attempt may have landed), NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER, fatal
idempotence errors — is `info`. Reads fail on any error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

TOPIC = "queue"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    partitions: int
    acks: str = "all"
    idempotence: bool = True


def _fail_codes():
    from confluent_kafka import KafkaError as E

    # Only errors a record gets before any attempt could have been appended. A broker's
    # NOT_ENOUGH_REPLICAS is not among them: it is the *last* attempt's error, and an
    # earlier attempt that timed out may have been appended (librdkafka retries), so a
    # `fail` there could turn a committed record into a false aborted read.
    names = ["_QUEUE_FULL", "_PURGE_QUEUE", "_UNKNOWN_PARTITION", "_UNKNOWN_TOPIC",
             "_INVALID_ARG", "MSG_SIZE_TOO_LARGE", "TOPIC_AUTHORIZATION_FAILED",
             "INVALID_REQUIRED_ACKS", "INVALID_CONFIG", "RECORD_LIST_TOO_LARGE"]
    return {getattr(E, n) for n in names if hasattr(E, n)}


class SharedProducer:
    """One librdkafka producer for every worker (thread-safe, as applications share one):
    16 producers' threads would starve a small machine. Recreated after a fatal error."""

    def __init__(self, settings: KafkaSettings):
        import threading

        self.s = settings
        self._lock = threading.Lock()
        self._p = None

    def get(self):
        with self._lock:
            if self._p is None:
                from confluent_kafka import Producer

                self._p = Producer({
                    "bootstrap.servers": self.s.bootstrap, "acks": self.s.acks,
                    # librdkafka refuses idempotence without acks=all; it only applies there
                    "enable.idempotence": self.s.idempotence and self.s.acks == "all",
                    "linger.ms": 0,
                    # Jepsen's settings: retries within the delivery timeout, requests shorter
                    "delivery.timeout.ms": 10000, "request.timeout.ms": 3000,
                    "socket.connection.setup.timeout.ms": 3000,
                    "message.send.max.retries": 10 if self.s.idempotence else 2,
                    "log_level": 2})
            return self._p

    def reset(self, old) -> None:
        with self._lock:
            if self._p is old:
                self._p = None

    def close(self) -> None:
        with self._lock:
            p, self._p = self._p, None
        if p is not None:
            try:
                p.flush(2)
            except Exception:
                pass


class KafkaQueueClient:
    """Not thread-safe: one worker uses it (the producer is shared and thread-safe)."""

    def __init__(self, settings: KafkaSettings, process: int, *, final: bool = False,
                 producer: SharedProducer | None = None):
        self.s = settings
        self.process = process
        self.final = final
        self._shared = producer or SharedProducer(settings)
        self._own = producer is None
        self._consumer = None
        self.assigned: list = []
        self.next_off: dict[int, int] = {}  # partition -> next offset to read

    # -- plumbing --------------------------------------------------------------------------

    def producer(self):
        return self._shared.get()

    def consumer(self):
        if self._consumer is None:
            from confluent_kafka import Consumer

            self._consumer = Consumer({
                "bootstrap.servers": self.s.bootstrap, "group.id": f"sb-{self.process}",
                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                "isolation.level": "read_committed", "enable.partition.eof": False,
                "socket.connection.setup.timeout.ms": 3000, "fetch.wait.max.ms": 100,
                "log_level": 2})
            if self.assigned:  # rebuilt after a failed poll: resume at the client's positions
                self._consumer.assign(self._partitions())
        return self._consumer

    def _partitions(self) -> list:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        parts = sorted({self.partition(k) for k in self.assigned})
        return [TopicPartition(TOPIC, p, self.next_off.get(p, OFFSET_BEGINNING)) for p in parts]

    def partition(self, key: Any) -> int:
        return int(key) % self.s.partitions

    # -- ops -------------------------------------------------------------------------------

    def invoke(self, op: dict) -> dict:
        f = op.get("f")
        try:
            if f == "send":
                return self._send(op)
            if f == "assign":
                return self._assign(op)
            if f == "poll":
                return self._poll(op)
        except Exception as e:  # librdkafka raises KafkaException/BufferError
            from confluent_kafka import KafkaException

            if isinstance(e, BufferError):
                return {"type": "fail", "value": op.get("value"), "error": "kafka:_QUEUE_FULL"}
            if isinstance(e, KafkaException) and f != "send":
                return {"type": "fail", "error": f"kafka:{e.args[0].name() if e.args else e}"}
            return {"type": "info" if f == "send" else "fail", "value": op.get("value"),
                    "error": f"{type(e).__name__}: {e}"}
        return {"type": "fail", "error": f"unsupported op {f!r} for the queue workload on kafka"}

    def _send(self, op: dict) -> dict:
        from confluent_kafka import TopicPartition  # noqa: F401  (import check)

        key, value = op["key"], op["value"]
        box: dict = {}

        def done(err, msg):
            box["err"], box["msg"] = err, msg

        p = self.producer()
        p.produce(TOPIC, key=str(key).encode(), value=str(value).encode(),
                  partition=self.partition(key), on_delivery=done)
        deadline = time.monotonic() + 15.0
        while "err" not in box and time.monotonic() < deadline:
            p.poll(0.1)
        if "err" not in box:
            return {"type": "info", "value": value, "error": "kafka:no-delivery-report"}
        err = box["err"]
        if err is None:
            return {"type": "ok", "value": value, "extra": {"offset": box["msg"].offset()}}
        kind = "fail" if err.code() in _fail_codes() and not err.fatal() else "info"
        if err.fatal():  # idempotence broken: a fresh producer (the worker also retires us)
            self._shared.reset(p)
        return {"type": kind, "value": value, "error": f"kafka:{err.name()}"}

    def _assign(self, op: dict) -> dict:
        keys = list(op.get("value") or [])
        parts = sorted({self.partition(k) for k in keys})
        if op.get("seek") == "beginning":
            self.next_off = {}
        self.next_off = {p: o for p, o in self.next_off.items() if p in parts}
        c = self.consumer()
        self.assigned = keys
        c.assign(self._partitions())
        return {"type": "ok", "value": keys}

    def _consume(self, timeout: float, note: dict) -> dict[str, list]:
        """One consume(); positions move only once the whole batch is accepted."""
        wanted = {str(k) for k in self.assigned}
        out: dict[str, list] = {}
        nxt = dict(self.next_off)
        try:
            msgs = self.consumer().consume(num_messages=200, timeout=timeout)
        except Exception:
            self._drop_consumer()
            raise
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.fatal():
                    self._drop_consumer()  # the batch is dropped: re-read from next_off
                    raise RuntimeError(f"kafka:{err.name()}")
                note["consumer_errors"] = note.get("consumer_errors", 0) + 1
                continue
            p, off = m.partition(), m.offset()
            expect = nxt.get(p)
            if expect is not None and off < expect:
                # the library re-seeked this partition (see the module docstring)
                for k in self.assigned:
                    if self.partition(k) == p:
                        ks = str(k)
                        note.setdefault("reset", {})[ks] = True
                        note.setdefault("reset_from", {}).setdefault(ks, [expect, off])
            nxt[p] = off + 1
            k = (m.key() or b"").decode()
            if k in wanted:
                raw = (m.value() or b"").decode()
                out.setdefault(k, []).append([off, int(raw) if raw.lstrip("-").isdigit() else raw])
        self.next_off = nxt
        return out

    def _drop_consumer(self) -> None:
        c, self._consumer = self._consumer, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    def _done(self, out: dict, note: dict) -> dict:
        comp: dict = {"type": "ok", "value": out}
        if note:
            extra = dict(note)
            if "reset" in extra:
                extra["reset"] = sorted(extra["reset"])
            comp["extra"] = extra
        return comp

    def _poll(self, op: dict) -> dict:
        if not self.assigned:
            return {"type": "ok", "value": {}}
        note: dict = {}
        out = self._consume(0.1, note)
        if out or not (self.final or op.get("final")):
            return self._done(out, note)
        # a final poll may only say "nothing left" once it has read to the high watermark
        from confluent_kafka import TopicPartition

        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            behind = []
            for p in sorted({self.partition(k) for k in self.assigned}):
                _lo, hi = self.consumer().get_watermark_offsets(TopicPartition(TOPIC, p), timeout=3)
                if self.next_off.get(p, 0) < hi:
                    behind.append(p)
            if not behind:
                return self._done({}, note)
            out = self._consume(0.5, note)
            if out:
                return self._done(out, note)
        return {"type": "fail", "error": f"final poll still behind the high watermark of {behind}"}

    def close(self) -> None:
        if self._own:
            self._shared.close()
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                pass
            self._consumer = None
