"""The txn import fast path (`_txn_ok_fast`, positional Op construction) gives exactly
the Ops, and exactly the InputError messages, of the checked `txn_mops` path it replaced.
The reference below is the pre-fast-path `_make_txn`, kept verbatim as the oracle."""

import random

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import Op, _Pairer, history_from_events, txn_mops


def _reference_make_txn(self, inv, comp):
    where = f"{self.source}: op index {(comp or inv)['index']}"
    mops = txn_mops(inv.get("value"), where)
    typ = "info" if comp is None else comp["type"]
    if typ == "ok":
        cval = comp.get("value")
        done = txn_mops(inv.get("value") if cval is None else cval, where)
        if len(done) != len(mops) or any(
                a[0] != b[0] or a[1] != b[1] or (a[0] != "r" and a[2] != b[2])
                for a, b in zip(mops, done)):
            raise InputError(f"{where}: completion micro-ops do not match the invocation "
                             f"(index {inv['index']})")
        mops = done
    else:
        mops = tuple((mf, k, None) if mf == "r" else (mf, k, v) for mf, k, v in mops)
    proc = inv["process"]
    cget = comp.get if comp is not None else (lambda _k, _d=None: _d)
    t_seen = cget("time")
    if typ == "info":
        ret_index, t_ret = float("inf"), float("inf")
    else:
        ret_index, t_ret = comp["index"], t_seen or 0
    node = cget("node") or inv.get("node")
    from splitbrain.harness.history import _extra
    return Op(index=(comp or inv)["index"], inv_index=inv["index"], ret_index=ret_index,
              process=proc, session=self._session(proc), type=typ, f="txn", key=None,
              value=mops, version=None, node=node, t_inv=inv.get("time") or 0,
              t_ret=t_ret, t_ret_seen=t_seen, error=cget("error"),
              final=bool(inv.get("final") or cget("final")), extra=_extra(inv, comp))


_ODD_KEYS = ["x", 3, True, 1.0, ["a", 1], {"k": 1}, None]
_ODD_VALS = [None, 1, 1.0, True, "s", [1, 2], [[1]], {"a": 1}, (1,)]
_ODD_FS = ["r", "w", "append", "read", "write", "cas", 5, None]


def _mop(rnd, odd):
    if odd and rnd.random() < 0.04:
        shape = rnd.choice(["short", "long", "scalar", "tuple"])
        if shape == "short":
            return [rnd.choice(_ODD_FS), rnd.choice(_ODD_KEYS)]
        if shape == "long":
            return ["r", "x", None, 1]
        if shape == "scalar":
            return rnd.choice(_ODD_VALS)
        return ("append", "x", 1)
    f = rnd.choice(_ODD_FS if odd and rnd.random() < 0.04 else ["r", "append", "w"])
    k = rnd.choice(_ODD_KEYS if odd and rnd.random() < 0.04 else ["x", "y", 1, 2])
    v = rnd.choice(_ODD_VALS) if odd and rnd.random() < 0.04 else rnd.randint(0, 9)
    return [f, k, v]


def _events(seed, odd, n=150):
    rnd = random.Random(seed)
    evs, idx = [], 0
    for t in range(n):
        p = t % 5
        inv = [_mop(rnd, odd) for _ in range(rnd.randint(0, 4))]
        comp = [list(m) if isinstance(m, list) else m for m in inv]
        for m in comp:
            if isinstance(m, list) and m and m[0] in ("r", "read"):
                if len(m) == 3:
                    m[2] = [rnd.randint(0, 9) for _ in range(rnd.randint(0, 3))]
        if odd and rnd.random() < 0.08:  # perturb the completion
            comp = rnd.choice([None, comp[:-1], comp + [["r", "z", []]], "junk",
                               [["append", "x", 99]] * len(comp),
                               [m[:2] + [m[2]] if isinstance(m, list) and len(m) == 3
                                and m[0] == "read" else m for m in comp],
                               # equal keys/values of another type: 1 vs 1.0 vs True
                               [[m[0], float(m[1]) if type(m[1]) is int else m[1]] + m[2:]
                                if isinstance(m, list) and len(m) > 1 else m for m in comp],
                               [[m[0], m[1], True if m[2] == 1 else m[2]]
                                if isinstance(m, list) and len(m) == 3 else m for m in comp]])
        if odd and rnd.random() < 0.1:  # the invocation spells a key or value otherwise
            to = rnd.choice([float, lambda k: k == 1 or k])  # 1.0 is a valid key, True not
            inv = [[m[0], to(m[1]) if type(m[1]) is int else m[1]] + m[2:]
                   if isinstance(m, list) and len(m) > 1 else m for m in inv]
        if odd and rnd.random() < 0.1:
            inv = [[m[0], m[1], True if m[2] == 1 else m[2]]
                   if isinstance(m, list) and len(m) == 3 else m for m in inv]
        typ = rnd.choice(["ok"] * 8 + ["fail", "info"])
        extra = {"node": "n1"} if rnd.random() < 0.2 else {}
        if rnd.random() < 0.1:
            extra["final"] = True
        if rnd.random() < 0.1:
            extra["tag"] = t
        evs.append(dict(index=idx, time=idx * 10, process=p, type="invoke", f="txn",
                        value=inv, **extra))
        idx += 1
        ev = dict(index=idx, time=idx * 10, process=p, type=typ, f="txn", **extra)
        if comp is not None:
            ev["value"] = comp
        if typ == "fail":
            ev["error"] = "aborted"
        evs.append(ev)
        idx += 1
    return evs


def _run(evs):
    try:
        return history_from_events(evs, source="h.jsonl").ops
    except InputError as e:
        return ("error", str(e))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("odd", [False, True])
def test_fast_path_matches_the_checked_path(seed, odd, monkeypatch):
    evs = _events(seed, odd, n=150 if not odd else 8)
    got = _run([dict(e) for e in evs])
    monkeypatch.setattr(_Pairer, "_make_txn", _reference_make_txn)
    want = _run([dict(e) for e in evs])
    assert got == want
    if isinstance(got, list):  # equal tuples with equal types too (1 vs 1.0 vs True)
        assert [[type(x) for m in o.value for x in m] for o in got] == \
               [[type(x) for m in o.value for x in m] for o in want]
        assert [tuple(map(type, o)) for o in got] == [tuple(map(type, o)) for o in want]
    if not odd:
        assert isinstance(got, list) and len(got) == 150


@pytest.mark.parametrize("inv_mop, comp_mop", [
    (["append", True, 1], ["append", 1, 1]),    # a bool key is refused even if == 1
    (["append", 1.0, 1], ["append", 1, 1]),     # a float key equal to the int is accepted
    (["append", "x", True], ["append", "x", 1]),
    (["read", "x", None], ["r", "x", [1]]),
    (["r", "x", None], ["append", "x", 1]),
    (["append", "x", 1], ["append", "x", 2]),
])
def test_fast_path_edge_spellings(inv_mop, comp_mop, monkeypatch):
    evs = [dict(index=0, time=0, process=0, type="invoke", f="txn", value=[inv_mop]),
           dict(index=1, time=1, process=0, type="ok", f="txn", value=[comp_mop])]
    got = _run([dict(e) for e in evs])
    monkeypatch.setattr(_Pairer, "_make_txn", _reference_make_txn)
    assert got == _run([dict(e) for e in evs])
