"""The JSONL fast path (parse + validate + pair in one loop) agrees with the general path."""

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import (INF, freeze, history_from_events, read_history, write_jsonl)


def _events():
    """Pipelined ops, a retired process reused (new epoch), info/fail, pending, nemesis,
    extra fields, list keys, final reads, versions and errors."""
    return [
        {"index": 0, "process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1,
         "time": 10, "node": "n1", "trace": "a"},
        {"index": 1, "process": 1, "type": "invoke", "f": "read", "key": "x", "time": 11},
        {"index": 2, "process": 0, "type": "ok", "f": "write", "key": "x", "value": 1,
         "version": 1, "time": 20},
        {"index": 3, "process": "nemesis", "type": "info", "f": "partition", "time": 21},
        {"index": 4, "process": 1, "type": "info", "f": "read", "time": 25},
        {"index": 5, "process": 1, "type": "invoke", "f": "write", "key": ["x", "y"],
         "value": [1, 2], "time": 26},
        {"index": 6, "process": 1, "type": "fail", "f": "write", "error": "boom", "time": 27},
        {"index": 7, "process": 2, "type": "invoke", "f": "append", "key": "l", "value": 5,
         "op_id": 1, "time": 30},
        {"index": 8, "process": 2, "type": "invoke", "f": "append", "key": "l", "value": 6,
         "op_id": 2, "time": 31},
        {"index": 9, "process": 2, "type": "info", "f": "append", "op_id": 2, "time": 32},
        {"index": 10, "process": 2, "type": "invoke", "f": "read", "key": "l", "op_id": 3,
         "time": 33},
        {"index": 11, "process": 2, "type": "ok", "f": "append", "op_id": 1, "time": 34,
         "retry_of": 0},
        {"index": 12, "process": 2, "type": "ok", "f": "read", "op_id": 3, "key": "l",
         "value": [5, 6], "time": 35, "node": "n2"},
        {"index": 13, "process": 3, "type": "invoke", "f": "read", "key": "x", "final": True,
         "node": "n3", "time": 36},
        {"index": 14, "process": 3, "type": "ok", "f": "read", "key": "x", "value": 1,
         "version": 1, "final": True, "node": "n3", "time": 37.5},
        {"index": 15, "process": 4, "type": "invoke", "f": "write", "key": 7, "value": "v",
         "time": 38},
    ]


def test_jsonl_path_equals_event_path(tmp_path):
    p = tmp_path / "sb-h.jsonl"
    write_jsonl(_events(), p)
    a = history_from_events(_events(), source=str(p))
    b = read_history(str(p))
    assert [tuple(o) for o in a.ops] == [tuple(o) for o in b.ops]
    assert [type(x) for o in a.ops for x in o] == [type(x) for o in b.ops for x in o]
    assert a.nemesis == b.nemesis and a.events == b.events == 16
    by = b.by_index()
    # the session is taken at completion: op_id 1 completes after process 2 was reused
    # following its info (index 9), so it is already in epoch 1, like the read
    assert by[9].session == (2, 0) and by[11].session == by[12].session == (2, 1)
    assert by[4].session == (1, 0) and by[6].session == (1, 1)
    assert by[9].ret_index == INF and by[15].type == "info"        # info and pending
    assert by[6].key == ("x", "y") and by[6].error == "boom"
    assert by[11].extra == {"retry_of": 0} and by[2].extra == {"trace": "a"}
    assert by[14].final is True and by[14].t_ret == 37.5


def test_equal_strings_are_shared(tmp_path):
    p = tmp_path / "sb-h.jsonl"
    write_jsonl(_events(), p)
    ops = read_history(str(p)).ops
    xs = [o for o in ops if o.key == "x"]
    assert len(xs) >= 2 and all(o.key is xs[0].key for o in xs)
    reads = [o for o in ops if o.f == "read"]
    assert all(o.f is reads[0].f for o in reads)


@pytest.mark.parametrize("bad, needle", [
    # (a bad line followed by another: a torn LAST line alone is ignored and counted)
    ('{"index": 1, "process": 0, "type": "invoke", "f": "read"}\n\n{oops\n{}\n',
     ":3: not valid JSON"),
    ('{"index": 1, "process": 0, "type": "invoke", "f": "read"}\n\n'
     '{"index": 1, "process": 1, "type": "invoke", "f": "read"}\n', ":3: index 1 is not greater"),
    ('\n{"index": 1, "process": 0, "type": "invoke", "f": "read", "time": "x"}\n',
     ":2: time must be a number"),
    ('{"index": 1, "process": 0, "type": "invoke", "f": "read"}\n'
     '{"index": 2, "process": 0, "type": "invoke", "f": "read"}\n',
     ":2: process 0 invokes again while its invocation at line 1"),
    ('{"index": 1, "process": 0, "type": "ok", "f": "read"}\n', ":1: ok completion of 'read'"),
    ('{"index": 1, "process": 0, "type": "invoke", "f": "read"}\n'
     '{"index": 2, "process": 0, "type": "ok", "f": "write"}\n', ":2: completion f='write'"),
])
def test_fast_path_errors_name_the_line(tmp_path, bad, needle):
    p = tmp_path / "sb-bad.jsonl"
    p.write_text(bad)
    with pytest.raises(InputError) as e:
        read_history(str(p))
    assert f"{p}{needle}" in str(e.value)


def test_freeze_flat_and_nested_agree():
    assert freeze([1, "a", None, 2.5, True]) == (1, "a", None, 2.5, True)
    assert freeze([1, [2, [3]], {"b": [4], "a": 1}]) == (1, (2, (3,)), (("a", 1), ("b", (4,))))
