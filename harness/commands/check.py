"""`splitbrain check HISTORY`: run the checkers on a saved history (ours or Jepsen's)."""

from __future__ import annotations

import os

import click

from splitbrain.checkers.options import WORKLOADS, CheckOptions, parse_max_lag, parse_staleness_bound
from splitbrain.harness.errors import InputError


def _number(x: float | None) -> int | float | None:
    """--bank-total 100 is the integer 100 (balances are usually integers)."""
    return int(x) if x is not None and float(x).is_integer() else x


def _write_json(path: str, obj) -> None:
    from splitbrain.harness.history import dumps

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(dumps(obj))
        fh.write(b"\n")
    os.replace(tmp, path)


from splitbrain.harness.commands.check_batch import batch_files, check_batch, lin_flags, lin_options  # noqa: E402


@click.command("check")
@click.argument("histories", nargs=-1, required=True, type=click.Path(dir_okay=True))
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
@click.option("--bank-total", type=float, default=None,
              help="bank: the total every read's balances must sum to (the test's initial total).")
@click.option("--bank-negative", type=click.Choice(["forbid", "allow"]), default=None,
              help="bank: whether the test forbade negative balances (Jepsen's default) or allowed them.")
@click.option("--bank-accounts", default=None,
              help="bank: the test's accounts, comma-separated (a read naming another is an "
                   "unexpected-key).")
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
@click.option("--consistency-model", "consistency_models", multiple=True,
              help="Transactions: the claimed model(s), repeatable or comma-separated "
                   "(default strict-serializable).")
@click.option("--anomalies", "txn_anomalies", default=None,
              help="Transactions: also prohibit these anomalies (and all that imply them).")
@click.option("--assume", "txn_assume", default=None,
              help="Transactions (rw-register): opt-in version-order sources, e.g. wfr.")
@click.option("--cycle-search-timeout", type=float, default=1.0, show_default=True,
              help="Transactions: seconds of cycle search per strongly connected component.")
@lin_flags
def check_cmd(histories, workload, checker_names, staleness_bound, fmt, out, realtime_claim,
              report_dir, fail_on, quiet, version_tiebreak=None, consistency_models=(),
              txn_anomalies=None, txn_assume=None, cycle_search_timeout=1.0, max_lag=None,
              max_propagation_lag=None, bank_total=None, bank_negative=None, bank_accounts=None,
              **lin):
    """Check recorded HISTORIES (JSONL, or Jepsen history.edn) and print the verdict.

    Several files or a directory: one table (file, verdict, time), exit code the worst
    verdict. Exit 0 valid, 1 invalid, 2 unknown, 254 malformed input.
    """
    from splitbrain.checkers import run_checks
    from splitbrain.harness.verdict import exit_code
    from splitbrain.harness.history import read_history

    t_ns, k = parse_staleness_bound(staleness_bound)
    names = checker_names.split(",") if checker_names else None
    from splitbrain.checkers.transactions.models import canonical

    def _split(xs):
        return tuple(p.strip() for x in xs for p in x.split(",") if p.strip())

    models = _split(consistency_models or ())
    canonical(models)  # an unknown model name exits 254 before the history is read
    lin_opts = lin_options(**lin)

    def options_for(path: str) -> CheckOptions:
        tb = version_tiebreak if version_tiebreak is not None else _run_tiebreak(path)
        return CheckOptions(workload=workload, staleness_bound_ns=t_ns,
                            staleness_bound_versions=k, realtime_claim=realtime_claim,
                            version_tiebreak=None if tb == "none" else tb,
                            consistency_models=models,
                            txn_anomalies=_split([txn_anomalies or ""]),
                            txn_assume=_split([txn_assume or ""]),
                            cycle_search_timeout_s=cycle_search_timeout,
                            linearizable=lin_opts,
                            max_lag_ns=parse_max_lag(max_lag),
                            max_propagation_lag_ns=parse_max_lag(max_propagation_lag,
                                                                 "--max-propagation-lag"),
                            bank_total=_number(bank_total), bank_negative=bank_negative,
                            bank_accounts=_split([bank_accounts]) if bank_accounts else None)

    files = batch_files(histories)
    if files is not None:
        if report_dir:
            raise InputError("--report takes one history; check several without it")
        return check_batch(files, options_for, names, fmt, out, fail_on, quiet)
    history = histories[0]
    hist = read_history(history, fmt)
    if hist.meta.get("torn_lines"):
        click.echo(f"warning: {hist.source}:{hist.meta['torn_final_line']}: the last line is "
                   "torn (a history cut by a crash or a full disk); ignored", err=True)
    from splitbrain.checkers import infer_workload, shape_of
    from splitbrain.harness.history import check_value_shapes

    check_value_shapes(hist, shape_of(workload or infer_workload(hist)))
    opts = options_for(history)
    results = run_checks(hist, opts, names)
    from splitbrain.checkers import input_error

    bad = input_error(results)
    if bad:
        raise InputError(bad)
    if out:
        _write_json(out, results)
    report_path = None
    if report_dir:
        try:
            from splitbrain.reports.outputs import write_outputs
        except ImportError:
            raise InputError("--report: the HTML report is not available in this build")
        paths = write_outputs(report_dir, results, history=hist, test=None, fail_on=fail_on)
        report_path = paths.get("report.html")
    if not quiet:
        from splitbrain.reports.terminal import print_results

        print_results(results, source=hist.source, report_path=report_path)
    return exit_code(results["valid"], fail_on)


def _run_tiebreak(history: str) -> str | None:
    """A splitbrain run directory records its datastore in test.json: Cassandra's
    histories carry WRITETIMEs, whose ties Cassandra reconciles by value."""
    import json

    from splitbrain.harness.dbs import datastore, names

    d = history if os.path.isdir(history) else os.path.dirname(os.path.abspath(history))
    try:
        with open(os.path.join(d, "test.json"), "rb") as fh:
            db = json.loads(fh.read()).get("db")
    except (OSError, ValueError, AttributeError):
        return None
    if db not in names():
        return None
    return datastore(db).check_options.get("version_tiebreak")  # the spec says its rule
