"""The list-append index's use of the Rust core (`splitbrain._native`, native/src/lists.rs).

Obligations:
* `SCAN` is the compiled `list_scan` when the module imports, has it, and `Op` is still
  the NamedTuple whose field positions lists.rs reads; otherwise None and `PROBLEM` says
  why (an older .so, no build): versions.py then takes its Python scan, which stays the
  reference (tests compare both on the same histories, result for result);
* `list_scan` only measures reads (lengths, which read is the longest, which read is
  each rank's evidence) and declines with None on any shape it does not handle; every table of
  the VersionIndex, every anomaly and explanation is built in Python;
* `SPLITBRAIN_LIST_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os

SCAN = None
PROBLEM: str | None = None
# the Op fields lists.rs reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "type": 5, "f": 6, "value": 8}
try:  # by module name, as checkers/queue/native.py does
    _mod = importlib.import_module("splitbrain._native")
    from splitbrain.harness.history import Op

    if not hasattr(_mod, "list_scan"):
        PROBLEM = "splitbrain._native has no list_scan (rebuild it)"
    elif not (issubclass(Op, tuple) and len(Op._fields) > max(_FIELDS.values())
              and all(Op._fields[i] == n for n, i in _FIELDS.items())):
        PROBLEM = "Op's fields moved: native/src/lists.rs reads them by position"
    else:
        SCAN = _mod.list_scan
except Exception as e:  # ImportError, or a broken .so
    PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

if os.environ.get("SPLITBRAIN_LIST_ENGINE") == "python":
    SCAN = None
    PROBLEM = "SPLITBRAIN_LIST_ENGINE=python"


def engine() -> str:
    return "native" if SCAN is not None else "python"
