"""The set checkers' use of the Rust core (`splitbrain._native`, native/src/sets.rs).

Obligations:
* `PRESENCE` / `SCAN` are the compiled `set_presence` / `set_scan` when the module
  imports and has them; otherwise None and `PROBLEM` says why (an older .so, no build):
  callers then take the pure-Python paths (lost_updates.py `_presence`, versions.py
  `_build_set`'s loop), which stay the reference (tests compare both on the same
  histories, result for result);
* `set_presence` declines (None) unless every element is an exact int, and only returns
  read positions; `set_scan` builds each read's frozenset and names the reads Python
  must still audit (every read it cannot prove silent); every statistic, anomaly and
  explanation is built in Python;
* `TIMELINE` is `set_timeline` (lost_updates.py `_set_timeline`'s per-element latency
  loop after the presence timeline), None when Op's fields moved (it reads them by
  position); it declines (None) on non-int elements or times;
* `SCAN_OPS` is `set_scan_ops`: `set_scan` reading the reads (Op tuples) themselves,
  returning beside members and todo a `SetReads` of every read's int elements (as dense
  ids of the key's elements) and times,
  kept on the index (`VersionIndex._set_reads`) so the session certificate
  (`set_session_key`'s `kept`) and `TIMELINE_KEY` (`set_timeline_key`: `_set_timeline`
  from those tables alone) do not walk every element object again; both decline (None)
  where the kept tables do not hold what the Op path would read;
* `INDEX` is `set_index`: versions.py `build_index` of a set key up to `_build_set`'s
  per-read loop (the reads, the adds, their values, the sole-writer dict and
  `SCAN_OPS`' scan) in one pass over the key's ops, its `SetReads` also keeping what the
  session certificate reads of every op; it declines (None) on any op but a plain ok/
  info/fail read or add of a distinct exact int, and the Python build stays the reference;
* `FINAL_KEY` is `set_final_key`: convergence.py's per-key loop body for a set key
  set_index built whose final reads are lists of exact ints, when nothing is to be
  reported (no flapping, no divergence, the converged set exactly the key's adds);
  otherwise None and convergence.py judges the key itself;
* `SPLITBRAIN_SET_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os
from typing import NamedTuple

PRESENCE = SCAN = TIMELINE = None
PROBLEM: str | None = None
try:  # by module name, as checkers/queue/native.py does
    _mod = importlib.import_module("splitbrain._native")
    PRESENCE = getattr(_mod, "set_presence", None)
    SCAN = getattr(_mod, "set_scan", None)
    TIMELINE = getattr(_mod, "set_timeline", None)  # reads Op fields by position
    from splitbrain.harness.history import Op as _Op

    if _Op._fields[1:3] + _Op._fields[5:6] + _Op._fields[8:9] + _Op._fields[11:13] != (
            "inv_index", "ret_index", "type", "value", "t_inv", "t_ret"):
        TIMELINE = None
    if PRESENCE is None or SCAN is None:
        PROBLEM = "splitbrain._native lacks set functions (rebuild it)"
except Exception as e:  # ImportError, or a broken .so
    PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

from splitbrain.checkers.native_core import load  # noqa: E402

_FIELDS = {"inv_index": 1, "ret_index": 2, "type": 5, "value": 8, "t_inv": 11, "t_ret": 12}
SCAN_OPS = load("set_scan_ops", _FIELDS, "SPLITBRAIN_SET_ENGINE")[0]
TIMELINE_KEY = load("set_timeline_key", _FIELDS, "SPLITBRAIN_SET_ENGINE")[0]
FINAL_KEY = load("set_final_key", {"inv_index": 1, "value": 8, "t_inv": 11},
                 "SPLITBRAIN_SET_ENGINE")[0]
INDEX = load("set_index", {**_FIELDS, "index": 0, "process": 3, "f": 6, "extra": 16},
             "SPLITBRAIN_SET_ENGINE")[0]

if os.environ.get("SPLITBRAIN_SET_ENGINE") == "python":
    PRESENCE = SCAN = TIMELINE = None
    PROBLEM = "SPLITBRAIN_SET_ENGINE=python"


def engine() -> str:
    return ("native" if PRESENCE is not None or SCAN is not None or TIMELINE is not None
            else "python")


class SetFacts(NamedTuple):
    """What `set_index` knows of a set key it built: its writes are exactly its adds,
    each of its own exact int (no element added twice)."""

    nonfail_writes: int  # adds whose type is not fail
    ok_writes: int       # adds whose type is ok
