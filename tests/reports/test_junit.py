"""junit.xml: valid JUnit, one failure per failing checker, unknown per --fail-on."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from splitbrain.reports.junit import junit_tree, write_junit

from sb_report_samples import XSS

# The Jenkins/Surefire JUnit schema, as the structural rules we rely on.
ALLOWED = {
    "testsuites": ({"name", "tests", "failures", "errors", "time", "disabled"}, {"testsuite"}),
    "testsuite": ({"name", "tests", "failures", "errors", "skipped", "time", "timestamp",
                   "hostname", "id", "package", "disabled"},
                  {"properties", "testcase", "system-out", "system-err"}),
    "properties": (set(), {"property"}),
    "property": ({"name", "value"}, set()),
    "testcase": ({"name", "classname", "time", "assertions", "status"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": ({"message", "type"}, set()),
    "error": ({"message", "type"}, set()),
    "skipped": ({"message"}, set()),
    "system-out": (set(), set()),
    "system-err": (set(), set()),
}
REQUIRED = {"testsuite": {"name", "tests"}, "testcase": {"name", "classname"},
            "property": {"name", "value"}}


def validate_junit(root: ET.Element) -> None:
    assert root.tag == "testsuites"
    for el in root.iter():
        assert el.tag in ALLOWED, f"unexpected element {el.tag}"
        attrs, children = ALLOWED[el.tag]
        assert set(el.attrib) <= attrs, f"{el.tag}: unexpected attributes {set(el.attrib) - attrs}"
        assert REQUIRED.get(el.tag, set()) <= set(el.attrib), f"{el.tag}: missing attributes"
        for c in el:
            assert c.tag in children, f"{c.tag} inside {el.tag}"
        for name in ("tests", "failures", "errors", "skipped"):
            if name in el.attrib:
                assert int(el.attrib[name]) >= 0
        if el.tag == "testcase":
            assert len([c for c in el if c.tag in ("failure", "error", "skipped")]) <= 1
    for ts in root.iter("testsuite"):
        cases = list(ts.iter("testcase"))
        assert int(ts.get("tests")) == len(cases)
        assert int(ts.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(ts.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert int(ts.get("skipped", 0)) == sum(1 for c in cases if c.find("skipped") is not None)


def test_junit_one_failure_per_failing_checker(tmp_path, sample):
    _, results = sample
    path = write_junit(str(tmp_path / "junit.xml"), results)
    root = ET.parse(path).getroot()
    validate_junit(root)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == set(results["checkers"])
    failing = {n for n, r in results["checkers"].items() if r["valid"] is False}
    assert {n for n, c in cases.items() if c.find("failure") is not None} == failing
    for n in failing:
        f = cases[n].find("failure")
        for a in results["checkers"][n]["anomalies"]:
            assert a["explanation"] in f.text
        assert f.get("message").startswith("1 anomaly: ")
    # default --fail-on unknown: an unknown checker is an error, like exit code 2
    assert cases["lost-updates"].find("error") is not None
    assert "info write" in cases["lost-updates"].find("error").get("message")
    assert cases["monotonic-reads"].find("failure") is None


def test_junit_unknown_skipped_with_fail_on_invalid(sample):
    _, results = sample
    root = junit_tree(results, fail_on="invalid").getroot()
    validate_junit(root)
    case = next(c for c in root.iter("testcase") if c.get("name") == "lost-updates")
    assert case.find("skipped") is not None and case.find("error") is None
    assert root.find("testsuite").get("skipped") == "1"


def test_junit_survives_hostile_text(xss_sample):
    _, results = xss_sample
    results["checkers"]["read-your-writes"]["anomalies"][0]["explanation"] += " \x00\x07 ]]>"
    root = ET.fromstring(ET.tostring(junit_tree(results).getroot()))
    validate_junit(root)
    text = next(c for c in root.iter("testcase") if c.get("name") == "read-your-writes").find("failure").text
    assert XSS in text and "]]>" in text


def test_junitparser_reads_it(tmp_path, sample):
    junitparser = pytest.importorskip("junitparser")
    _, results = sample
    path = write_junit(str(tmp_path / "junit.xml"), results)
    xml = junitparser.JUnitXml.fromfile(path)
    suites = list(xml) if hasattr(xml, "__iter__") else [xml]
    cases = [c for s in suites for c in s]
    assert len(cases) == len(results["checkers"])
    failures = [c.name for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)]
    assert sorted(failures) == sorted(n for n, r in results["checkers"].items() if r["valid"] is False)
