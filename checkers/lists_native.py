"""The list-append index's use of the Rust core (`splitbrain._native`, native/src/lists.rs).

Obligations:
* `SCAN` is the compiled `list_scan` when the module imports, has it, and `Op` is still
  the NamedTuple whose field positions lists.rs reads; otherwise None and `PROBLEM` says
  why (an older .so, no build): versions.py then takes its Python scan, which stays the
  reference (tests compare both on the same histories, result for result);
* `list_scan` only measures reads (lengths, which read is the longest, which read is
  each rank's evidence) and declines with None on any shape it does not handle; every table of
  the VersionIndex, every anomaly and explanation is built in Python;
* `SESSION` is the compiled `list_session_key` (native/src/list_passes.rs) on the same
  terms: it only groups a list key's session ops and proves sessions clean (counts);
  session/lists.py runs `_pass_floors` on every session it cannot clear;
* `STALENESS` is the compiled `list_staleness_key`: staleness.py `_measure_key`'s figures
  for one list key (no anomaly: it declines when a read breaks a bound);
* `INDEX` is the compiled `list_index` (native/src/list_index.rs): versions.py
  `build_index` of a whole list key in one call, for the shape on which the Python build
  reports nothing and marks nothing corrupt (plain reads and appends of exact ints, each
  appended once, every read a clean prefix); it declines (None) on anything else and the
  Python build decides, exactly as before. Beside the tables it returns `ListFacts` (on
  `VersionIndex.native`): what staleness, session, integrity and lost-updates would
  compute from the key's ops, each None/False where the Python pass must run;
* `SPLITBRAIN_LIST_ENGINE=python` in the environment forces the Python paths.
"""

from __future__ import annotations

from typing import NamedTuple

from splitbrain.checkers.native_core import load

# the Op fields the Rust side reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "type": 5, "f": 6, "value": 8}
SCAN, PROBLEM = load("list_scan", _FIELDS, "SPLITBRAIN_LIST_ENGINE")

# session/lists.py: the list session floors (native/src/list_passes.rs `list_session_key`)
_SESSION_FIELDS = {**_FIELDS, "process": 3, "session": 4, "extra": 16}
SESSION, SESSION_PROBLEM = load("list_session_key", _SESSION_FIELDS, "SPLITBRAIN_LIST_ENGINE")
# staleness.py: one list key's measurement (list_passes.rs `list_staleness_key`)
_STALENESS_FIELDS = {**_FIELDS, "t_inv": 11, "t_ret": 12, "extra": 16}
STALENESS, STALENESS_PROBLEM = load("list_staleness_key", _STALENESS_FIELDS,
                                    "SPLITBRAIN_LIST_ENGINE")
# versions.py: a whole list key's index and facts (native/src/list_index.rs `list_index`)
_INDEX_FIELDS = {**_SESSION_FIELDS, **_STALENESS_FIELDS, "node": 10, "final": 15}
INDEX, INDEX_PROBLEM = load("list_index", _INDEX_FIELDS, "SPLITBRAIN_LIST_ENGINE")


class ListFacts(NamedTuple):
    """What list_index computed of one list key's ops, beside its tables."""

    staleness: tuple | None  # staleness.py _measure_key unbounded (registers_native.Facts')
    session: tuple | None    # (sessions by session id or None, by process or None, reads
    #                          checked, reads unverifiable, writes checked, writes
    #                          unverifiable) when every group is sequential and clean
    nonfail_writes: int      # appends whose type is not fail
    final_clean: bool        # lost_updates `_clean_list` holds with final_state's rules
    #                          (every append ok, the nodes' last final reads hold them all)
    final_same: tuple | None  # (the least t_inv, the length) of the key's ok final reads
    #                          when every one is as long (so, prefixes of one list, equal)


def engine() -> str:
    return "native" if SCAN is not None else "python"
