"""elle-cli's test histories (tests/checkers/data/elle-cli, data only) with the verdicts
elle-cli's tests assert: splitbrain, run as a user would (no flags: the workload is
inferred), must call every anomaly-proven history INVALID and no valid one INVALID."""

from __future__ import annotations

import json
import os

import pytest

from splitbrain.checkers import run_checks
from splitbrain.harness.history import read_history

DATA = os.path.join(os.path.dirname(__file__), "data", "elle-cli")
EXPECTED = json.load(open(os.path.join(DATA, "expected.json")))


def test_every_fixture_has_a_verdict():
    files = {f for f in os.listdir(DATA) if f.endswith((".json", ".edn")) and f != "expected.json"}
    assert files == set(EXPECTED) and len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_verdict_matches_the_proven_one(name):
    res = run_checks(read_history(os.path.join(DATA, name)))
    want = EXPECTED[name]["valid"]
    if want is False:
        assert res["valid"] is False, {n: r.get("reason") for n, r in res["checkers"].items()}
    else:
        assert res["valid"] is not False, {n: r["anomalies"][:1] for n, r in res["checkers"].items()}
        if want is True:
            assert res["valid"] is True


def test_a_json_array_history_reads_like_its_edn_form(tmp_path):
    h = read_history(os.path.join(DATA, "rw-register-anomaly-g2-item.json"))
    assert h.meta.get("format") == "edn" and [op.index for op in h.ops] == [1, 3]
    bad = tmp_path / "h.json"
    bad.write_text('[{"index": 0, "process": 0, "type": "invoke"')
    from splitbrain.harness.errors import InputError

    with pytest.raises(InputError, match="h.json: not valid JSON"):
        read_history(str(bad))
