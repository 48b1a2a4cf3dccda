"""Knossos' own histories (jepsen-io/knossos `data/`, copied into tests/checkers/data).

Knossos proves each verdict: everything under `good/` is linearizable, everything under
`bad/` is not. splitbrain has no linearizability checker here (another module), so the
meaningful promise of the other checkers is: no anomaly on a linearizable history (a
linearizable history satisfies every property they check), and never `valid` on a
non-linearizable one — their histories repeat values (Knossos registers range over 0-4),
are keyless or are mutexes, so `unknown` with a reason is the honest answer there.
"""

from __future__ import annotations

import glob
import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.harness.history import read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "knossos")
GOOD = sorted(glob.glob(os.path.join(DATA, "*", "good", "*.edn")))
BAD = sorted(glob.glob(os.path.join(DATA, "*", "bad", "*.edn")))


def _name(p: str) -> str:
    return os.path.relpath(p, DATA)


def test_the_corpus_is_there():
    assert len(GOOD) >= 100 and len(BAD) >= 8


@pytest.mark.parametrize("path", GOOD, ids=_name)
def test_no_good_history_gets_an_anomaly(path):
    res = run_checks(read_history(path))
    for name, r in res["checkers"].items():
        assert r["anomaly_count"] == 0, (name, r["anomalies"][:2])
        assert r["valid"] is not False, name
        if r["valid"] == "unknown":
            assert r["reason"], name


@pytest.mark.parametrize("path", BAD, ids=_name)
def test_no_bad_history_gets_valid(path):
    res = run_checks(read_history(path))
    assert res["valid"] is not True, {n: r["stats"] for n, r in res["checkers"].items()}


def test_keyless_histories_are_checked_as_one_register():
    # before issue 10 every keyless history was "valid" with 0 reads checked
    h = read_history(os.path.join(DATA, "cas-register", "good", "cas-register-bug.edn"))
    integ = run_checks(h)["checkers"]["integrity"]
    assert integ["stats"]["keys"] == 1 and integ["stats"]["reads_checked"] > 0
