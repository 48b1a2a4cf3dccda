"""The analysis every checker family shares, built once per `run_checks` (Elle's preprocess).

`run_checks` resolves the workload (the history's data shape) and builds one `Analysis`;
each family's `check(history, options, analysis=...)` reads the workload, the per-key
version indexes and the final reads from it instead of re-inferring or rebuilding them.
A family called on its own (`check(history, options)`, as tests and the witness replays
do) builds what it needs itself; `build_indexes` keeps its per-history cache for those
callers, so either way one history's indexes are built once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import History


@dataclass(frozen=True)
class Analysis:
    """One history prepared for checking. Read-only: a family must not mutate what it
    gets from here (every other family reads the same objects).

    history: the history under check.
    options: the options families receive; `options.workload` is resolved (never None).
    """

    history: History
    options: CheckOptions
    _built: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def workload(self) -> str:
        """The history's data shape the families judge (register, list-append, set, ...)."""
        return self.options.workload

    @property
    def indexes(self) -> dict[Any, Any]:
        """key -> VersionIndex (checkers/versions.py), built on first use."""
        got = self._built.get("indexes")
        if got is None:
            from splitbrain.checkers.versions import build_indexes

            got = self._built["indexes"] = build_indexes(self.history, self.workload)
        return got

    @property
    def final_reads(self):
        """The history's final reads (checkers/final_state.py), built on first use."""
        got = self._built.get("final_reads")
        if got is None:
            from splitbrain.checkers.final_state import final_reads

            got = self._built["final_reads"] = final_reads(self.history)
        return got

    def for_options(self, options: CheckOptions) -> "Analysis":
        """The same history judged with other options (a txn history's single-key view)."""
        if options == self.options:
            return self
        return Analysis(self.history, options)
