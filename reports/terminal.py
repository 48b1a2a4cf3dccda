"""The verdict table in the terminal (rich).

Obligations: one row per checker; a failing checker's row names its first anomaly in
one line (type, key, explanation; never wrapped over several lines); the table points at
the HTML report when one was written; nothing here reads a history.
"""

from __future__ import annotations

from typing import Any

VERDICT_STYLE = {True: ("valid", "green"), False: ("INVALID", "bold red"),
                 "unknown": ("unknown", "yellow")}
NOTE_WIDTH = 110


def _verdict(valid: Any) -> tuple[str, str]:
    return VERDICT_STYLE.get(valid if valid in (True, False) else "unknown", ("unknown", "yellow"))


def _one_line(text: Any, limit: int = NOTE_WIDTH) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def first_anomaly_line(res: dict, limit: int = NOTE_WIDTH) -> str:
    """`type key k3: explanation` for the first anomaly, as one line ('' if none)."""
    anomalies = res.get("anomalies") or []
    if not anomalies:
        return ""
    a = anomalies[0]
    head = a.get("type") or "anomaly"
    if a.get("key") is not None:
        head += f" key {a['key']}"
    return _one_line(f"{head}: {a.get('explanation', '')}", limit)


def worst_example(res: dict) -> str:
    """One line: the first anomaly, the unknown reason, or key stats."""
    if res.get("anomalies"):
        return first_anomaly_line(res)
    if res.get("reason"):
        return _one_line(res["reason"])
    st = res.get("stats") or {}
    if "max_ms" in st:
        return f"staleness p50 {st.get('p50_ms')} ms, p99 {st.get('p99_ms')} ms, max {st.get('max_ms')} ms"
    return ""


def faults_line(results: dict) -> str:
    """`faults applied: partition 3, clock 2 (1 failed)` from a run's results ('' for a
    history checked without one); the reason when the nemesis made the verdict unknown."""
    nem = results.get("nemesis")
    if not isinstance(nem, dict):
        return ""
    applied, failed = nem.get("applied") or {}, nem.get("failed") or {}
    if not nem.get("requested"):
        return "faults applied: none (no nemesis requested)"
    parts = []
    for fam in nem["requested"]:
        part = f"{fam} {applied.get(fam, 0)}"
        if failed.get(fam):
            part += f" ({failed[fam]} failed)"
        parts.append(part)
    line = "faults applied: " + ", ".join(parts)
    if nem.get("reason"):
        line += f" — {nem['reason']}"
    return line


def print_results(results: dict, *, console=None, source: str | None = None,
                  report_path: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    title = "splitbrain verdict" + (f" — {escape(source)}" if source else "")
    table = Table(title=title, show_lines=False, expand=False)
    names = list(results.get("checkers", {}))
    # Name, verdict and count never shrink; the note takes what is left, cut to one line.
    table.add_column("checker", style="bold", no_wrap=True,
                     min_width=max([len(n) for n in names] + [7]))
    table.add_column("verdict", no_wrap=True, min_width=7)
    table.add_column("anomalies", justify="right", no_wrap=True, min_width=3)
    fixed = max([len(n) for n in names] + [7]) + 7 + 9 + 13  # columns, padding, borders
    table.add_column("first anomaly / notes", no_wrap=True, overflow="ellipsis",
                     max_width=max(16, min(NOTE_WIDTH, console.width - fixed)))
    for name, res in results.get("checkers", {}).items():
        text, style = _verdict(res.get("valid"))
        count = res.get("anomaly_count")
        table.add_row(escape(name), f"[{style}]{text}[/]", "" if count is None else str(count),
                      escape(worst_example(res)))
    console.print(table)
    st = results.get("stats", {})
    if st:
        console.print(f"ops: {st.get('ops', 0)}  ok: {st.get('ok', 0)}  fail: {st.get('fail', 0)}  "
                      f"info: {st.get('info', 0)}  workload: {escape(str(results.get('workload', '?')))}")
    groups = results.get("anomaly_groups")
    if groups:
        print_groups(groups, console)
    claims = (results.get("run") or {}).get("claims") or {}
    if isinstance(claims, dict) and claims.get("summary"):
        console.print(f"tested: {escape(_one_line(claims['summary'], 200))}")
    line = faults_line(results)
    if line:
        console.print(escape(line))
    text, style = _verdict(results.get("valid"))
    console.print(f"[{style}]Overall: {text}[/]")
    if report_path:
        import os

        console.print(f"report: file://{escape(os.path.abspath(report_path))}")


GROUP_ROWS = 8


def print_groups(groups: dict, console) -> None:
    """Issue 10 item 9: anomalies by what explains them, not one by one. One summary line
    ("2,489 anomalies in 41 groups, 97% on n2/n3, 90% during faults (partition)") and the
    largest groups: checker, key, node, fault window, exact count, time span, first
    witness ops."""
    from rich.markup import escape

    console.print(f"[bold]Anomaly groups:[/] {escape(groups.get('summary', ''))}")
    rows = groups.get("groups") or []
    if not rows:
        return
    width = max(60, min(NOTE_WIDTH + 20, console.width))
    for g in rows[:GROUP_ROWS]:
        span = "" if g.get("first_s") is None else f" · t={g['first_s']:.1f}–{g['last_s']:.1f}s"
        fw = g.get("first_witness") or {}
        node = g.get("node")
        line = (f"{g.get('violating_ops', 0):,} · {g.get('checker')} · key "
                f"{_one_line(g.get('key'), 16)}" + (f" · on {node}" if node is not None else "")
                + f" · {g.get('window')}{span} · first: ops {fw.get('ops', [])[:4]}")
        console.print(escape(_one_line(line, width)), highlight=False)
    more = groups.get("group_count", 0) - min(GROUP_ROWS, len(rows))
    if more > 0:
        console.print(f"… and {more:,} more group(s) in results.json / report.html")
