"""The set session passes' use of the Rust core (`splitbrain._native`, native/src/set_session.rs).

Obligations (as checkers/queue/native.py):
* `KEY` is the compiled `set_session_key` when the module imports and has it, and `Op`
  is still the NamedTuple whose field positions set_session.rs reads; otherwise None and
  `PROBLEM` says why (an older .so, no build): session/passes.py then runs the
  pure-Python passes, which stay the reference (tests compare both, result for result);
* Rust only groups ops and proves sessions / reads clean; every anomaly and explanation
  comes from sets.py, re-run on exactly the sessions and reads Rust could not clear;
* `SPLITBRAIN_SET_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os

KEY = None
PROBLEM: str | None = None
# the Op fields set_session.rs reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "process": 3, "session": 4,
           "type": 5, "f": 6, "value": 8, "extra": 16}
try:  # by module name, as checkers/transactions/native.py does
    _mod = importlib.import_module("splitbrain._native")
    from splitbrain.harness.history import Op

    if not hasattr(_mod, "set_session_key"):
        PROBLEM = "splitbrain._native has no set_session_key (rebuild it)"
    elif not (issubclass(Op, tuple) and len(Op._fields) > max(_FIELDS.values())
              and all(Op._fields[i] == n for n, i in _FIELDS.items())):
        PROBLEM = "Op's fields moved: set_session.rs reads them by position"
    else:
        KEY = _mod.set_session_key
except Exception as e:  # ImportError, or a broken .so
    PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

if os.environ.get("SPLITBRAIN_SET_ENGINE") == "python":
    KEY = None
    PROBLEM = "SPLITBRAIN_SET_ENGINE=python"


def engine() -> str:
    return "native" if KEY is not None else "python"
