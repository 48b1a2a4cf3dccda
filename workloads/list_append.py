"""The `list-append` workload: appends of unique elements and whole-list reads.

The best source of version order (checker-spec §2.3-A); keys retire after 50 appends
by default so reads stay short.
"""

from __future__ import annotations

from splitbrain.workloads.mix import SESSION, KeyedWorkload


class ListAppendWorkload(KeyedWorkload):
    name = "list-append"
    model = "list"
    checkers = ("integrity", *SESSION, "staleness", "lost-updates", "convergence")
    write_f = "append"
    default_max_writes = 50
    default_read_ratio = 0.5
