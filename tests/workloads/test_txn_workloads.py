"""The transactional workloads' generators and the Redis txn reply mapping."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from splitbrain.harness.dbs.redis_txn import SCRIPTS, completion, read_only
from splitbrain.harness.errors import InputError
from splitbrain.workloads import get_workload


@pytest.mark.parametrize("name,wf", [("txn-list-append", "append"), ("txn-rw-register", "w")])
def test_txns_have_1_to_5_mops_unique_values_and_rotating_keys(name, wf):
    wl = get_workload(name, keys_active=4, max_writes_per_key=8)
    rng = random.Random(3)
    ops = [wl.next_op(0, rng) for _ in range(3000)]
    assert all(op["f"] == "txn" and 1 <= len(op["value"]) <= 5 for op in ops)
    assert Counter(len(op["value"]) for op in ops).keys() == {1, 2, 3, 4, 5}
    writes = [(k, v) for op in ops for f, k, v in op["value"] if f == wf]
    reads = [m for op in ops for m in op["value"] if m[0] == "r"]
    assert len(set(writes)) == len(writes), "values unique per key"
    assert all(v is None for _, _, v in reads)
    per_key = Counter(k for k, _ in writes)
    assert max(per_key.values()) <= 8, "keys retire after their write budget"
    assert set(wl.final_keys()) >= set(per_key) and len(wl.final_keys()) > 4
    assert 0.4 < len(reads) / (len(reads) + len(writes)) < 0.6


def test_bad_options_are_input_errors():
    with pytest.raises(InputError):
        get_workload("txn-list-append", keys_active=0)
    with pytest.raises(InputError):
        get_workload("txn-rw-register", min_mops=3, max_mops=2)


def test_redis_reply_mapping():
    mops = [["append", 1, 5], ["r", 1, None], ["r", 2, None]]
    comp = completion("txn-list-append", mops, [2, [b"4", b"5"], []])
    assert comp == {"type": "ok", "value": [["append", 1, 5], ["r", 1, [4, 5]], ["r", 2, []]]}
    mops = [["w", 1, 9], ["r", 1, None], ["r", 2, None]]
    comp = completion("txn-rw-register", mops, [[b"9", 3, 1], [b"9", b"3", 1], [b"", 0, 0]])
    assert comp["value"] == [["w", 1, 9], ["r", 1, 9], ["r", 2, None]]
    assert comp["versions"] == [3, 3, None]
    assert read_only([["r", 1, None]]) and not read_only(mops)
    # read-only scripts may run on replicas; scripts with writes must be refused there
    assert SCRIPTS[("txn-list-append", False)].startswith("#!lua flags=no-writes")
    assert SCRIPTS[("txn-list-append", True)].startswith("#!lua\n")
