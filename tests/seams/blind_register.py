"""A workload in one module: blind writes and reads on the register model."""

from __future__ import annotations

from splitbrain.workloads.mix import SESSION, KeyedWorkload


class BlindRegisterWorkload(KeyedWorkload):
    name = "blind-register"
    model = "register"
    checkers = ("integrity", *SESSION, "convergence")
    default_read_ratio = 0.5
