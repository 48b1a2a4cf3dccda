"""History model: pairing, info semantics, sessions, bad input, Jepsen EDN import."""

import glob
import json
import math
import os

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import (HistoryWriter, history_from_events, read_history, write_jsonl)
from tests.conftest import PEER_HISTORIES


def ev(index, process, type, f, key="x", value=None, time=None, **kw):
    d = {"index": index, "process": process, "type": type, "f": f, "key": key, "value": value,
         "time": index * 10 if time is None else time}
    d.update(kw)
    return d


def test_pairing_ok_fail_info_and_pending():
    h = history_from_events([
        ev(0, 0, "invoke", "write", value=1),
        ev(1, 1, "invoke", "read"),
        ev(2, 0, "ok", "write", value=1, version=1),
        ev(3, 1, "ok", "read", value=1, version=1, node="n2"),
        ev(4, 2, "invoke", "write", value=2),
        ev(5, 2, "info", "write", value=2, error="timeout"),
        ev(6, 3, "invoke", "write", value=3),
        ev(7, 3, "fail", "write", value=3),
        ev(8, 4, "invoke", "write", value=4),  # never completes
    ])
    by = {o.inv_index: o for o in h.ops}
    assert [o.inv_index for o in h.ops] == [0, 1, 4, 6, 8]
    w, r, info, fail, pend = by[0], by[1], by[4], by[6], by[8]
    assert (w.type, w.index, w.ret_index, w.version) == ("ok", 2, 2, 1)
    assert (r.value, r.node, r.t_inv, r.t_ret) == (1, "n2", 10, 30)
    assert info.type == "info" and math.isinf(info.ret_index) and math.isinf(info.t_ret)
    assert info.t_ret_seen == 50 and info.error == "timeout"
    assert fail.type == "fail" and fail.value == 3
    assert pend.type == "info" and pend.index == 8 and math.isinf(pend.t_ret)
    assert h.stats() == {"ops": 5, "ok": 2, "fail": 1, "info": 2, "nemesis": 0}


def test_info_read_carries_no_value_and_session_epoch_after_info():
    h = history_from_events([
        ev(0, 0, "invoke", "read"),
        ev(1, 0, "info", "read", value=None),
        ev(2, 0, "invoke", "read"),  # process reused after info: a new session epoch (P6)
        ev(3, 0, "ok", "read", value=5),
    ])
    assert h.ops[0].value is None and h.ops[0].session == (0, 0)
    assert h.ops[1].session == (0, 1) and h.ops[1].value == 5


def test_nemesis_events_kept_apart_and_extra_fields_preserved():
    h = history_from_events([
        {"index": 0, "time": 0, "process": "nemesis", "type": "info", "f": "start-partition",
         "value": {"n1": ["n2"]}},
        ev(1, 0, "invoke", "write", value=1, trace="abc"),
        ev(2, 0, "ok", "write", value=1),
    ])
    assert len(h.nemesis) == 1 and h.nemesis[0]["f"] == "start-partition"
    assert h.ops[0].extra == {"trace": "abc"}


@pytest.mark.parametrize("lines, needle", [
    # a torn line is an error when anything follows it (a torn LAST line is ignored:
    # tests/harness/test_history_hardening.py)
    (['{"index":0,"process":0,"type":"invoke","f":"read"',
      '{"index":1,"process":0,"type":"invoke","f":"read"}'], "not valid JSON"),
    (['{"process":0,"type":"invoke","f":"read","time":0}'], "missing required field 'index'"),
    (['{"index":0,"process":0,"type":"begin","f":"read","time":0}'], "unknown type 'begin'"),
    (['{"index":0,"process":0,"type":"ok","f":"read","time":0}'], "has no matching invocation"),
    (['{"index":1,"process":0,"type":"invoke","f":"read","time":0}',
      '{"index":1,"process":1,"type":"invoke","f":"read","time":0}'], "not greater than"),
    (['{"index":0,"process":0,"type":"invoke","f":"read","time":0}',
      '{"index":1,"process":0,"type":"invoke","f":"read","time":0}'], "invokes again"),
    (['[1,2,3]'], "expected a JSON object"),
    (['{"index":0,"process":0,"type":"invoke","f":"read","time":"soon"}'], "time must be"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, lines, needle):
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(['{"index":-5,"process":9,"type":"invoke","f":"read","time":0}',
                            '{"index":-4,"process":9,"type":"ok","f":"read","value":null,"time":0}']
                           + lines) + "\n")
    with pytest.raises(InputError) as e:
        read_history(str(p))
    msg = str(e.value)
    assert needle in msg
    assert f"{p}:" in msg and ":3" in msg or ":4" in msg


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_history(str(tmp_path / "nope.jsonl"))
    d = tmp_path / "dir"
    d.mkdir()
    with pytest.raises(InputError, match="no history.jsonl"):
        read_history(str(d))


def test_writer_roundtrip_and_flush_per_line(tmp_path):
    p = tmp_path / "h.jsonl"
    clock = iter(range(100, 10_000, 7))
    w = HistoryWriter(p, time_fn=lambda: next(clock))
    w.append({"process": 0, "type": "invoke", "f": "write", "key": "k", "value": 1})
    # readable before close: the line is flushed
    assert json.loads(p.read_text().splitlines()[0])["index"] == 0
    w.append({"process": 0, "type": "ok", "f": "write", "key": "k", "value": 1})
    w.close()
    h = read_history(str(p))
    assert h.ops[0].t_inv == 100 and h.ops[0].t_ret == 107


def test_knossos_peer_histories_all_import():
    files = sorted(glob.glob(os.path.join(PEER_HISTORIES, "knossos", "**", "*.edn"), recursive=True))
    if not files:
        pytest.skip("shared peer histories not present")
    for f in files:
        h = read_history(f)
        assert h.events > 0, f
    h = read_history(os.path.join(PEER_HISTORIES, "knossos", "cas-register", "bad", "cas-failure.edn"))
    assert {o.f for o in h.ops} <= {"read", "write", "cas"}
    ok_reads = [o for o in h.ops if o.f == "read" and o.type == "ok"]
    assert ok_reads and all(o.key is None for o in ok_reads)


def test_edn_independent_tuples_txn_and_nemesis(tmp_path):
    p = tmp_path / "history.edn"
    p.write_text(
        '{:type :invoke, :f :write, :value [3 7], :process 0, :time 1, :index 0}\n'
        '{:type :ok, :f :write, :value [3 7], :process 0, :time 2, :index 1}\n'
        '{:type :info, :f :start, :value nil, :process :nemesis, :time 3, :index 2}\n'
        '{:type :invoke, :f :read, :value [3 nil], :process 1, :time 4, :index 3}\n'
        '{:type :ok, :f :read, :value [3 7], :process 1, :time 5, :index 4}\n')
    h = read_history(str(p))
    assert [(o.f, o.key, o.value) for o in h.ops] == [("write", 3, 7), ("read", 3, 7)]
    assert h.nemesis[0]["f"] == "start" and h.meta["independent"]
    q = tmp_path / "txn.edn"
    q.write_text('[{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0}\n'
                 ' {:type :ok, :f :txn, :value [[:append :x 1]], :process 0}\n'
                 ' {:type :invoke, :f :txn, :value [[:r :x nil]], :process 1}\n'
                 ' {:type :ok, :f :txn, :value [[:r :x [1]]], :process 1}]')
    h = read_history(str(q))  # one-micro-op txns stay txns (transactions.md §1.4, amended)
    assert [(o.f, o.value) for o in h.ops] == [("txn", (("append", "x", 1),)),
                                               ("txn", (("r", "x", (1,)),))]


def test_bad_edn_is_input_error(tmp_path):
    p = tmp_path / "bad.edn"
    p.write_text('{:type :invoke, :f :read :process 0}\n{:type :ok, :f\n')
    with pytest.raises(InputError, match="bad.edn:2"):
        read_history(str(p))


def test_an_event_appended_after_close_is_counted_not_raised(tmp_path):
    p = tmp_path / "h.jsonl"
    w = HistoryWriter(p)
    w.append({"process": 0, "type": "invoke", "f": "read", "key": 1, "value": None})
    w.close()
    w.append({"process": "nemesis", "type": "info", "f": "stop-partition", "value": None})
    assert w.dropped == 1 and w.count == 1
    assert len(p.read_text().splitlines()) == 1


def test_register_reads_of_lists_nobody_wrote_are_refused_as_input(tmp_path):
    """Jepsen's causal-reverse histories (`write` a number into a table, `read` the table
    as a list) were judged as a register's: every read "a value no operation ever
    wrote", INVALID on a valid history. A register whose writes are all scalars cannot
    return a list: the history is refused, naming the read; a register that was written
    lists (or a cas to one) is a register whose values are lists, checked as before; so is
    a JSONL history (splitbrain's own registers: a list read there is a garbage read)."""
    from splitbrain.harness.history import check_value_shapes

    def edn(x):
        if isinstance(x, dict):
            return "{" + " ".join(f":{k} {edn(v)}" for k, v in x.items()) + "}"
        if isinstance(x, list):
            return "[" + " ".join(map(edn, x)) + "]"
        return "nil" if x is None else str(x)

    def h(write_value, read_value, f="write"):
        p = tmp_path / f"h{len(list(tmp_path.iterdir()))}.edn"
        p.write_text("".join(
            f"{{:index {i}, :process 0, :type :{t}, :f :{g}, :value {edn(v)}}}\n"
            for i, (t, g, v) in enumerate([("invoke", f, write_value), ("ok", f, write_value),
                                           ("invoke", "read", None), ("ok", "read", read_value)])))
        return read_history(str(p))

    with pytest.raises(InputError, match=r"op 3 .*no op wrote a list or map"):
        check_value_shapes(h(1, [1]), "register")
    with pytest.raises(InputError, match="no op wrote a list or map"):
        check_value_shapes(h(1, {"a": 1}), "register")
    check_value_shapes(h([1], [1]), "register")
    check_value_shapes(h([None, [1]], [1], f="cas"), "register")
    check_value_shapes(h(1, 1), "register")
    jsonl = history_from_events([
        {"index": 0, "process": 0, "type": "invoke", "f": "write", "value": 1},
        {"index": 1, "process": 0, "type": "ok", "f": "write", "value": 1},
        {"index": 2, "process": 0, "type": "invoke", "f": "read", "value": None},
        {"index": 3, "process": 0, "type": "ok", "f": "read", "value": [1]}])
    check_value_shapes(jsonl, "register")
