"""Write every report file of a run into one directory.

    paths = write_outputs("store/t/20250101T120000", results, history=hist, test=cfg)
    paths["report.html"], paths["junit.xml"], paths["summary.md"], paths["results.json"]

Used by `splitbrain check --report`, `splitbrain report RUN_DIR` and the runner. The
results dict is architecture §5; `history` (a `harness.history.History`) feeds the charts
and witness timelines and may be None (the page then shows verdicts and anomalies only).
"""

from __future__ import annotations

import os

from splitbrain.harness.history import History, dumps
from splitbrain.reports.html import discover_node_logs, write_html
from splitbrain.reports.junit import write_junit
from splitbrain.reports.summary import write_summary

REPORT_FILES = ("report.html", "junit.xml", "summary.md", "results.json")


def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(dumps(obj))
        fh.write(b"\n")
    os.replace(tmp, path)


def write_outputs(out_dir: str, results: dict, *, history: History | None = None,
                  test: dict | None = None, node_logs: dict[str, list[str]] | None = None,
                  fail_on: str = "unknown", write_results: bool = True) -> dict[str, str]:
    """Write report.html, junit.xml, summary.md (and results.json) into `out_dir`.

    Returns {file name: path}. `node_logs` maps node -> paths relative to `out_dir`;
    when None, files under `out_dir/nodes/<node>/` are linked. `fail_on` decides how an
    unknown verdict appears in junit.xml (see `reports.junit`), matching `--fail-on`.
    """
    os.makedirs(out_dir, exist_ok=True)
    if node_logs is None:
        node_logs = discover_node_logs(out_dir)
    title = test.get("name") if isinstance(test, dict) else None
    paths: dict[str, str] = {}
    if write_results:
        paths["results.json"] = os.path.join(out_dir, "results.json")
        _write_json(paths["results.json"], results)
    paths["report.html"] = write_html(os.path.join(out_dir, "report.html"), results,
                                      history=history, test=test, node_logs=node_logs)
    href = os.path.abspath(paths["report.html"])
    paths["junit.xml"] = write_junit(os.path.join(out_dir, "junit.xml"), results,
                                     fail_on=fail_on, report_href=href)
    paths["summary.md"] = write_summary(os.path.join(out_dir, "summary.md"), results,
                                        title=title, report_href=href)
    return paths
