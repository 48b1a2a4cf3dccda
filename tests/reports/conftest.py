"""Fixtures for the report tests (data lives in sb_report_samples)."""

from __future__ import annotations

import os
import shutil

import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for sb_report_samples

from splitbrain.harness.history import history_from_events
from sb_report_samples import ARTIFACTS, build_events, build_results

@pytest.fixture
def sample():
    hist = history_from_events(build_events(), source="sample.jsonl")
    return hist, build_results(hist)


@pytest.fixture
def xss_sample():
    hist = history_from_events(build_events(xss=True), source="xss.jsonl")
    return hist, build_results(hist, xss=True)


@pytest.fixture
def artifacts_dir():
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def chromium():
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed")
    from splitbrain.reports.chromium import HeadlessChromium

    with HeadlessChromium() as browser:
        yield browser
