"""Jepsen's own checker_test.clj histories (tests/checkers/data/jepsen-checker, data only)
with the :valid? Jepsen asserts: splitbrain, run as a user would, must never call a
Jepsen-valid history INVALID nor an INVALID one valid (unknown is allowed)."""

from __future__ import annotations

import json
import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "jepsen-checker")
EXPECTED = json.load(open(os.path.join(DATA, "expected.json")))


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_never_the_opposite_verdict(name, named):
    workload = EXPECTED[name]["workload"] if named else None  # as `--workload` or inferred
    res = run_checks(read_history(os.path.join(DATA, name)), CheckOptions(workload=workload))
    assert res["valid"] in (EXPECTED[name]["valid"], "unknown"), res


def test_reads_alone_are_unknown_not_garbage():
    # regression: a file holding one `read 0` was judged a register whose 0 nobody wrote
    # (INVALID garbage-read); Jepsen's counter test asserts it valid
    h = read_history(os.path.join(DATA, "counter-initial-read.edn"))
    res = run_checks(h)
    assert res["workload"] == "counter" and res["valid"] == "unknown"


def test_decided_where_the_checkers_read_the_shape():
    # with writes, the counter and set checkers decide: Jepsen's invalid stays INVALID
    for name in ("counter-interleaved-concurrent.edn", "counter-rolling-reads-and-writes.edn",
                 "set-final-read.edn"):
        assert run_checks(read_history(os.path.join(DATA, name)))["valid"] is False


EXACT = sorted(n for n in EXPECTED if n.startswith(("set-full-", "total-queue-", "queue-"))
               and n != "queue-possible-enqueue.edn")  # unknown: nothing to examine


@pytest.mark.parametrize("name", EXACT)
def test_set_full_and_queue_cases_agree_exactly(name):
    # Jepsen's set-full distinguishes unknown (never read, or absent only concurrently)
    # from lost (absent in a read that began after the add completed): so do we
    res = run_checks(read_history(os.path.join(DATA, name)))
    assert res["valid"] == EXPECTED[name]["valid"], res["checkers"]
