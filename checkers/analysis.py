"""The analysis every checker family shares, built once per `run_checks` (Elle's preprocess).

`run_checks` resolves the workload (the history's data shape) and builds one `Analysis`;
each family's `check(history, options, analysis=...)` reads the workload, the single-key
view, the per-key op groups, the version indexes and the final reads from it instead of
re-inferring or rebuilding them. A family called on its own (`check(history, options)`,
as tests and the witness replays do) builds its own `Analysis` (`Analysis.of`).

Everything derived lives here, never in `History.meta`: the history carries only facts of
its input (format, torn lines, ...), so one history can be checked under several options
(another workload, another version tie-break) without a stale derived table leaking
between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import History, Op

# Entries that depend only on the history, not on the options: shared by `for_options`.
_HISTORY_ONLY = ("single_key_ops", "txn_count", "groups", "final_reads")


@dataclass(frozen=True)
class Analysis:
    """One history prepared for checking. Read-only: a family must not mutate what it
    gets from here (every other family reads the same objects). Each table is built on
    first use and then kept for the life of this object.

    history: the history under check.
    options: the options families receive; `options.workload` is resolved by run_checks
      (a family calling `Analysis.of` itself may leave it None: the indexes then pick
      each key's kind from its ops).
    """

    history: History
    options: CheckOptions
    _built: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, history: History, options: CheckOptions | None = None,
           analysis: "Analysis | None" = None) -> "Analysis":
        """`analysis` when given (run_checks' shared one), else a fresh one."""
        if analysis is not None:
            return analysis
        return cls(history, options or CheckOptions())

    @property
    def workload(self) -> str | None:
        """The history's data shape the families judge (register, list-append, set, ...)."""
        return self.options.workload

    @property
    def tiebreak(self) -> str | None:
        """The store's rule for equal versions of different values (options)."""
        return self.options.version_tiebreak

    def built(self, name: str) -> Any:
        """The table `name` ("indexes", "final_reads", ...) if some family already had it
        built, else None: for a pass that can reuse it but need not pay for it."""
        got = self._built.get(name, _MISSING)
        return None if got is _MISSING else got

    def _get(self, name: str, build) -> Any:
        got = self._built.get(name, _MISSING)
        if got is _MISSING:
            got = self._built[name] = build()
        return got

    @property
    def single_key_ops(self) -> list[Op]:
        """history.ops with each transaction replaced by its write micro-ops
        (checkers/versions.py `single_key_ops`)."""
        from splitbrain.checkers.versions import single_key_ops

        return self._get("single_key_ops",
                         lambda: single_key_ops(self.history, n_txn=self.txn_count))

    @property
    def txn_count(self) -> int:
        """How many `f == "txn"` ops the history holds."""
        from splitbrain.checkers.versions import txn_count

        return self._get("txn_count", lambda: txn_count(self.history))

    @property
    def groups(self) -> tuple[dict[Any, list[Op]], list[Op], int]:
        """(key -> its single-key ops in invocation order, keyless included; the ok
        multi-key snapshot reads; how many ops name a tuple key), versions.group_by_key."""
        from splitbrain.checkers.versions import group_by_key

        return self._get("groups", lambda: group_by_key(self.single_key_ops))

    @property
    def indexes(self) -> dict[Any, Any]:
        """key -> VersionIndex (checkers/versions.py), built on first use."""
        from splitbrain.checkers.versions import build_indexes

        return self._get("indexes", lambda: build_indexes(
            self.history, self.workload, self.tiebreak, analysis=self))

    @property
    def final_reads(self):
        """The history's final reads (checkers/final_state.py), built on first use."""
        from splitbrain.checkers.final_state import final_reads

        return self._get("final_reads", lambda: final_reads(self.history))

    def for_options(self, options: CheckOptions) -> "Analysis":
        """The same history judged with other options (a txn history's single-key view);
        the tables that depend only on the history are shared."""
        if options == self.options:
            return self
        other = Analysis(self.history, options)
        for k in _HISTORY_ONLY:
            if k in self._built:
                other._built[k] = self._built[k]
        return other


_MISSING = object()
