"""Loading one optional function of the Rust core (`splitbrain._native`) for a checker.

`load(name, fields, env)` returns (the compiled function, None) when the module imports,
has `name`, and `Op` is still the NamedTuple whose field positions the Rust side reads
(`fields`: name -> position); otherwise (None, why). `env=python` in the environment
forces the Python path. Callers keep their pure-Python code as the reference.
"""

from __future__ import annotations

import importlib
import os
from typing import Any


def load(name: str, fields: dict[str, int], env: str) -> tuple[Any, str | None]:
    if os.environ.get(env) == "python":
        return None, f"{env}=python"
    try:  # by module name, as checkers/queue/native.py does
        mod = importlib.import_module("splitbrain._native")
        from splitbrain.harness.history import Op
    except Exception as e:  # ImportError, or a broken .so
        return None, f"the native core is not available ({type(e).__name__}: {e})"
    if not hasattr(mod, name):
        return None, f"splitbrain._native has no {name} (rebuild it)"
    if not (issubclass(Op, tuple) and len(Op._fields) > max(fields.values())
            and all(Op._fields[i] == n for n, i in fields.items())):
        return None, f"Op's fields moved: the Rust {name} reads them by position"
    return getattr(mod, name), None
