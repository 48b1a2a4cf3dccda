"""`junit.xml`: one testcase per checker, so CI dashboards show which guarantee broke.

Mapping (documented contract for CI users):

* valid          -> a passing `<testcase>`;
* invalid        -> `<failure type="anomaly" message="N anomalies: first explanation">` whose
                    text lists every reported anomaly's explanation (the list is capped in
                    results.json; the message keeps the exact count);
* unknown        -> follows `--fail-on`, like the exit code does:
                    `--fail-on unknown` (the default, exit 2) -> `<error type="unknown">`,
                    `--fail-on invalid` (exit 0 on unknown)   -> `<skipped>`.
                    Either way the message carries the checker's reason. So a CI job that
                    tolerates unknown verdicts also gets a green test report, and one that
                    does not sees a red one; never a silent pass.

The layout follows the common Jenkins/Surefire schema: `<testsuites>` > `<testsuite name
tests failures errors skipped time>` > `<testcase classname name time>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

FAIL_ON = ("invalid", "unknown")


def _clean(text: Any) -> str:
    """XML 1.0 cannot carry most control characters; replace them rather than fail."""
    s = "" if text is None else str(text)
    return "".join(c if (c in "\t\n\r" or ord(c) >= 0x20) and c not in "\ufffe\uffff" else "\ufffd"
                   for c in s)


def _failure_text(res: dict) -> str:
    lines = []
    for i, a in enumerate(res.get("anomalies") or [], 1):
        where = []
        if a.get("key") is not None:
            where.append(f"key {a['key']}")
        if a.get("process") is not None:
            where.append(f"process {a['process']}")
        if a.get("ops"):
            where.append("ops " + ", ".join(str(o) for o in a["ops"]))
        lines.append(f"{i}. [{a.get('type', 'anomaly')}] {a.get('explanation', '')}"
                     + (f" ({'; '.join(where)})" if where else ""))
    count = res.get("anomaly_count")
    if count is not None and count > len(lines):
        lines.append(f"... and {count - len(lines)} more (counts are exact, the list is capped)")
    if res.get("reason"):
        lines.append(f"reason: {res['reason']}")
    return "\n".join(lines)


def junit_tree(results: dict, *, suite: str = "splitbrain", fail_on: str = "unknown",
               report_href: str | None = None) -> ET.ElementTree:
    """The JUnit document for a results dict (architecture §5)."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, got {fail_on!r}")
    checkers = results.get("checkers") or {}
    workload = results.get("workload") or "history"
    timings = results.get("timings_s") or {}
    total_time = sum(v for v in timings.values() if isinstance(v, (int, float)))
    failures = errors = skipped = 0
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=f"{suite}.{workload}")
    for name, res in checkers.items():
        tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{workload}", name=name,
                           time="0")
        valid = res.get("valid")
        if valid is False:
            failures += 1
            anomalies = res.get("anomalies") or []
            count = res.get("anomaly_count", len(anomalies))
            first = anomalies[0].get("explanation", "") if anomalies else ""
            msg = f"{count} anomal{'y' if count == 1 else 'ies'}" + (f": {first}" if first else "")
            el = ET.SubElement(tc, "failure", type="anomaly", message=_clean(msg))
            el.text = _clean(_failure_text(res))
        elif valid is not True:
            reason = _clean(res.get("reason") or "the checker could not decide")
            # not applicable to this history (staleness of a plain register): left out of
            # the overall verdict and the exit code, so skipped here too
            if fail_on == "unknown" and res.get("applicable") is not False:
                errors += 1
                el = ET.SubElement(tc, "error", type="unknown", message=f"unknown: {reason}")
                el.text = _clean(_failure_text(res) or reason)
            else:
                skipped += 1
                ET.SubElement(tc, "skipped", message=f"unknown: {reason}")
        if report_href:
            out = ET.SubElement(tc, "system-out")
            out.text = _clean(f"report: {report_href}")
    stats = results.get("stats") or {}
    for el in (root, ts):
        el.set("tests", str(len(checkers)))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
        el.set("time", f"{total_time:.3f}")
    ts.set("skipped", str(skipped))
    if stats:
        props = ET.Element("properties")
        for k in ("ops", "ok", "fail", "info", "nemesis"):
            if k in stats:
                ET.SubElement(props, "property", name=k, value=str(stats[k]))
        ET.SubElement(props, "property", name="verdict", value=str(results.get("valid")).lower())
        ts.insert(0, props)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: str, results: dict, *, fail_on: str = "unknown",
                report_href: str | None = None) -> str:
    tree = junit_tree(results, fail_on=fail_on, report_href=report_href)
    tmp = path + ".tmp"
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    import os

    os.replace(tmp, path)
    return path
