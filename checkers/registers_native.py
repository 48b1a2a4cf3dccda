"""The register checkers' use of the Rust core (`splitbrain._native`, native/src/registers.rs).

Obligations (as checkers/session/native.py):
* `INDEX`, `STALENESS`, `SESSION`, `NO_WRITE_BELOW` are the compiled `register_index`,
  `register_staleness`, `register_session_key`, `register_no_write_below` when the module
  imports and has them and `Op` is still the NamedTuple whose field positions
  registers.rs reads; otherwise None and `PROBLEM` says why (an older .so, no build):
  callers then run their pure-Python code, which stays the reference (tests compare
  both, result for result);
* each declines (None) on any shape it does not take (non-int/str values, a value
  written twice, cas, retries, garbage/aborted/future reads, version conflicts,
  pipelined or unclean sessions, ...): the Python code then decides, exactly as before;
  Rust only builds tables, counts and proves keys clean; every anomaly and
  explanation is built in Python;
* `SPLITBRAIN_REGISTER_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

from splitbrain.checkers.native_core import load

# the Op fields the Rust side reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "process": 3, "session": 4,
           "type": 5, "f": 6, "value": 8, "version": 9, "t_inv": 11, "t_ret": 12,
           "extra": 16}
_ENV = "SPLITBRAIN_REGISTER_ENGINE"
INDEX, PROBLEM = load("register_index", _FIELDS, _ENV)
STALENESS = load("register_staleness", _FIELDS, _ENV)[0]
SESSION = load("register_session_key", _FIELDS, _ENV)[0]
NO_WRITE_BELOW = load("register_no_write_below", _FIELDS, _ENV)[0]


def engine() -> str:
    return "native" if INDEX is not None else "python"
