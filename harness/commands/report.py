"""`splitbrain report RUN_DIR`: regenerate report.html, junit.xml and summary.md.

Reads RUN_DIR/history.jsonl, RUN_DIR/results.json (re-running the checkers when it is
absent) and RUN_DIR/test.json (when present). Exits like `check`: 0 valid, 1 invalid,
2 unknown (0 with --fail-on invalid), 254 bad input.
"""

from __future__ import annotations

import os

import click

from splitbrain.harness.errors import InputError


def _load_json(path: str, what: str):
    from splitbrain.harness.history import loads

    try:
        with open(path, "rb") as fh:
            return loads(fh.read())
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    except ValueError as e:
        raise InputError(f"{path}: {what} is not valid JSON: {str(e).splitlines()[0]}") from None


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Write the reports here instead of RUN_DIR.")
@click.option("--recheck", is_flag=True, help="Re-run the checkers even if results.json exists.")
@click.option("--fail-on", type=click.Choice(["invalid", "unknown"]), default="unknown",
              show_default=True, help="unknown: exit 2 on unknown; invalid: unknown exits 0.")
@click.option("--quiet", "-q", is_flag=True, help="No table; just the exit code.")
def report_cmd(run_dir, out_dir, recheck, fail_on, quiet):
    """Regenerate every report of a saved run directory."""
    from splitbrain.harness.verdict import exit_code
    from splitbrain.harness.history import read_history
    from splitbrain.reports.outputs import write_outputs

    if not os.path.isdir(run_dir):
        raise InputError(f"{run_dir}: no such run directory")
    hist_path = os.path.join(run_dir, "history.jsonl")
    res_path = os.path.join(run_dir, "results.json")
    test_path = os.path.join(run_dir, "test.json")
    history = read_history(hist_path) if os.path.exists(hist_path) else None
    test = _load_json(test_path, "the test configuration") if os.path.exists(test_path) else None
    if test is not None and not isinstance(test, dict):
        raise InputError(f"{test_path}: expected a JSON object")
    if os.path.exists(res_path) and not recheck:
        results = _load_json(res_path, "results")
        if not isinstance(results, dict) or "checkers" not in results:
            raise InputError(f"{res_path}: not a splitbrain results file (no \"checkers\")")
    else:
        if history is None:
            raise InputError(f"{run_dir}: has neither results.json nor history.jsonl")
        from splitbrain.checkers import run_checks
        from splitbrain.checkers.options import CheckOptions
        from splitbrain.workloads import history_of

        from splitbrain.harness.dbs import datastore, names

        recorded = test or {}
        implied = (datastore(recorded["db"]).check_options
                   if recorded.get("db") in names() else {})
        results = run_checks(history, CheckOptions.from_test(
            recorded, history=history_of(recorded.get("workload")), **implied),
            recorded.get("checkers") or None)
    out = out_dir or run_dir
    node_logs = None
    if out_dir and os.path.abspath(out_dir) != os.path.abspath(run_dir):
        # Links must stay relative to the report, so point them back at the run dir.
        from splitbrain.reports.html import discover_node_logs

        node_logs = {n: [os.path.relpath(os.path.join(run_dir, p), out_dir) for p in ps]
                     for n, ps in discover_node_logs(run_dir).items()}
    paths = write_outputs(out, results, history=history, test=test, node_logs=node_logs,
                          fail_on=fail_on, write_results=(out != run_dir) or not os.path.exists(res_path) or recheck)
    if not quiet:
        from splitbrain.reports.terminal import print_results

        print_results(results, source=run_dir, report_path=paths["report.html"])
    return exit_code(results.get("valid"), fail_on)
