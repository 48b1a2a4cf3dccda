"""`splitbrain check HISTORY`: run the checkers on a saved history (ours or Jepsen's)."""

from __future__ import annotations

import os

import click

from checkers.options import WORKLOADS, CheckOptions, parse_max_lag, parse_staleness_bound
from harness.errors import InputError


def _write_json(path: str, obj) -> None:
    from harness.history import dumps

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(dumps(obj))
        fh.write(b"\n")
    os.replace(tmp, path)


@click.command("check")
@click.argument("history", type=click.Path(dir_okay=True))
@click.option("--workload", type=click.Choice(WORKLOADS), default=None,
              help="Workload semantics (inferred from the ops when absent).")
@click.option("--checkers", "checker_names", default=None,
              help="Comma-separated checker names (default: the workload's checkers).")
@click.option("--staleness-bound", default=None,
              help="Report reads staler than this: a time (250ms, 1.5s), versions (3v), or both (1s,3v).")
@click.option("--max-lag", default=None,
              help="queue: polls further behind than this (500ms, 2s) make queue-lag invalid.")
@click.option("--max-propagation-lag", default=None,
              help="propagation: a p99 event lag (source commit -> derived read) over this is invalid.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "edn"]), default=None,
              help="History format (inferred from the extension).")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="Write results.json here.")
@click.option("--realtime-claim", is_flag=True, default=False,
              help="The store claims real-time ordering (single leader/consensus): judge stale final values as violations.")
@click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False),
              help="Also write report.html, junit.xml and summary.md into this directory.")
@click.option("--fail-on", type=click.Choice(["invalid", "unknown"]), default="unknown",
              show_default=True, help="unknown: exit 2 on unknown; invalid: unknown exits 0.")
@click.option("--version-tiebreak", type=click.Choice(["none", "cassandra"]), default=None,
              help="How the store orders two values stamped with one version (cassandra: "
                   "equal WRITETIMEs, the greater serialised value wins). Default: read from "
                   "the run's test.json, else none (a tie is a version-conflict).")
@click.option("--quiet", "-q", is_flag=True, help="No table; just the exit code (and --out).")
def check_cmd(history, workload, checker_names, staleness_bound, fmt, out, realtime_claim,
              report_dir, fail_on, quiet, version_tiebreak=None, max_lag=None,
              max_propagation_lag=None):
    """Check a recorded HISTORY (JSONL, or a Jepsen history.edn) and print the verdict.

    Exit 0 valid, 1 invalid, 2 unknown, 254 malformed input.
    """
    from checkers import run_checks
    from harness.cli import exit_code_for
    from harness.history import read_history

    t_ns, k = parse_staleness_bound(staleness_bound)
    names = checker_names.split(",") if checker_names else None
    hist = read_history(history, fmt)
    if version_tiebreak is None:
        version_tiebreak = _run_tiebreak(history)
    opts = CheckOptions(workload=workload, staleness_bound_ns=t_ns,
                        staleness_bound_versions=k, realtime_claim=realtime_claim,
                        version_tiebreak=None if version_tiebreak == "none" else version_tiebreak,
                        max_lag_ns=parse_max_lag(max_lag),
                        max_propagation_lag_ns=parse_max_lag(max_propagation_lag,
                                                             "--max-propagation-lag"))
    results = run_checks(hist, opts, names)
    if out:
        _write_json(out, results)
    report_path = None
    if report_dir:
        try:
            from reports.outputs import write_outputs
        except ImportError:
            raise InputError("--report: the HTML report is not available in this build")
        paths = write_outputs(report_dir, results, history=hist, test=None, fail_on=fail_on)
        report_path = paths.get("report.html")
    if not quiet:
        from reports.terminal import print_results

        print_results(results, source=hist.source, report_path=report_path)
    code = exit_code_for(results["valid"])
    if code == 2 and fail_on == "invalid":
        code = 0
    return code


def _run_tiebreak(history: str) -> str | None:
    """A splitbrain run directory records its datastore in test.json: Cassandra's
    histories carry WRITETIMEs, whose ties Cassandra reconciles by value."""
    import json

    d = history if os.path.isdir(history) else os.path.dirname(os.path.abspath(history))
    try:
        with open(os.path.join(d, "test.json"), "rb") as fh:
            db = json.loads(fh.read()).get("db")
    except (OSError, ValueError, AttributeError):
        return None
    return "cassandra" if db == "cassandra" else None
