"""Other projects' unit-test histories, transcribed as data, with the verdict the project
proves for each (see tests/checkers/data/upstream-unit/README.md):

* Elle's list_append_test.clj / rw_register_test.clj cases not in fixtures/elle/*.json
  (fixtures/elle/*_unit.json, same notation as test_transactions_elle.py);
* Knossos' linear_test / wgl_test / core_test, Porcupine's porcupine_test.go register,
  zero-duration and set models, Jepsen's checker_test queue cases,
  tests/monotonic_cycle_test and causal_reverse_test, Elle's core_test monotonic-key
  histories (data/upstream-unit/cases.json), Jepsen's long fork (long-fork*.edn);
* Porcupine's kv logs c01-ok / c01-bad (data/porcupine-kv/, byte for byte);
* Maelstrom's pn-counter checker test (cases.json), Elle's consistency_model_test
  (elle-consistency-models.json) and closed_predicate_test (elle-closed-predicate.json),
  jepsen-causal-consistency's gset checker test (causal-gset.json).

Each case pins splitbrain's verdict; where it is not upstream's, the case says why
(`mapping`): a semantics that differs (registers start absent, not at 0) or an `unknown`
with its reason. Never the opposite verdict.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from splitbrain.checkers import infer_workload, input_error, run_checks, shape_of
from splitbrain.checkers.linearizable import LinearizableOptions, check_linearizable
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.transactions import check as check_txns
from splitbrain.harness.errors import InputError
from splitbrain.harness.history import check_value_shapes, history_from_events, read_history
from tests.checkers.txn_notation import history as notation_history

HERE = os.path.dirname(__file__)
ELLE = os.path.join(HERE, "fixtures", "elle")
DATA = os.path.join(HERE, "data", "upstream-unit")
KV = os.path.join(HERE, "data", "porcupine-kv")
KNOSSOS = os.path.join(HERE, "data", "knossos")
OPPOSITE = {True: False, False: True}


def _load(path):
    with open(path) as fh:
        return json.load(fh)


def _events(rows):
    out = []
    for i, e in enumerate(rows):
        e = dict(e)
        e.setdefault("index", i)
        e.setdefault("time", i * 1000)
        out.append(e)
    return out


def _refused(h) -> str:
    """The input error `splitbrain check` exits 254 with (a checker found the history
    malformed where it looked, or its ops are outside the workload's vocabulary), or ""."""
    try:
        check_value_shapes(h, shape_of(infer_workload(h)))  # as harness/commands/check.py
    except InputError as e:
        return str(e)
    return input_error(run_checks(h, CheckOptions())) or ""


def _upstream_valid(s: str):
    s = s.split(" ")[0]
    return {"valid": True, "invalid": False}.get(s, "unknown")


# -- Elle: transactions -------------------------------------------------------------------


def _txn(case, kind):
    if "events" in case:
        h = history_from_events(_events(case["events"]))
    else:
        h = notation_history(case["spec"], kind, case.get("layout", "completion"),
                             case.get("processes"), case.get("versions"))
    opts = CheckOptions(workload=case.get("workload"),
                        consistency_models=tuple(case.get("models", ())),
                        txn_anomalies=tuple(case.get("anomalies", ())),
                        txn_assume=tuple(case.get("assume", ())))
    r = check_txns(h, opts)["transactions"].to_json()
    for a in r["anomalies"] + r.get("notices", []):
        if "cycle" in a:  # every cycle's witness alone reproduces it
            assert a.get("witness_replay") == "confirmed", a
    return r


def _assert_txn(case, r):
    assert r["valid"] == case["valid"], r
    up = _upstream_valid(case["upstream"])
    if up in OPPOSITE:
        assert r["valid"] != OPPOSITE[up] or "mapping" in case, (case["name"], r)
    types = set(r["anomaly_types"])
    if "types" in case:
        assert r["anomaly_types"] == sorted(case["types"]), r
    assert set(case.get("has", ())) <= types, r
    assert not set(case.get("lacks", ())) & types, r
    if "not" in case:
        assert r["not"] == sorted(case["not"]), r
    if "reason_has" in case:
        assert case["reason_has"] in (r.get("reason") or ""), r


@pytest.mark.parametrize("case", _load(os.path.join(ELLE, "list_append_unit.json")),
                         ids=lambda c: c["name"])
def test_elle_list_append_unit_cases(case):
    if "input_error" in case:  # refused as input (exit 254), never judged
        with pytest.raises(InputError, match=case["input_error"]):
            _txn(case, "list-append")
        return
    _assert_txn(case, _txn(case, "list-append"))


@pytest.mark.parametrize("case", _load(os.path.join(ELLE, "rw_register_unit.json")),
                         ids=lambda c: c["name"])
def test_elle_rw_register_unit_cases(case):
    _assert_txn(case, _txn(case, "rw-register"))


def test_elle_version_order_test_cyclic_versions_edn():
    """rw_register_test.clj version-order-test: histories/cyclic-versions.edn (byte for
    byte) is valid to Elle under strong-snapshot-isolation with linearizable keys. It is
    an excerpt (its :index values jump 3 -> 962 -> ...): values 43, 45, 47, 51, 121, 129
    are read but their writes are not in the file. Elle draws no edge from a read whose
    writer is unknown. In a complete history such a read is a garbage read (D3 in
    fixtures/elle/rw_register.json), INVALID; in an excerpt the writes may be among the
    missing ops, so the garbage reads are notices and the verdict unknown (never valid:
    they are not judged; never INVALID: they are not proven)."""
    h = read_history(os.path.join(DATA, "elle-cyclic-versions.edn"))
    assert "jump from 3 to 962" in h.meta["excerpt"]
    opts = CheckOptions(consistency_models=("strong-snapshot-isolation",),
                        txn_assume=("linearizable-keys",))
    t = run_checks(h, opts)["checkers"]["transactions"]
    assert t["valid"] == "unknown" and t["anomaly_count"] == 0, t
    assert t["reason"].startswith("excerpt: the findings (garbage-read)"), t["reason"]
    read = {x for a in t["notices"] if a["type"] == "garbage-read"
            for x in [a["explanation"].split(" = ")[1].split(",")[0]]}
    assert read == {"43", "45", "47", "51", "121", "129"}


def test_excerpt_keeps_a_cycle_invalid_and_a_whole_history_judged(tmp_path):
    """What the excerpt rule changes, and only that: the same garbage read is INVALID in
    a history numbered without holes, and a G1c cycle between ops that ARE in an excerpt
    stays INVALID (the garbage read beside it becomes a notice)."""
    def edn(rows):
        return "\n".join("{:index %d, :type :%s, :process %d, :f :txn, :value %s}" % r
                          for r in rows) + "\n"
    garbage = [(0, "invoke", 0, "[[:w 1 1]]"), (1, "ok", 0, "[[:w 1 1]]"),
               (2, "invoke", 1, "[[:r 1 nil]]"), (3, "ok", 1, "[[:r 1 7]]")]
    whole = tmp_path / "whole.edn"
    whole.write_text(edn(garbage))
    h = read_history(str(whole))
    assert "excerpt" not in h.meta
    t = run_checks(h, CheckOptions())["checkers"]["transactions"]
    assert t["valid"] is False and t["anomaly_types"] == ["garbage-read"], t
    # G1c: T1 writes x=1 and reads y=2, T2 writes y=2 and reads x=1; plus a garbage read
    cyc = [(0, "invoke", 0, "[[:w 1 1] [:r 2 nil]]"), (1, "invoke", 1, "[[:w 2 2] [:r 1 nil]]"),
           (2, "ok", 0, "[[:w 1 1] [:r 2 2]]"), (3, "ok", 1, "[[:w 2 2] [:r 1 1]]"),
           (50, "invoke", 2, "[[:r 3 nil]]"), (51, "ok", 2, "[[:r 3 9]]")]
    part = tmp_path / "part.edn"
    part.write_text(edn(cyc))
    h = read_history(str(part))
    assert "jump from 3 to 50" in h.meta["excerpt"]
    t = run_checks(h, CheckOptions())["checkers"]["transactions"]
    assert t["valid"] is False, t
    assert "garbage-read" not in t["anomaly_types"] and any("G1c" in x for x in t["anomaly_types"]), t
    assert [a["type"] for a in t["notices"]].count("garbage-read") == 1, t["notices"]


# -- single-object histories: Knossos, Porcupine, Jepsen, Elle core -----------------------

CASES = _load(os.path.join(DATA, "cases.json"))


def _single(case):
    rows = case["events"]
    evs = []
    for i, row in enumerate(rows):
        p, t, f, v = row[:4]
        e = {"index": i, "time": i * 1000, "process": p, "type": t, "f": f, "value": v}
        if len(row) > 4:
            e.update(row[4])
        evs.append(e)
    h = history_from_events(evs)
    h.meta["format"] = "edn"  # Jepsen/Knossos/Porcupine histories: what read_edn records
    return h


@pytest.mark.parametrize("case", [c for c in CASES if "lin" in c], ids=lambda c: c["name"])
def test_linearizable_verdicts(case):
    """The linearizable checker, under the upstream model's semantics (`lin`: model,
    initial value, profile), gives exactly the upstream verdict."""
    r = check_linearizable(_single(case), LinearizableOptions(**case["lin"]))
    assert r.valid == _upstream_valid(case["upstream"]), (r.valid, r.reason)
    if "stuck_op" in case:
        d = r.anomalies[0].details
        assert d["stuck_op"] == case["stuck_op"] and d["previous_ok"] == case["previous_ok"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_default_checkers_never_contradict(case):
    """`splitbrain check`'s checkers, under splitbrain's own semantics: the pinned verdict,
    never the opposite of upstream's unless the case names the semantics that differ."""
    h = _single(case)
    if case.get("input_error"):
        assert case["input_error"] in _refused(h)
        if "mapped" in case:
            m = _single(dict(case, events=case["mapped"]))
            assert run_checks(m, CheckOptions())["valid"] == case["mapped_valid"]
        return
    res = run_checks(h, CheckOptions(workload=case.get("workload")))
    assert res["valid"] == case["valid"], {n: (c["valid"], c.get("reason"))
                                           for n, c in res["checkers"].items()}
    up = _upstream_valid(case["upstream"])
    if up in OPPOSITE and res["valid"] == OPPOSITE[up]:
        assert "mapping" in case and "SEMANTICS" in case["mapping"], case["name"]
    if "anomaly_types" in case:
        got = sorted({a["type"] for c in res["checkers"].values() for a in c["anomalies"]})
        assert got == sorted(case["anomaly_types"]), got
    if "mapped" in case:  # the history under splitbrain's semantics: upstream's verdict
        m = _single(dict(case, events=case["mapped"]))  # (initial 0 written first)
        assert run_checks(m, CheckOptions())["valid"] == case["mapped_valid"]
        if "lin" in case:
            lin = {k: v for k, v in case["lin"].items() if k != "initial"}
            assert check_linearizable(m, LinearizableOptions(**lin)).valid == up
            # and through `splitbrain check --workload cas-register`
            res = run_checks(m, CheckOptions(workload="cas-register"))
            assert res["checkers"]["linearizable"]["valid"] == up
            assert res["valid"] != OPPOSITE[up]


def _edn(case) -> str:
    def v(x):
        if x is None:
            return "nil"
        if isinstance(x, list):
            return "[" + " ".join(map(v, x)) + "]"
        return str(x)
    return "".join(f"{{:type :{t}, :f :{f}, :value {v(x)}, :process {p}, :index {i}}}\n"
                   for i, (p, t, f, x, *_) in enumerate(case["events"]))


@pytest.mark.parametrize("case", [c for c in CASES if c.get("edn")], ids=lambda c: c["name"])
def test_edn_imports(case, tmp_path):
    """Cases whose values only Jepsen's EDN form carries (bare queue elements)."""
    p = tmp_path / "history.edn"
    p.write_text(_edn(case))
    res = run_checks(read_history(str(p)), CheckOptions())
    assert res["valid"] == case["edn_valid"], res["checkers"]
    up = _upstream_valid(case["upstream"])
    assert up not in OPPOSITE or res["valid"] != OPPOSITE[up]


@pytest.mark.parametrize("name,op,prev", [("cas-register/bad/bad-analysis.edn", 14, 11),
                                           ("cas-register/bad/rethink-fail-smaller.edn", 217,
                                            183)])
def test_knossos_wgl_failing_ops(name, op, prev):
    """wgl_test.clj: bad-analysis-test (op index 14, previous ok 11) and
    rethink-fail-smaller-test (op index 217): the op the search cannot linearize."""
    r = check_linearizable(read_history(os.path.join(KNOSSOS, name)), LinearizableOptions())
    assert r.valid is False
    assert r.anomalies[0].details["stuck_op"] == op
    assert r.anomalies[0].details["previous_ok"] == prev


# -- Porcupine kv logs ------------------------------------------------------------------

_KV = re.compile(r'\{:process (\d+), :type :(\w+), :f :(\w+), :key "(.*)", :value (nil|"(.*)")\}')


def _kv_as_list_append(path):
    """Porcupine's kv model (per key a string; get, put, append of "x C N y" tokens) as
    splitbrain's list-append: an append adds its token, a get reads the token list. A
    put overwrites, which list-append has no op for: keys that are ever put are left
    out (c01-ok: 4 and 9; c01-bad: 1 and 2; the anomaly, key 7, is kept)."""
    rows = [_KV.fullmatch(line).groups() for line in open(path).read().splitlines()]
    put = {k for _, _, f, k, _, _ in rows if f == "put"}
    evs = []
    for p, t, f, k, _, v in rows:
        if k in put:
            continue
        value = v if f == "append" else (None if t == "invoke"
                                          else re.findall(r"x \d+ \d+ y", v))
        evs.append({"index": len(evs), "time": len(evs), "process": int(p), "type": t,
                    "f": "read" if f == "get" else f, "key": k, "value": value})
    return history_from_events(evs), put


@pytest.mark.parametrize("name,correct", [("c01-ok", True), ("c01-bad", False)])
def test_porcupine_kv_logs(name, correct):
    """porcupine_test.go TestKv1ClientOk / TestKv1ClientBad. As recorded (get/put/append
    of strings, a model splitbrain has not) `splitbrain check` refuses it (exit 254, the
    op named); translated to list-append, linearizable gives porcupine's verdict and the
    session checkers do not contradict it."""
    path = os.path.join(KV, f"{name}.txt")
    assert "is a 'get'" in _refused(read_history(path, fmt="edn"))
    h, put = _kv_as_list_append(path)
    assert len(put) == 2
    r = check_linearizable(h, LinearizableOptions(model="list-append"))
    assert r.valid is correct
    if not correct:
        assert {a.key for a in r.anomalies} == {"7"}
    res = run_checks(h, CheckOptions(workload="list-append"))
    assert res["valid"] is not (not correct), res["checkers"]
    if not correct:
        assert res["checkers"]["read-your-writes"]["valid"] is False


# -- Jepsen long fork (jepsen/test/jepsen/tests/long_fork_test.clj) ----------------------


def test_jepsen_long_fork():
    """long_fork_test.clj: r1 sees keys 0, 1 written and 2 not; r2 sees 2, 0 and not 1
    (Jepsen: invalid, one fork). As recorded (`:process` added: splitbrain pairs ops by
    it) the writes are not in the history, so every read of 1 is a garbage read:
    INVALID, for that reason. With the three writes added (concurrent with both reads)
    the fork itself is found: G-nonadjacent-item (two rw edges, not adjacent), which
    snapshot isolation forbids."""
    h = read_history(os.path.join(DATA, "long-fork.edn"))
    t = run_checks(h, CheckOptions())["checkers"]["transactions"]
    assert t["valid"] is False and "garbage-read" in t["anomaly_types"]
    h = read_history(os.path.join(DATA, "long-fork-with-writes.edn"))
    for models in ((), ("snapshot-isolation",)):
        t = run_checks(h, CheckOptions(consistency_models=models))["checkers"]["transactions"]
        assert t["valid"] is False and t["anomaly_types"] == ["G-nonadjacent-item"], t
    t = run_checks(h, CheckOptions(consistency_models=("read-committed",)))
    assert t["checkers"]["transactions"]["valid"] is not False  # a long fork is RC


# -- Elle's consistency-model lattice (test/elle/consistency_model_test.clj) ---------------

_MODELS = _load(os.path.join(DATA, "elle-consistency-models.json"))


def _friendly(xs):
    # Elle's newer friendly name for strict serializability
    return sorted({"strict-serializable" if x == "strong-serializable" else x for x in xs})


@pytest.mark.parametrize("case", _MODELS["cases"], ids=lambda c: c["name"])
def test_elle_consistency_model_lattice(case):
    """Which anomalies a model forbids, which models an anomaly rules out, and the
    boundary (`not`: the weakest ruled out, `also_not`: the rest) `transactions` reports:
    Elle's own answers, plus only what the case names as splitbrain's (`ours_also`)."""
    from splitbrain.checkers.transactions import models as m
    fn, arg = case["fn"], case["arg"]
    if fn == "prohibited":
        got = _friendly(m.prohibited(arg))
    elif fn == "impossible":
        got = _friendly(m.friendly_name(x) for x in m.impossible_models(arg))
    elif fn == "boundary-not":
        got = _friendly(m.boundary(arg)["not"])
    else:
        got = {k: _friendly(v) for k, v in m.boundary(arg).items()}
        assert got == {k: _friendly(v) for k, v in case["expect"].items()}
        return
    assert got == _friendly(case["expect"] + case.get("ours_also", []))


# -- Elle closed predicates (test/elle/closed_predicate_test.clj) -------------------------

_PRED = _load(os.path.join(DATA, "elle-closed-predicate.json"))


@pytest.mark.parametrize("case", _PRED["cases"], ids=lambda c: c["name"])
def test_elle_closed_predicate_histories_are_refused(case, tmp_path):
    """Every one is an anomaly to Elle (G1c, G2, G-single, predicate-read-miss) in a model
    splitbrain does not check (predicate reads over a universe, inserts, deletes): refused
    at the micro-op it cannot read, never judged valid on the rest (the :w / :r micro-ops
    beside them alone would show nothing)."""
    p = tmp_path / "history.edn"
    p.write_text(case["edn"])
    with pytest.raises(InputError, match=f"micro-op function '{case['refused_mop']}'"):
        read_history(str(p))


# -- jepsen-causal-consistency's grow-only set (causal/gset/checker) ----------------------

_GSET = _load(os.path.join(DATA, "causal-gset.json"))
# session guarantees and integrity: what process order alone decides (upstream's causal
# options have no real time), beside the aborted / garbage reads integrity finds
_SESSION_NAMES = ["integrity", "read-your-writes", "monotonic-reads", "monotonic-writes",
                  "writes-follow-reads", "session"]
# upstream-invalid, session checkers valid: a cross-key causal chain through single-key
# reads (MW or WFR carried to another key by monotonic reads). checker-spec P20 judges
# cross-key MW/WFR only from multi-key snapshot reads, so these are not found (yet).
_GSET_CROSS_KEY = {"invalid-wfr", "invalid-wfr-mop", "example-b-CCv-but-not-CM"}


def _gset_value(v):
    return set(v["set"]) if isinstance(v, dict) else v


def _gset_edn(case) -> str:
    def e(v):
        if v is None:
            return "nil"
        if isinstance(v, set):
            return "#{" + " ".join(map(str, sorted(v))) + "}"
        return str(v)
    rows, i = [], 0
    for p, t, mops in case["ops"]:
        for typ, show in (("invoke", False), (t, True)):
            ms = " ".join(f"[:{f} :{k} {e(_gset_value(v)) if show or f == 'w' else 'nil'}]"
                          for f, k, v in mops)
            rows.append(f"{{:index {i}, :type :{typ}, :f :txn, :process {p}, :value [{ms}]}}")
            i += 1
    return "\n".join(rows) + "\n"


def _gset_as_set_ops(case):
    """Single-micro-op ops as splitbrain set ops (`add` / `read` of a key), laid out in an
    order of process order and "an add precedes every read holding its element" (Kahn,
    ties by position; a cycle, which only invalid histories have, broken at the earliest
    op), so real time adds no order the upstream history lacks where one exists."""
    ops = case["ops"]
    succ = {i: set() for i in range(len(ops))}
    last = {}
    for i, (p, _, _) in enumerate(ops):
        if p in last:
            succ[last[p]].add(i)
        last[p] = i
    for i, (_, t, [(f, k, v)]) in enumerate(ops):
        if f == "w" and t != "fail":
            succ[i] |= {j for j, (_, _, [(g, kk, vv)]) in enumerate(ops)
                        if g == "r" and kk == k and v in (_gset_value(vv) or ())}
    indeg = [0] * len(ops)
    for js in succ.values():
        for j in js:
            indeg[j] += 1
    order, left = [], set(succ)
    while left:
        ready = [i for i in left if indeg[i] == 0]
        i = min(ready) if ready else min(left)
        left.discard(i)
        order.append(i)
        for j in succ[i]:
            indeg[j] -= 1
    evs = []
    for i in order:
        p, t, [(f, k, v)] = ops[i]
        f2 = "add" if f == "w" else "read"
        evs.append({"process": p, "type": "invoke", "f": f2, "key": k,
                    "value": v if f == "w" else None})
        evs.append({"process": p, "type": t, "f": f2, "key": k,
                    "value": v if f == "w" else sorted(_gset_value(v) or ())})
    h = history_from_events([dict(e, index=n, time=n * 1000) for n, e in enumerate(evs)])
    h.meta["format"] = "edn"
    return h


@pytest.mark.parametrize("case", _GSET["cases"], ids=lambda c: c["name"])
def test_causal_gset_as_recorded_is_refused(case, tmp_path):
    """As recorded ([:w k v] adds, whole-set reads) the history looks like rw-register
    transactions whose reads return values no write wrote: every read a garbage read, so
    the seven upstream-valid ones came out INVALID. Refused now (exit 254)."""
    p = tmp_path / "history.edn"
    p.write_text(_gset_edn(case))
    h = read_history(str(p))
    if not any(isinstance(v, dict) for _, _, m in case["ops"] for _, _, v in m):
        # no set read at all (invalid-ryw: write x 0, then read x nil): a register's
        # history, judged, and as upstream judges it
        assert _refused(h) == ""
        res = run_checks(h, CheckOptions())
        assert res["valid"] is _upstream_valid(case["upstream"]), res["checkers"]
        return
    assert "no write micro-op wrote a list, set or map" in _refused(h)


@pytest.mark.parametrize("case", [c for c in _GSET["cases"]
                                  if all(len(m) == 1 for _, _, m in c["ops"])],
                         ids=lambda c: c["name"])
def test_causal_gset_single_key_ops(case):
    """Upstream-valid: valid. Upstream-invalid: INVALID (a session guarantee, an aborted
    read, or a read from the future that no real-time order can avoid), except the
    cross-key chains named in _GSET_CROSS_KEY, which stay valid here: a known gap, not a
    contradiction of a proven verdict that this test would hide (it fails when they are
    found, so the set is kept exact)."""
    res = run_checks(_gset_as_set_ops(case), CheckOptions(workload="set"),
                     names=_SESSION_NAMES)
    up = _upstream_valid(case["upstream"])
    if up is True or case["name"] in _GSET_CROSS_KEY:
        assert res["valid"] is True, {n: (c["valid"], c["anomalies"][:1])
                                      for n, c in res["checkers"].items()}
    else:
        assert res["valid"] is False, res["checkers"]
