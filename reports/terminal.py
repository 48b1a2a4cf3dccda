"""The verdict table in the terminal (rich)."""

from __future__ import annotations

from typing import Any

VERDICT_STYLE = {True: ("valid", "green"), False: ("INVALID", "bold red"),
                 "unknown": ("unknown", "yellow")}


def _verdict(valid: Any) -> tuple[str, str]:
    return VERDICT_STYLE.get(valid if valid in (True, False) else "unknown", ("unknown", "yellow"))


def worst_example(res: dict) -> str:
    """One line: the first anomaly's explanation, the unknown reason, or key stats."""
    if res.get("anomalies"):
        return res["anomalies"][0].get("explanation", "")
    if res.get("reason"):
        return res["reason"]
    st = res.get("stats") or {}
    if "max_ms" in st:
        return f"staleness p50 {st.get('p50_ms')} ms, p99 {st.get('p99_ms')} ms, max {st.get('max_ms')} ms"
    return ""


def print_results(results: dict, *, console=None, source: str | None = None,
                  report_path: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    title = "splitbrain verdict" + (f" — {source}" if source else "")
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("checker", style="bold")
    table.add_column("verdict")
    table.add_column("anomalies", justify="right")
    table.add_column("worst example / notes", overflow="fold", max_width=100)
    for name, res in results.get("checkers", {}).items():
        text, style = _verdict(res.get("valid"))
        count = res.get("anomaly_count")
        table.add_row(name, f"[{style}]{text}[/]", "" if count is None else str(count),
                      worst_example(res))
    console.print(table)
    st = results.get("stats", {})
    if st:
        console.print(f"ops: {st.get('ops', 0)}  ok: {st.get('ok', 0)}  fail: {st.get('fail', 0)}  "
                      f"info: {st.get('info', 0)}  workload: {results.get('workload', '?')}")
    text, style = _verdict(results.get("valid"))
    console.print(f"[{style}]Overall: {text}[/]")
    if report_path:
        console.print(f"report: {report_path}")
