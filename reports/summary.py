"""`summary.md`: a Markdown verdict table to paste into a review or a CI step summary.

When `$GITHUB_STEP_SUMMARY` is set (GitHub Actions), the same text is appended to it.
Cell text is escaped so values from a history cannot break the table or inject HTML.
"""

from __future__ import annotations

import os
from typing import Any

ICON = {True: "✅ valid", False: "❌ **INVALID**", "unknown": "⚠️ unknown"}
MAX_CELL = 240


def verdict_text(valid: Any) -> str:
    return ICON[valid] if valid is True or valid is False else ICON["unknown"]


def md_cell(text: Any, limit: int = MAX_CELL) -> str:
    """One table cell: single line, pipes/HTML escaped, bounded length."""
    s = " ".join(str("" if text is None else text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`"),
                 ("*", "\\*"), ("_", "\\_"), ("[", "\\["), ("]", "\\]")):
        s = s.replace(a, b)
    return s


def first_note(res: dict) -> str:
    anomalies = res.get("anomalies") or []
    if anomalies:
        a = anomalies[0]
        return f"{a.get('type', 'anomaly')}: {a.get('explanation', '')}"
    if res.get("reason"):
        return res["reason"]
    return ""


def summary_markdown(results: dict, *, title: str | None = None,
                     report_href: str | None = None) -> str:
    valid = results.get("valid")
    head = f"### splitbrain: {verdict_text(valid)}"
    if title:
        head += f" — {md_cell(title, 120)}"
    lines = [head, ""]
    st = results.get("stats") or {}
    if st:
        lines.append(f"workload **{md_cell(results.get('workload') or '?', 40)}** · "
                     f"{st.get('ops', 0)} ops ({st.get('ok', 0)} ok, {st.get('fail', 0)} fail, "
                     f"{st.get('info', 0)} info)")
        lines.append("")
    lines += ["| checker | verdict | anomalies | first anomaly / reason |",
              "|---|---|---:|---|"]
    for name, res in (results.get("checkers") or {}).items():
        count = res.get("anomaly_count")
        lines.append(f"| {md_cell(name, 60)} | {verdict_text(res.get('valid'))} | "
                     f"{'' if count is None else count} | {md_cell(first_note(res))} |")
    lines.append("")
    from splitbrain.reports.terminal import faults_line

    faults = faults_line(results)
    if faults:
        lines += [md_cell(faults, 400), ""]
    groups = results.get("anomaly_groups")
    if groups:
        lines += [f"**Anomaly groups:** {md_cell(groups.get('summary'))}", "",
                  "| checker | key | node | during | count | span (s) |",
                  "|---|---|---|---|---:|---|"]
        for g in (groups.get("groups") or [])[:10]:
            span = "" if g.get("first_s") is None else f"{g['first_s']}–{g['last_s']}"
            lines.append(f"| {md_cell(g.get('checker'), 40)} | {md_cell(g.get('key'), 40)} | "
                         f"{md_cell(g.get('node'), 20)} | {md_cell(g.get('window'), 40)} | "
                         f"{g.get('violating_ops', 0)} | {span} |")
        lines.append("")
    if report_href:
        lines.append(f"Full report: `{report_href.replace('`', '')}`")
        lines.append("")
    return "\n".join(lines)


def write_summary(path: str, results: dict, *, title: str | None = None,
                  report_href: str | None = None, step_summary: bool = True) -> str:
    """Write summary.md; also append it to $GITHUB_STEP_SUMMARY when that is set."""
    text = summary_markdown(results, title=title, report_href=report_href)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    gh = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary and gh:
        with open(gh, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return path
