"""`splitbrain check` end to end through `harness.cli.main`: exit codes and messages.

Exit-code contract (architecture §6): 0 valid · 1 invalid · 2 unknown · 254 malformed input
or bad arguments (a message naming file and line, never a traceback) · 255 internal error.
"""

from __future__ import annotations

import glob
import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.harness.cli import main
from tests.conftest import PEER_HISTORIES

S = 1_000_000_000


def ev(i, p, typ, f, value=None, t=0, key="x", **kw):
    d = {"index": i, "process": p, "type": typ, "f": f, "key": key, "value": value, "time": t}
    d.update(kw)
    return d


def fr(i, p, typ, value, t, node):
    return ev(i, p, typ, "read", value, t, node=node, final=True)


def converging(v12="b"):
    """checker-spec §6(f): valid as is; never converges when op 12 returns "a"."""
    return [
        ev(0, 0, "invoke", "write", "a", 1 * S), ev(1, 0, "ok", "write", "a", int(1.1 * S)),
        ev(2, 1, "invoke", "write", "b", 2 * S), ev(3, 1, "ok", "write", "b", int(2.1 * S)),
        {"index": 4, "process": "nemesis", "type": "info", "f": "heal", "value": None, "time": 10 * S},
        fr(5, 2, "invoke", None, 11 * S, "n1"), fr(6, 2, "ok", "b", int(11.1 * S), "n1"),
        fr(7, 3, "invoke", None, 11 * S, "n2"), fr(8, 3, "ok", "a", int(11.1 * S), "n2"),
        fr(9, 2, "invoke", None, 12 * S, "n1"), fr(10, 2, "ok", "b", int(12.1 * S), "n1"),
        fr(11, 3, "invoke", None, 12 * S, "n2"), fr(12, 3, "ok", v12, int(12.1 * S), "n2"),
    ]


def write_lines(path, lines):
    with open(path, "w") as fh:
        for ln in lines:
            fh.write((ln if isinstance(ln, str) else json.dumps(ln)) + "\n")
    return str(path)


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(["check", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return e.value.code, out, err


# --- valid / invalid / unknown ---------------------------------------------------------------


def test_valid_spec_example_exits_0(tmp_path, capsys):
    code, out, _ = cli(capsys, write_lines(tmp_path / "h.jsonl", converging()))
    assert code == 0, out


def test_invalid_spec_example_exits_1(tmp_path, capsys):
    code, out, _ = cli(capsys, write_lines(tmp_path / "h.jsonl", converging(v12="a")))
    assert code == 1 and "INVALID" in out


def test_duplicate_values_exit_2_with_reason(tmp_path, capsys):
    h = converging()
    h[2]["value"] = h[3]["value"] = "a"  # two writes of "a"
    for r in (6, 10, 12):
        h[r]["value"] = "a"
    code, out, _ = cli(capsys, write_lines(tmp_path / "h.jsonl", h), "-q", "--out",
                       tmp_path / "r.json")
    assert code == 2
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["valid"] == "unknown"
    assert "not unique" in res["checkers"]["integrity"]["reason"]


def test_out_matches_results_contract(tmp_path, capsys):
    out_path = tmp_path / "sub" / "results.json"
    code, _, _ = cli(capsys, write_lines(tmp_path / "h.jsonl", converging(v12="a")), "-q",
                     "--out", out_path)
    res = json.loads(out_path.read_text())
    assert code == 1 and res["valid"] is False
    assert set(res["stats"]) >= {"ops", "ok", "fail", "info"} and res["stats"]["ops"] == 6
    conv = res["checkers"]["convergence"]
    assert conv["valid"] is False and conv["anomaly_count"] == 1
    a = conv["anomalies"][0]
    assert a["type"] == "diverged" and a["ops"] == [10, 12] and a["key"] == "x"
    assert isinstance(a["explanation"], str) and a["explanation"]
    for name, c in res["checkers"].items():
        assert c["valid"] in (True, False, "unknown"), name
        assert isinstance(c["anomaly_count"], int) and isinstance(c["anomalies"], list)
        assert isinstance(c["stats"], dict)
    assert "staleness" in res["checkers"]


def test_staleness_bound_and_checkers_flags(tmp_path, capsys):
    h = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", int(0.1 * S), version=1),
         ev(2, 0, "invoke", "write", "b", int(0.9 * S)), ev(3, 0, "ok", "write", "b", S, version=2),
         ev(4, 1, "invoke", "read", None, int(2.5 * S)), ev(5, 1, "ok", "read", "a", int(2.6 * S), version=1)]
    p = write_lines(tmp_path / "h.jsonl", h)
    assert cli(capsys, p, "--checkers", "staleness")[0] == 0
    code, _, _ = cli(capsys, p, "--checkers", "staleness", "--staleness-bound", "1s", "-q",
                     "--out", tmp_path / "r.json")
    assert code == 1
    st = json.loads((tmp_path / "r.json").read_text())["checkers"]["staleness"]
    assert st["anomalies"][0]["ops"] == [5, 1, 3] and st["stats"]["max_ms"] == 1500.0


# --- malformed input: 254, message names file and line ------------------------------------------


GOOD = [ev(0, 0, "invoke", "write", "a", 0), ev(1, 0, "ok", "write", "a", 1)]


@pytest.mark.parametrize("lines,needle", [
    # a bad line before the end (a torn last line alone is ignored with a warning)
    ([GOOD[0], '{"index": 1, "process": 0, "type": "ok", ', GOOD[1]], "not valid JSON"),
    ([GOOD[0], {"index": 1, "process": 0, "type": "ok"}], "missing required field 'f'"),
    ([GOOD[0], dict(GOOD[1], type="done")], "unknown type 'done'"),
    ([GOOD[1]], "has no matching invocation"),
])
def test_malformed_history_exits_254_naming_file_and_line(tmp_path, capsys, lines, needle):
    p = write_lines(tmp_path / "bad.jsonl", lines)
    code, _, err = cli(capsys, p)
    assert code == 254
    assert needle in err
    line = 2 if needle == "not valid JSON" else len(lines)
    assert f"{p}:{line}" in err


def test_unreadable_file_exits_254(tmp_path, capsys):
    code, _, err = cli(capsys, tmp_path / "missing.jsonl")
    assert code == 254 and "missing.jsonl" in err
    d = tmp_path / "dir"
    d.mkdir()
    code, _, err = cli(capsys, d)
    assert code == 254 and "history.jsonl" in err
    if os.geteuid() != 0:  # root reads anything; the permission case is for everyone else
        p = write_lines(tmp_path / "locked.jsonl", GOOD)
        os.chmod(p, 0)
        code, _, err = cli(capsys, p)
        assert code == 254 and "locked.jsonl" in err


def test_binary_garbage_exits_254(tmp_path, capsys):
    p = tmp_path / "bin.jsonl"
    p.write_bytes(b"\xff\xfe\x00garbage\n")
    code, _, err = cli(capsys, p)
    assert code == 254 and f"{p}:1" in err


@pytest.mark.parametrize("argv,needle", [
    (["--staleness-bound", "fast"], "--staleness-bound"),
    (["--staleness-bound", "1.5v"], "whole number"),
    (["--checkers", "linearizability-magic"], "unknown checker"),
    (["--workload", "nosuch"], "nosuch"),
])
def test_bad_flags_exit_254(tmp_path, capsys, argv, needle):
    p = write_lines(tmp_path / "h.jsonl", GOOD)
    code, out, err = cli(capsys, p, *argv)
    assert code == 254 and needle in (err + out)


# --- Jepsen EDN ----------------------------------------------------------------------------------


def test_knossos_edn_histories_parse_and_check(capsys):
    files = sorted(glob.glob(os.path.join(PEER_HISTORIES, "knossos", "*", "*", "*.edn")))
    if not files:
        pytest.skip("no peer histories in this checkout")
    # every bad history, the multi-register and mutex ones, and a sample of the good ones
    chosen = [f for f in files if "/bad/" in f or "memstress" not in f] + \
             [f for f in files if "memstress" in f][:5]
    for f in chosen:
        code, out, err = cli(capsys, f, "-q")
        assert code in (0, 1, 2), (f, err)


# --- fuzz: any mutation gives a clean outcome ------------------------------------------------------


def _mutate(rnd: random.Random, lines: list[str]) -> list[str]:
    lines = list(lines)
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(lines))
        what = rnd.randrange(6)
        if what == 0 and len(lines) > 1:
            del lines[i]
        elif what == 1:
            lines.insert(i, lines[i])
        elif what == 2:
            cut = rnd.randrange(max(1, len(lines[i])))
            lines[i] = lines[i][:cut] + rnd.choice(["", "}", "\x00", "é", "]", ",", "{"])
        else:
            try:
                obj = json.loads(lines[i])
            except ValueError:
                continue
            field = rnd.choice(["index", "process", "type", "f", "key", "value", "time",
                                "version", "node", "final", "extra"])
            obj[field] = rnd.choice([None, -1, 0, 7, 2**70, 1.5, True, "ok", "info", "read",
                                     "write", "nemesis", [], [1, 2], {"a": 1}, "x", ["a", "b"]])
            if rnd.random() < 0.2:
                obj.pop(field, None)
            lines[i] = json.dumps(obj)
    return lines


BASES = [converging(), converging(v12="a"),
         [ev(0, 0, "invoke", "add", 1, 0, "s"), ev(1, 0, "ok", "add", 1, 1, "s"),
          ev(2, 1, "invoke", "read", None, 2, "s", final=True),
          ev(3, 1, "ok", "read", [1], 3, "s", final=True)],
         [ev(0, 0, "invoke", "append", 1, 0), ev(1, 0, "ok", "append", 1, 1),
          ev(2, 1, "invoke", "cas", ["a", "b"], 2), ev(3, 1, "ok", "cas", ["a", "b"], 3),
          ev(4, 2, "invoke", "read", None, 4, final=True, node="n1"),
          ev(5, 2, "ok", "read", [1], 5, final=True, node="n1")]]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**31), st.integers(0, len(BASES) - 1))
def test_fuzzed_histories_exit_cleanly(tmp_path, capsys, seed, base):
    rnd = random.Random(seed)
    lines = _mutate(rnd, [json.dumps(e) for e in BASES[base]])
    p = tmp_path / f"f{seed}.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    code, out, err = cli(capsys, p, "-q", "--out", tmp_path / f"r{seed}.json")
    assert code in (0, 1, 2, 254), (code, lines, err)
    if code == 254:
        assert str(p) in err
    else:
        res = json.loads((tmp_path / f"r{seed}.json").read_text())
        for name, c in res["checkers"].items():  # a checker crash surfaces as unknown
            assert "checker error" not in (c.get("reason") or ""), (name, c["reason"], lines)


def test_a_history_of_ops_no_checker_understands_is_an_input_error(capsys, tmp_path):
    odd = tmp_path / "odd.edn"
    odd.write_text("{:type :invoke, :f :read, :process 0, :index 0}\n"
                   "{:type :ok, :f :read, :value 1, :process 0, :index 1}\n"
                   "{:type :invoke, :f :frobnicate, :value 2, :process 1, :index 2}\n"
                   "{:type :ok, :f :frobnicate, :value 2, :process 1, :index 3}\n")
    code, out, err = cli(capsys, str(odd))
    assert code == 254 and "op 3 (process 1) is a 'frobnicate'" in err, err
    # a bank's transfers are read by the bank checker, and by nothing else
    bank = os.path.join(os.path.dirname(__file__), "data", "peers", "bank-mini.edn")
    code, out, err = cli(capsys, bank, "--workload", "set")
    assert code == 254 and "'transfer'" in err and "set checkers" in err, err


@pytest.mark.parametrize("value", [7, None, ["a"], ["a", "b", "c"], {"a": 1}])
def test_a_cas_that_is_not_a_pair_is_an_input_error(capsys, tmp_path, value):
    """(A fuzzed history, seed 2860 of the test above: the linearizable checker raised on
    it and the verdict was unknown with a "checker error"; it is malformed input.)"""
    events = [ev(0, 0, "invoke", "write", 1, 0), ev(1, 0, "ok", "write", 1, 1),
              ev(2, 1, "invoke", "cas", value, 2), ev(3, 1, "ok", "cas", value, 3),
              ev(4, 2, "invoke", "read", None, 4), ev(5, 2, "ok", "read", 1, 5)]
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    code, out, err = cli(capsys, p, "--workload", "cas-register")
    assert code == 254, (code, out, err)
    assert str(p) in err and "op 3" in err and "[expected, new]" in err, err


def _queue_events(send_value, message):
    return [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "send", "key": "a",
             "value": send_value},
            {"index": 1, "time": 1, "process": 0, "type": "ok", "f": "send", "key": "a",
             "value": send_value, "extra": {"offset": 0}},
            {"index": 2, "time": 2, "process": 1, "type": "invoke", "f": "poll"},
            {"index": 3, "time": 3, "process": 1, "type": "ok", "f": "poll",
             "value": {"a": message}}]


@pytest.mark.parametrize("send_value,message,op", [
    ([1, 2], [[0, [1, 2]]], "op 1"),          # a list as a message value (was a TypeError)
    (1, [[0, {"x": 1}]], "op 3"),              # an object as a polled message value
    (1, "zz", "op 3"),                         # a poll's messages not a list
])
def test_a_malformed_queue_op_is_an_input_error(capsys, tmp_path, send_value, message, op):
    """The queue checker finds these while it reads the ops: `splitbrain check` says so
    with exit 254 naming file and op (it said unknown: "checker error"); the library call
    keeps the unknown verdict with the reason."""
    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import read_history

    p = tmp_path / "q.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in _queue_events(send_value, message)) + "\n")
    code, out, err = cli(capsys, p)
    assert code == 254, (code, out, err)
    assert str(p) in err and op in err and "Traceback" not in err, err
    res = run_checks(read_history(str(p)), CheckOptions(workload="queue"))
    assert res["valid"] == "unknown"
    assert res["checkers"]["queue"]["reason"].startswith("checker error: InputError: ")
    # several files at once: that file is an error, the others are judged
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(e) for e in _queue_events(1, [[0, 1]])) + "\n")
    out_json = tmp_path / "batch.json"
    code, out, err = cli(capsys, p, good, "-q", "--out", out_json)
    got = json.loads(out_json.read_text())["histories"]
    assert got[str(p)]["valid"] == "error" and op in got[str(p)]["error"]
    assert got[str(good)]["valid"] is not None and got[str(good)]["valid"] != "error"


def test_a_checker_option_error_is_exit_254(capsys, tmp_path):
    """A flag a checker reads and refuses (here --lin-model) was an unknown verdict with a
    "checker error"; bad flags say what is allowed, with exit 254."""
    events = [ev(0, 0, "invoke", "write", 1, 0), ev(1, 0, "ok", "write", 1, 1),
              ev(2, 1, "invoke", "cas", [1, 2], 2), ev(3, 1, "ok", "cas", [1, 2], 3)]
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    code, out, err = cli(capsys, p, "--lin-model", "register")
    assert code == 254, (code, out, err)
    assert "cas" in err and "--lin-model" in err, err
