"""The Kafka client's own positions (harness/dbs/kafka/client.py), with a fake consumer:
a library re-seek is recorded as `reset`, and a failed poll never moves the positions."""

from __future__ import annotations

import pytest

pytest.importorskip("confluent_kafka")

from splitbrain.harness.dbs.kafka.client import KafkaQueueClient, KafkaSettings  # noqa: E402


class _Err:
    def __init__(self, fatal: bool):
        self._fatal = fatal

    def fatal(self):
        return self._fatal

    def name(self):
        return "_FATAL" if self._fatal else "_TRANSPORT"


class _Msg:
    def __init__(self, part, off, key, value, err=None):
        self._p, self._o, self._k, self._v, self._e = part, off, key, value, err

    def error(self):
        return self._e

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def key(self):
        return str(self._k).encode()

    def value(self):
        return str(self._v).encode()


class _FakeConsumer:
    def __init__(self, batches):
        self.batches = batches
        self.assigned = []
        self.closed = False

    def assign(self, tps):
        self.assigned.append([(tp.partition, tp.offset) for tp in tps])

    def consume(self, num_messages, timeout):
        return self.batches.pop(0) if self.batches else []

    def close(self):
        self.closed = True


def _client(batches, made):
    c = KafkaQueueClient(KafkaSettings("127.0.0.1:1", partitions=8), 1)

    def consumer():
        if c._consumer is None:
            c._consumer = _FakeConsumer(batches)
            made.append(c._consumer)
            if c.assigned:
                c._consumer.assign(c._partitions())
        return c._consumer

    c.consumer = consumer
    return c


def test_a_library_rewind_is_recorded_as_reset_of_the_partitions_keys():
    made: list = []
    batches = [[_Msg(5, 10, 5, 1), _Msg(5, 11, 13, 2), _Msg(5, 12, 5, 3)],
               [_Msg(5, 11, 13, 2), _Msg(5, 12, 5, 3), _Msg(6, 0, 6, 9)]]
    c = _client(batches, made)
    assert c.invoke({"f": "assign", "value": [5, 6, 13]})["type"] == "ok"
    first = c.invoke({"f": "poll"})
    assert first == {"type": "ok", "value": {"5": [[10, 1], [12, 3]], "13": [[11, 2]]}}
    second = c.invoke({"f": "poll"})
    assert second["type"] == "ok"
    assert second["extra"]["reset"] == ["13", "5"]        # every assigned key of partition 5
    assert second["extra"]["reset_from"]["5"] == [13, 11]  # expected 13, got 11
    assert "6" not in second["extra"]["reset"]


def test_a_failed_poll_drops_its_batch_and_resumes_at_the_old_position():
    made: list = []
    batches = [[_Msg(5, 10, 5, 1)],
               [_Msg(5, 11, 5, 2), _Msg(5, 0, 5, 0, err=_Err(True)), _Msg(5, 12, 5, 3)]]
    c = _client(batches, made)
    c.invoke({"f": "assign", "value": [5]})
    assert c.invoke({"f": "poll"})["value"] == {"5": [[10, 1]]}
    assert c.invoke({"f": "poll"})["type"] == "fail"
    assert made[0].closed and c.next_off == {5: 11}
    c.invoke({"f": "poll"})                      # a fresh consumer, assigned at offset 11
    assert made[1].assigned[0] == [(5, 11)]


def test_non_fatal_consumer_errors_are_counted_and_the_poll_stays_ok():
    made: list = []
    batches = [[_Msg(5, 10, 5, 1), _Msg(5, 0, 5, 0, err=_Err(False)), _Msg(5, 11, 5, 2)]]
    c = _client(batches, made)
    c.invoke({"f": "assign", "value": [5]})
    got = c.invoke({"f": "poll"})
    assert got["value"] == {"5": [[10, 1], [11, 2]]} and got["extra"] == {"consumer_errors": 1}
