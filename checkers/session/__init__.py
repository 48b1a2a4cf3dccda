"""Session guarantees: read-your-writes, monotonic reads, monotonic writes, writes-follow-reads.

checker-spec §3 (Terry et al. 1994; Viotti & Vukolić's so/vis/ar form). Every finding is
one of two observable facts plus session order (§3): "read r returned a version strictly
older than w" proves w ∉ vis(r); "ver(w2) < ver(w1)" proves w1 is not ar-before w2.

* Total orders (list-append positions, version numbers): the one-pass floors of §3.5,
  evaluated at each op's invocation against floors updated at completions (so pipelined
  sessions get the ≺s semantics of §1.3, P7), plus the list membership rules (own acked
  appends never seen by any read, §3.1c/§3.3c).
* Sets: membership — own acked adds ⊆ read (RYW), union of earlier reads ⊆ read (MR),
  per-session prefix of acked adds (MW visibility), last read before a write ⊆ any read
  showing that write (WFR visibility).
* Plain unique-value registers: the same floors with the data-only partial order
  (⊥ < v, cas chains), then the session version graph of §3.6 (assumption A-LWW): Tarjan
  SCC + shortest cycle, labelled by the guarantee(s) on the cycle.
* Cross-key MW/WFR only with multi-key snapshot reads (P20).

`info` own writes create no obligations; `info`/`fail` reads are ignored; session =
`op.session` (a process reused after `info` starts a new epoch, P6). Keys whose written
values are not unique are skipped and make the results "unknown" (P1). Reads with a
corrupt observation (integrity anomalies) are skipped (P17). Every reported anomaly is
re-checked on its witness sub-history (§9 witness replay); failures are dropped and
counted as `replay_dropped`.

The package is split by what each part judges: `floors` (total orders and plain floors),
`sets` (set membership), `graph` (the plain-register session graph), `cross_key`
(snapshot reads), composed by `passes.analyse`; `replay` re-checks witnesses; `native`
is the Rust certificate of the set passes (Python re-judges what it cannot clear).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.result import CheckResult
from splitbrain.checkers.session.findings import (  # noqa: F401  (the family's names)
    ALL_NAMES, MR, MW, NAMES, RYW, SESSION, SHORT, WFR, SessionFindings)
from splitbrain.checkers.session.passes import analyse
from splitbrain.checkers.session.replay import REPLAY_LIMIT, _results, replay  # noqa: F401
from splitbrain.harness.history import History

if TYPE_CHECKING:
    from splitbrain.checkers.analysis import Analysis


def check(history: History, options: CheckOptions | None = None, *,
          analysis: "Analysis | None" = None) -> dict[str, CheckResult]:
    """The four guarantees and their conjunction (`ALL_NAMES`), each a CheckResult.

    Pure and deterministic: the same history and options give the same results; uses
    `analysis.indexes` when run_checks hands them over, else builds them.
    """
    options = options or CheckOptions()
    from splitbrain.checkers.analysis import Analysis

    analysis = Analysis.of(history, options, analysis)
    found = analyse(history, options, analysis.indexes)
    return _results(history, options, found, analysis)
