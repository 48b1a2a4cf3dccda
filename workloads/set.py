"""The `set` workload: adds of unique elements with periodic whole-set reads
(Jepsen's `set-full`: an acknowledged add must stay visible, checker-spec §5.1)."""

from __future__ import annotations

from splitbrain.workloads.mix import SESSION, KeyedWorkload


class SetWorkload(KeyedWorkload):
    name = "set"
    model = "set"
    checkers = ("integrity", *SESSION, "lost-updates", "convergence")
    write_f = "add"
    default_max_writes = 100
    default_read_ratio = 0.25
