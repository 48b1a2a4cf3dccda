"""Shared fixtures and markers.

Markers (see pyproject): root (netns/iptables, real processes), redis, browser, docker,
slow. `pytest -m "not root and not browser and not docker"` is the fast suite.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
PEER_HISTORIES = os.path.join(SHARED, "peer-histories")

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# No hypothesis example deadline anywhere: the suite shares its 2 cores between two lanes
# (scripts/test.sh), and a slow example is not a failure (no timing assertions in tests).
# A test's own @settings still wins for everything else.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("splitbrain", deadline=None)
_hyp_settings.load_profile("splitbrain")

# A lane that a non-interactive shell starts in the background (scripts/test.sh's pure lane,
# CI) inherits SIGINT ignored, and so would every CLI process a test starts: the Ctrl-C
# tests would then see the check run to its end. The suite wants SIGINT to mean Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def pytest_collection_modifyitems(config, items):
    # Real-resource tests need root; skipping them loudly is better than failing on a laptop.
    if not is_root():
        skip = pytest.mark.skip(reason="needs root (network namespaces, iptables)")
        for item in items:
            if "root" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def events_to_history():
    from splitbrain.harness.history import history_from_events

    return history_from_events
