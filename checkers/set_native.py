"""The set checkers' use of the Rust core (`splitbrain._native`, native/src/sets.rs).

Obligations:
* `PRESENCE` is the compiled `set_presence` when the module imports and has it;
  otherwise None and `PROBLEM` says why (an older .so, no build): callers then take the
  pure-Python path (lost_updates.py `_presence`), which stays the reference (tests compare
  both on the same histories, result for result);
* `set_presence` declines (None) unless every element is an exact int, and only returns
  read positions; every statistic and anomaly is built in Python;
* `SPLITBRAIN_SET_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os

PRESENCE = None
PROBLEM: str | None = None
try:  # by module name, as checkers/queue/native.py does
    PRESENCE = getattr(importlib.import_module("splitbrain._native"), "set_presence", None)
    if PRESENCE is None:
        PROBLEM = "splitbrain._native has no set functions (rebuild it)"
except Exception as e:  # ImportError, or a broken .so
    PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

if os.environ.get("SPLITBRAIN_SET_ENGINE") == "python":
    PRESENCE = None
    PROBLEM = "SPLITBRAIN_SET_ENGINE=python"


def engine() -> str:
    return "native" if PRESENCE is not None else "python"
