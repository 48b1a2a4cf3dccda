"""Issue 15 items 7 and 9: malformed shapes stop at the history boundary (254, one
sentence naming file and line), and the torn last line of a cut history is ignored."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import MAX_DEPTH, history_from_events, read_history

INV = {"index": 0, "process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1,
       "time": 10}
OK = {"index": 1, "process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 20}


class _Deep(list):
    """A value nested n lists deep, serialised by _dump without recursion."""

    def __init__(self, n):
        super().__init__()
        self.n = n
        v = 1
        for _ in range(n):
            v = [v]
        self.append(v)  # self is one more level


def _deep(n):
    return _Deep(n - 1)


def _dump(ev):
    deep = {k: v for k, v in ev.items() if isinstance(v, _Deep)}
    nested = {k: v for k, v in ev.items() if isinstance(v, dict) and
              any(isinstance(x, _Deep) for x in v.values())}
    plain = {k: ("@@%s@@" % k if k in deep or k in nested else v) for k, v in ev.items()}
    s = json.dumps(plain)
    for k, v in deep.items():
        s = s.replace('"@@%s@@"' % k, "[" * (v.n + 1) + "1" + "]" * (v.n + 1))
    for k, v in nested.items():
        inner = ",".join('"%s": %s' % (kk, "[" * (vv.n + 1) + "1" + "]" * (vv.n + 1))
                         for kk, vv in v.items())
        s = s.replace('"@@%s@@"' % k, "{" + inner + "}")
    return s


def _write(path, lines):
    path.write_text("".join((l if isinstance(l, str) else _dump(l)) + "\n" for l in lines))
    return str(path)


@pytest.mark.parametrize("bad, needle", [
    (dict(INV, op_id=[1, 2]), "op_id must be an integer or a string"),
    (dict(INV, op_id={"a": 1}), "op_id must be an integer or a string"),
    (dict(INV, value=_deep(1000)), "nested more than"),
    (dict(INV, value={"a": _deep(MAX_DEPTH + 1)}), "nested more than"),
    (dict(INV, trace=_deep(500)), "trace is nested"),
    ((INV, dict(OK, error=_deep(500))), "error is nested"),
])
def test_bad_shapes_are_input_errors_naming_the_line(tmp_path, bad, needle):
    evs = list(bad) if isinstance(bad, tuple) else [bad, OK]
    p = _write(tmp_path / "h.jsonl", evs)
    with pytest.raises(InputError) as e:
        read_history(p)
    msg = str(e.value)
    assert needle in msg and (f"{p}:1" in msg or (f"{p}:2" in msg and "line 1" in msg))
    assert len(str(e.value)) < 400  # a bounded sentence, not the value
    with pytest.raises(InputError, match=needle.split()[0]):
        history_from_events(evs)


def test_completion_before_invocation_is_input_error(tmp_path):
    p = _write(tmp_path / "h.jsonl", [INV, dict(OK, time=5)])
    with pytest.raises(InputError, match=r":2: completion time 5 is before"):
        read_history(p)


def test_shallow_structures_still_accepted(tmp_path):
    ok = [dict(INV, value=_deep(MAX_DEPTH - 1), op_id="a"), dict(OK, op_id="a", value=None)]
    h = read_history(_write(tmp_path / "h.jsonl", ok))
    assert len(h.ops) == 1


def test_torn_final_line_ignored_and_counted(tmp_path, caplog):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(INV) + "\n" + json.dumps(OK) + "\n" + '{"index": 2, "proc')
    h = read_history(str(p))
    assert len(h.ops) == 1 and h.meta["torn_lines"] == 1 and h.meta["torn_final_line"] == 3
    assert "torn last line" in caplog.text


def test_torn_line_before_the_end_is_still_an_error(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(INV) + "\n" + '{"index": 2, "proc' + "\n\n" + json.dumps(OK) + "\n")
    with pytest.raises(InputError, match=r":2: not valid JSON"):
        read_history(str(p))


def _check(path, *args):
    return subprocess.run([sys.executable, "-m", "splitbrain", "check", str(path), *args],
                          capture_output=True, text=True, timeout=60)


def test_check_cli_torn_last_line_warns_and_checks(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(INV) + "\n" + json.dumps(OK) + "\n" + '{"index": 2, "pro')
    r = _check(p)
    assert r.returncode in (0, 2), r.stderr
    assert "torn" in r.stderr and "ignored" in r.stderr


@pytest.mark.parametrize("body", [
    '[{:type :invoke, :f :write, :process 0, :value ' + "[" * 1000 + "1" + "]" * 1000 + "}]",
    '{:type :invoke, :f :write, :process 0, :value ' + "[" * 200 + "1" + "]" * 200 + "}\n",
    '[{:type :invoke, :f :write, :process 0, :value {[1 2] 3}} '
    '{:type :ok, :f :write, :process 0, :value {[1 2] 3}}]',
])
def test_edn_deep_or_odd_values_exit_254_or_check(tmp_path, body):
    p = tmp_path / "h.edn"
    p.write_text(body)
    r = _check(p)
    assert r.returncode in (0, 1, 2, 254), r.stderr
    assert "Traceback" not in r.stderr and "checker error" not in r.stdout


@pytest.mark.parametrize("extra", [
    {"op_id": [1]}, {"value": _deep(1000)},
])
def test_check_cli_bad_shapes_exit_254(tmp_path, extra):
    p = _write(tmp_path / "h.jsonl", [dict(INV, **extra), OK])
    r = _check(p, "--report", str(tmp_path / "rep"))
    assert r.returncode == 254, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr


def test_check_cli_completion_before_invocation_with_report_exits_254(tmp_path):
    p = _write(tmp_path / "h.jsonl", [INV, dict(OK, time=1)])
    r = _check(p, "--report", str(tmp_path / "rep"))
    assert r.returncode == 254 and "before its invocation" in r.stderr


_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
                     lambda c: st.one_of(st.lists(c, max_size=3),
                                         st.dictionaries(st.text(max_size=2), c, max_size=3)),
                     max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=2), _JSON, max_size=3), st.integers(1, 4))
def test_poll_value_fast_path_agrees_with_the_depth_walk(value, limit):
    """history._polled (the queue poll shape's C-level check) only ever accepts values
    the iterative walk finds within three levels, so _shallow's verdict is unchanged."""
    from splitbrain.harness.history import _depth_over, _polled

    if _polled(value):
        assert not _depth_over(value, 3)
    poll = {"1": [[0, 5], ["1700-1", None]], "2": []}
    assert _polled(poll) and not _polled({"1": [[0, [5]]]}) and not _polled({"1": [(0, 5)]})
