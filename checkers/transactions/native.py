"""The transactions checker's use of the Rust core (`splitbrain._native`, native/src/txn.rs).

Obligations:
* `NATIVE` is the compiled module when it imports and has the txn functions; otherwise
  None and `NATIVE_PROBLEM` says why: every caller then takes the pure-Python path, which
  stays the reference (tests compare both on the same histories, result for result);
* `list_append(t)` returns an inference object with the same `edges` (same order),
  `anomalies` and `explain()` as `ListAppend(t).run()`, or None when the Rust core declined
  (any non-cycle anomaly other than internal / future-read, a read of a failed txn's
  append, a refusal or an unsupported key/value type: the Python inference then runs and
  reports it exactly as before);
* `SPLITBRAIN_TXN_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os
from array import array

from splitbrain.checkers.transactions.graph import Edges

NATIVE = None
NATIVE_PROBLEM: str | None = None
try:  # by module name, as checkers/linearizable/engine.py does
    _mod = importlib.import_module("splitbrain._native")
    if not all(hasattr(_mod, f) for f in ("txn_list_append", "txn_freeze", "txn_sccs")):
        NATIVE_PROBLEM = "splitbrain._native has no transactions functions (rebuild it)"
    else:
        NATIVE = _mod
except Exception as e:  # ImportError, or a broken .so
    NATIVE_PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

if os.environ.get("SPLITBRAIN_TXN_ENGINE") == "python":
    NATIVE, NATIVE_PROBLEM = None, "SPLITBRAIN_TXN_ENGINE=python"


def engine() -> str:
    return "native" if NATIVE is not None else "python"


class NativeListAppend:
    """The Rust core's list-append inference: edges, and the `internal` / `future-read`
    anomalies (found by the Python code, on the txns the core named as candidates).
    Explanations come from a Python `ListAppend`'s writers and version orders (steps 1-2
    of its inference), built the first time one is asked for (only histories with a cycle
    pay for it)."""

    def __init__(self, t, edges: Edges, candidates: list[int]):
        from splitbrain.checkers.transactions.list_append import ListAppend

        self.t = t
        self.edges = edges
        self._py = None
        probe = ListAppend(t)
        probe._internal(candidates)
        self.anomalies = probe.anomalies

    def explain(self, a: int, b: int, label: int):
        if self._py is None:
            from splitbrain.checkers.transactions.list_append import ListAppend

            self._py = ListAppend(self.t).run(index_only=True)
        return self._py.explain(a, b, label)


def list_append(t):
    if NATIVE is None:
        return None
    # failed txns' appends go in too: a read of one makes the core decline (G1a, dirty
    # update); unread, they change no edge (fail txns are not vertices)
    got = NATIVE.txn_list_append([op.value for op in t.vertices], bytes(t.ok),
                                 [op.value for op in t.fails])
    if got is None:
        return None
    src, dst, mask, candidates = got
    e = Edges(len(t.vertices))
    e.src.frombytes(src)
    e.dst.frombytes(dst)
    e.mask.frombytes(mask)
    return NativeListAppend(t, e, candidates)


def freeze(e: Edges) -> bool:
    """The CSR of `e` built by the core (True), or False (the caller builds it)."""
    if NATIVE is None or e.n == 0:
        return False
    off, tgt, lab = NATIVE.txn_freeze(e.n, e.src.tobytes(), e.dst.tobytes(), e.mask.tobytes())
    e.off, e.tgt, e.lab = array("i"), array("i"), array("B")
    e.off.frombytes(off)
    e.tgt.frombytes(tgt)
    e.lab.frombytes(lab)
    e.src = e.dst = e.mask = None  # type: ignore[assignment]
    return True


def sccs(e: Edges, allowed: int):
    if NATIVE is None or e.n == 0:
        return None
    return NATIVE.txn_sccs(e.n, e.off.tobytes(), e.tgt.tobytes(), e.lab.tobytes(), allowed)


def realtime(e: Edges, inv: list, ret: list, sessions: list, ok) -> bool:
    """graph.add_realtime_edges by the core (True: the edges were appended to `e`)."""
    if NATIVE is None or not hasattr(NATIVE, "txn_realtime") or e.src is None:
        return False
    from splitbrain.checkers.transactions.graph import PROCESS, REALTIME

    ids: dict = {}
    sid = [ids.setdefault(s, len(ids)) for s in sessions]
    # indexes are ints; ret of a non-ok txn may be INF (only ok txns' ret is read)
    src, dst, mask = NATIVE.txn_realtime([float(x) for x in inv], [float(x) for x in ret],
                                         sid, bytes(ok), REALTIME, REALTIME | PROCESS)
    e.src.frombytes(src)
    e.dst.frombytes(dst)
    e.mask.frombytes(mask)
    return True
