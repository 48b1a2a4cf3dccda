"""The queue checker's use of the Rust core (`splitbrain._native`, native/src/queue.rs).

Obligations:
* `READ` / `DENSE` are the compiled `queue_read` / `queue_index` when the module imports
  and has both; otherwise None and `PROBLEM` says why (an older .so, no build): callers
  then take the pure-Python loops, which stay the reference (tests compare both on the
  same histories, result for result);
* the Rust functions only place messages (offsets -> dense indices); every anomaly and
  explanation is built in Python from what they return;
* `STEPS` / `LAG` (`queue_steps`, `queue_lag`: the plain-poll and send order checks and the lag
  pass), `OPS` (`queue_ops`: model.py's loop over the usual ops) and `COMMIT`
  (`queue_commit`: build_logs' committed sends) are used only when the module has them and
  `Op` is still the NamedTuple whose field positions native/src/queue.rs reads; each may
  be None on its own (an older .so), as may `UNEXPECTED` / `UNSEEN` (`queue_unexpected`,
  `queue_unseen`: check_log's scans of the ok reads and the ok sends, Op positions too),
  `COMMITTED` / `VANISHED` (`queue_committed`: committed_ops; `queue_vanished`: the
  final re-read's candidates), `LOST` (`queue_lost`: its lost-write candidates) and `ORDER` (`queue_order`:
  KeyLog.freeze's offset sort, None from it on an offset it does not parse) and `SENDS`
  (`queue_sends`: every send placed once in the compact index, with the time lag.py's
  `known_times` takes of it, which STEPS / LAG then read instead of looking each send and
  its op up again), `WRITERS` (`queue_writers`: check_log's writer index kept as key ->
  value -> first send (log.py `_Writers`, the same answers as the (key, value) dict),
  with the aborted-read / unexpected scan, the ok-send count and the unseen candidates,
  one pass over the sends), `PROCS` (`queue_procs`: every op of `by_process` read once
  into the compact index, which STEPS / LAG then walk instead of each op's fields) and
  `RECS` (`QueueRecs`: queue_ops keeps those records of the ops it places while each is
  at hand, which PROCS takes; None unless the same build has PROCS, since queue_ops takes
  it only from that build);
* a read queue_ops placed keeps its value's `dict.items()` view as its (key, messages)
  pairs (they are exactly those: every key a str already canonical, each message list
  the recorded one), not a list of new tuples; every reader iterates them, none indexes;
* `SPLITBRAIN_QUEUE_ENGINE=python` in the environment forces the Python path.
"""

from __future__ import annotations

import importlib
import os

READ = DENSE = STEPS = LAG = OPS = COMMIT = ORDER = UNEXPECTED = LOST = UNSEEN = COMMITTED = VANISHED = SENDS = WRITERS = PROCS = RECS = None
# every optional function above, by name (tests switch them off one by one)
FUNCTIONS = ("READ", "DENSE", "STEPS", "LAG", "OPS", "COMMIT", "ORDER", "UNEXPECTED", "LOST",
             "UNSEEN", "COMMITTED", "VANISHED", "SENDS", "WRITERS", "PROCS", "RECS")
PROBLEM: str | None = None
# the Op fields queue.rs reads by position (OP_* constants there)
_FIELDS = {"index": 0, "process": 3, "type": 5, "f": 6, "key": 7, "value": 8, "t_inv": 11,
           "t_ret_seen": 13, "final": 15, "extra": 16}
try:  # by module name, as checkers/transactions/native.py does
    _mod = importlib.import_module("splitbrain._native")
    if not all(hasattr(_mod, f) for f in ("queue_read", "queue_index")):
        PROBLEM = "splitbrain._native has no queue functions (rebuild it)"
    else:
        READ, DENSE = _mod.queue_read, _mod.queue_index
        ORDER = getattr(_mod, "queue_order", None)
        LOST = getattr(_mod, "queue_lost", None)
        from splitbrain.harness.history import Op

        if (issubclass(Op, tuple) and len(Op._fields) > max(_FIELDS.values())
                and all(Op._fields[i] == n for n, i in _FIELDS.items())):
            STEPS = getattr(_mod, "queue_steps", None)
            LAG = getattr(_mod, "queue_lag", None)
            # (queue_ops' op_reads may be None only from the build that has queue_sends)
            OPS = getattr(_mod, "queue_ops", None) if hasattr(_mod, "queue_sends") else None
            COMMIT = getattr(_mod, "queue_commit", None)
            UNEXPECTED = getattr(_mod, "queue_unexpected", None)
            UNSEEN = getattr(_mod, "queue_unseen", None)
            COMMITTED = getattr(_mod, "queue_committed", None)
            VANISHED = getattr(_mod, "queue_vanished", None)
            SENDS = getattr(_mod, "queue_sends", None)
            WRITERS = getattr(_mod, "queue_writers", None)
            PROCS = getattr(_mod, "queue_procs", None)
            # (queue_ops takes a QueueRecs only from the build that has it)
            RECS = getattr(_mod, "QueueRecs", None)
except Exception as e:  # ImportError, or a broken .so
    PROBLEM = f"the native core is not available ({type(e).__name__}: {e})"

if os.environ.get("SPLITBRAIN_QUEUE_ENGINE") == "python":
    READ = DENSE = STEPS = LAG = OPS = COMMIT = ORDER = UNEXPECTED = LOST = UNSEEN = COMMITTED = VANISHED = SENDS = WRITERS = PROCS = RECS = None
    PROBLEM = "SPLITBRAIN_QUEUE_ENGINE=python"


def engine() -> str:
    return "native" if READ is not None else "python"
