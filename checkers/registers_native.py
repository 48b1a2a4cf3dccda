"""The register checkers' use of the Rust core (`splitbrain._native`, native/src/registers.rs).

Obligations (as checkers/session/native.py):
* `INDEX` is the compiled `register_index` when the module imports and has it and `Op`
  is still the NamedTuple whose field positions registers.rs reads; otherwise None and
  `PROBLEM` says why (an older .so, no build): versions.py then builds every index in
  Python, which stays the reference (tests compare both, result for result);
* it declines (None) on any shape it does not take (non-int/str values, a value written
  twice, cas, retries, garbage/aborted/future reads, version conflicts, ...): the Python
  build then decides, exactly as before; it only builds tables and `Facts`, and every
  anomaly and explanation is built in Python;
* `Facts` (on `VersionIndex.native`) say what staleness, session and lost-updates would
  compute from the key's ops; each is None where the Python pass must run (a pipelined
  or unclean session, a time that is not an int, ...);
* `SPLITBRAIN_REGISTER_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

from typing import NamedTuple

from splitbrain.checkers.native_core import load

# the Op fields the Rust side reads by position (OP_* constants there)
_FIELDS = {"index": 0, "inv_index": 1, "ret_index": 2, "process": 3, "session": 4,
           "type": 5, "f": 6, "value": 8, "version": 9, "t_inv": 11, "t_ret": 12,
           "extra": 16}
_ENV = "SPLITBRAIN_REGISTER_ENGINE"
INDEX, PROBLEM = load("register_index", _FIELDS, _ENV)
# versions.py `group_by_key` (any workload): the same dict, filled from Rust
GROUP = load("group_ops_by_key", {**_FIELDS, "key": 7}, _ENV)[0]
# convergence.py `_quiet_time`'s loop over the ops (any workload)
LAST_WRITE_TIME = load("last_write_time", {**_FIELDS, "t_ret_seen": 13}, _ENV)[0]


class Facts(NamedTuple):
    """What register_index computed of one versioned key's ops, beside its tables."""

    staleness: tuple | None   # staleness.py _measure_key unbounded: (unverifiable writes,
    #                           reads skipped, fresh, T, K, positive lags, writes lag-free)
    session: tuple | None     # (sessions by session id or None, by process or None,
    #                           reads checked, reads unverifiable, writes checked,
    #                           writes unverifiable) when every group is sequential, clean
    no_write_below: bool      # lost_updates.py _no_write_below_an_earlier_read
    max_ok_rank: int          # the highest rank an ok write created (-1: none)
    nonfail_writes: int       # writes whose type is not fail
    ok_writes: int            # writes whose type is ok


def engine() -> str:
    return "native" if INDEX is not None else "python"
