"""Engine selection and the one call per check into the Rust core (linearizability.md §7.4).

Obligations:
* `native` is the compiled module `splitbrain._native` when it imports and reports the
  expected ABI version; anything else (absent, failed build, stale .so) means the Python
  engine, and the caller names the engine in `stats` and says why in `notices`;
* both engines return `search.SearchResult`s in partition order, whatever the threads.
"""

from __future__ import annotations

import importlib

import itertools

from splitbrain.checkers.linearizable.search import INVALID, UNKNOWN, VALID, SearchResult, search

ABI = 2
_STATUS = {0: VALID, 1: INVALID, 2: UNKNOWN}

try:  # the private extension built from native/ by `pip install -e .` (setuptools-rust)
    # by module name: the extension is a leaf, and importing it must not count as an
    # import of the Python API package `splitbrain` (whose harness imports are lazy)
    _mod = importlib.import_module("splitbrain._native")

    if getattr(_mod, "ABI", None) != ABI:
        NATIVE = None
        NATIVE_PROBLEM = f"splitbrain._native has ABI {getattr(_mod, 'ABI', None)}, expected {ABI} (rebuild it)"
    else:
        NATIVE = _mod
        NATIVE_PROBLEM = None
except Exception as e:  # ImportError, or a broken .so (OSError / undefined symbol)
    NATIVE = None
    NATIVE_PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"


Problem = tuple  # (inv, ret, required, payload, observer, initial)


def run_python(problems: list[Problem], step, max_configs: int, max_steps: int) -> list[SearchResult]:
    return [search(inv, ret, req, payload, obs, init, step, max_configs, max_steps)
            for inv, ret, req, payload, obs, init in problems]


def run_native(problems: list[Problem], max_configs: int, max_steps: int,
               threads: int) -> list[SearchResult]:
    """Register-family problems: payloads are (code, a, b) int triples."""
    chain = itertools.chain.from_iterable
    packed = [(inv, ret[:req], req, list(chain(payload)), obs, init)
              for inv, ret, req, payload, obs, init in problems]
    out = NATIVE.check(packed, max_configs, max_steps, threads)
    res = []
    for status, kstar, configs, steps, limit, frontier, fcount, paths, starts, omit in out:
        res.append(SearchResult(_STATUS[status], kstar, configs, steps, limit, list(frontier),
                                fcount, [list(p) for p in paths], list(starts), list(omit)))
    return res


def available() -> bool:
    return NATIVE is not None

