"""`splitbrain check` helpers: linearizability flags and batch checking of many histories.

Obligations:
* `--lin-*` flags map one to one onto `LinearizableOptions`; bad values are InputErrors;
* several HISTORY arguments, or a directory that is not a run directory (no
  history.jsonl), check every history found (*.jsonl / *.edn / run dirs, sorted) and print
  one table: file, verdict, time, first finding; a malformed file is a row, not an abort;
* exit code = the worst verdict: invalid (1) > malformed (254) > unknown (2) > valid (0);
  `--fail-on invalid` turns a worst of unknown into 0, as for one history.
"""

from __future__ import annotations

import os
import time
from typing import Any

import click

from splitbrain.harness.errors import InputError

_HIST_EXT = (".jsonl", ".edn", ".ndjson")


def lin_flags(fn):
    opts = [
        click.option("--lin-model", default=None,
                     help="Linearizability model (register, cas-register, multi-register, mutex, set, list-append, counter, fifo-queue, unordered-queue; inferred by default)."),
        click.option("--lin-profile", default=None,
                     help="Semantics profile: splitbrain (JSONL default), knossos (EDN default), porcupine-etcd."),
        click.option("--lin-initial", default=None,
                     help="Initial state as JSON (e.g. 0, or '{\"x\":0,\"y\":0}' for multi-register)."),
        click.option("--lin-nil-read", default=None, help="A null read means: absent | unconstrained."),
        click.option("--lin-cas-fail", default=None,
                     help="Failed cas: observe-mismatch | drop | observe-all."),
        click.option("--lin-include-final", is_flag=True, default=False,
                     help="Also linearize final reads."),
        click.option("--lin-max-configs", type=int, default=None,
                     help="Search budget per partition, in configurations (default 4,000,000)."),
        click.option("--lin-threads", type=int, default=None, help="Search threads (default: CPUs)."),
        click.option("--lin-engine", default=None, help="auto | native | python."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def lin_options(lin_model=None, lin_profile=None, lin_initial=None, lin_nil_read=None,
                lin_cas_fail=None, lin_include_final=False, lin_max_configs=None,
                lin_threads=None, lin_engine=None) -> Any:
    from splitbrain.checkers.linearizable import LinearizableOptions, parse_initial

    kw: dict[str, Any] = {"model": lin_model, "profile": lin_profile,
                          "nil_read": lin_nil_read, "cas_fail": lin_cas_fail,
                          "include_final": lin_include_final, "initial": parse_initial(lin_initial)}
    if lin_max_configs is not None:
        kw["max_configs"] = lin_max_configs
    if lin_threads is not None:
        kw["threads"] = lin_threads
    if lin_engine is not None:
        kw["engine"] = lin_engine
    return LinearizableOptions(**kw).validate()


def batch_files(paths: tuple[str, ...]) -> list[str] | None:
    """None for the one-history case; else every history under the arguments."""
    if len(paths) == 1:
        p = paths[0]
        if not os.path.isdir(p) or os.path.exists(os.path.join(p, "history.jsonl")):
            return None
    out: list[str] = []
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"{p}: no such file or directory")
        if not os.path.isdir(p):
            out.append(p)
            continue
        if os.path.exists(os.path.join(p, "history.jsonl")):
            out.append(os.path.join(p, "history.jsonl"))
            continue
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for fn in sorted(files):
                if fn.lower().endswith(_HIST_EXT):
                    out.append(os.path.join(root, fn))
    if not out:
        raise InputError(f"{', '.join(paths)}: no history.jsonl and no histories "
                         f"(*.jsonl, *.edn) found")
    return out


def check_batch(files: list[str], options_for, names, fmt, out, fail_on: str, quiet: bool) -> int:
    """`options_for(path)` gives each file's CheckOptions (a run's test.json may say more)."""
    from splitbrain.checkers import run_checks
    from splitbrain.checkers import infer_workload, input_error, shape_of
    from splitbrain.harness.history import check_value_shapes, dumps, read_history
    from splitbrain.reports.terminal import first_anomaly_line

    rows = []
    all_results: dict[str, Any] = {}
    for path in files:
        t0 = time.perf_counter()
        try:
            hist = read_history(path, fmt)
            wl = options_for(path).workload
            check_value_shapes(hist, shape_of(wl or infer_workload(hist)))
            t1 = time.perf_counter()
            res = run_checks(hist, options_for(path), names)
            bad = input_error(res)
            if bad:
                raise InputError(bad)
            verdict: Any = res["valid"]
            note = ""
            for r in res["checkers"].values():
                if r.get("valid") is False:
                    note = first_anomaly_line(r, 160)
                    break
                if r.get("valid") == "unknown" and not note:
                    note = str(r.get("reason") or "")[:100]
            all_results[path] = res
        except InputError as e:
            t1 = time.perf_counter()
            verdict, note = "error", str(e)[:100]
            all_results[path] = {"valid": "error", "error": str(e)}
        rows.append((path, verdict, t1 - t0, time.perf_counter() - t1, note))
    if out:
        d = os.path.dirname(os.path.abspath(out))
        os.makedirs(d, exist_ok=True)
        with open(out, "wb") as fh:
            fh.write(dumps({"histories": all_results}) + b"\n")
    if not quiet:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        if not console.is_terminal:  # piped into a file or CI log: do not fold at 80
            console = Console(width=160)
        label = {True: "[green]valid[/]", False: "[red]INVALID[/]", "unknown": "[yellow]unknown[/]",
                 "error": "[magenta]error[/]"}
        t = Table(title=f"{len(rows)} histories", show_lines=False)
        for c in ("file", "verdict", "load s", "check s", "first finding"):
            t.add_column(c, overflow="fold")
        base = os.path.commonpath([os.path.abspath(r[0]) for r in rows]) if len(rows) > 1 else ""
        for path, v, tl, tc, note in rows:
            shown = os.path.relpath(os.path.abspath(path), base) if base else path
            t.add_row(shown, label.get(v, str(v)), f"{tl:.3f}", f"{tc:.3f}", note)
        console.print(t)
        counts = {k: sum(1 for r in rows if r[1] == k) for k in (True, False, "unknown", "error")}
        console.print(f"valid {counts[True]} · invalid {counts[False]} · unknown "
                        f"{counts['unknown']} · error {counts['error']} · check time "
                        f"{sum(r[3] for r in rows):.3f} s")
    verdicts = [r[1] for r in rows]
    if any(v is False for v in verdicts):
        return 1
    if "error" in verdicts:
        return 254
    if "unknown" in verdicts:
        return 0 if fail_on == "invalid" else 2
    return 0
