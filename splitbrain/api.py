"""Python API for gating CI with ordinary tests.

    import splitbrain
    result = splitbrain.run(db="redis", workload="register", nemesis="partition", time_limit=20)
    assert result.valid, result.summary

`run` takes the same settings as `splitbrain run` (underscores for dashes) and returns a
`RunResult`; `check` runs the checkers on a saved history. A run stopped by Ctrl-C or
SIGTERM cleans up first, then raises KeyboardInterrupt (its history so far stays in the run
dir), so the caller, a pytest session gating CI say, stops too instead of going on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["run", "check", "RunResult"]


@dataclass(frozen=True)
class RunResult:
    valid: Any  # True, False or "unknown"
    results: dict | None
    run_dir: str | None
    report_path: str | None
    exit_code: int

    def __bool__(self) -> bool:
        return self.valid is True

    @property
    def summary(self) -> str:
        """One line per failing checker naming its first anomaly, plus the report path."""
        if self.results is None:
            return f"no verdict (exit {self.exit_code}); run dir {self.run_dir}"
        lines = [f"verdict: {self.valid}"]
        for name, res in self.results.get("checkers", {}).items():
            if res.get("valid") is True:
                continue
            first = (res.get("anomalies") or [{}])[0].get("explanation") or res.get("reason") or ""
            lines.append(f"  {name}: {res.get('valid')} ({res.get('anomaly_count', 0)} anomalies) {first}")
        if self.report_path:
            lines.append(f"report: {self.report_path}")
        elif self.run_dir:
            lines.append(f"run dir: {self.run_dir}")
        return "\n".join(lines)


def run(config: str | None = None, **settings: Any) -> RunResult:
    """Run one test (see `splitbrain run --help` for the settings) and return its result."""
    from splitbrain.harness.config import build_test
    from splitbrain.harness.runner import run_test

    settings.setdefault("test_count", 1)
    test = build_test(settings, config)
    out = run_test(test)
    if out.interrupted:
        # run_test has cleaned up and kept the history; the signal is the caller's too
        raise KeyboardInterrupt(f"splitbrain run interrupted (cleaned up); the history so far "
                                f"is in {out.run_dir}")
    return RunResult(valid=out.valid, results=out.results,
                     run_dir=out.run_dir, report_path=out.report_path, exit_code=out.exit_code)


def check(history_path: str, **options: Any) -> RunResult:
    """Check a saved history; options are CheckOptions fields (workload, staleness bounds…)."""
    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.verdict import exit_code
    from splitbrain.harness.history import read_history

    names = options.pop("checkers", None)
    results = run_checks(read_history(history_path), CheckOptions(**options), names)
    return RunResult(valid=results["valid"], results=results, run_dir=None, report_path=None,
                     exit_code=exit_code(results["valid"]))
