"""cas-register on Redis: Lua compare-and-set, checked as a register."""

import pytest

from splitbrain.harness.config import build_test

pytestmark = [pytest.mark.root, pytest.mark.redis]


def test_cas_register_on_redis_primary_is_valid(tmp_path):
    from splitbrain.harness.history import read_history
    from splitbrain.harness.runner import run_test

    out = run_test(build_test({"workload": "cas-register", "nemesis": "none", "time_limit": 4,
                               "read_from": "primary", "concurrency": 4, "rate": 300,
                               "quiesce": 0.5, "store": str(tmp_path / "store")}))
    assert out.results["valid"] is True, out.results
    hist = read_history(f"{out.run_dir}/history.jsonl")
    cas = [o for o in hist.ops if o.f == "cas"]
    assert any(o.type == "ok" for o in cas)
