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

from splitbrain.checkers.native_core import load

# the Op fields the Rust side reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "process": 3, "session": 4,
           "type": 5, "f": 6, "value": 8, "extra": 16}
KEY, PROBLEM = load("set_session_key", _FIELDS, "SPLITBRAIN_SET_ENGINE")


def engine() -> str:
    return "native" if KEY is not None else "python"
