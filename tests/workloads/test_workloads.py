"""Workload generators: unique values, bounded writes per key, complete final keys."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from splitbrain.checkers import DEFAULTS
from splitbrain.harness.errors import InputError
from splitbrain.workloads import NAMES, get_workload

WRITES = {"register": {"write", "cas"}, "list-append": {"append"}, "set": {"add"},
          "counter": {"add"}}


def _run_threads(wl, threads: int = 8, per_thread: int = 2000) -> list[dict]:
    out: list[list[dict]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(i):
        rng = random.Random(i)
        start.wait()
        for _ in range(per_thread):
            out[i].append(wl.next_op(i, rng))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return [op for ops in out for op in ops]


def _written(op):
    return op["value"][1] if op["f"] == "cas" else op["value"]


@pytest.mark.parametrize("name", ["register", "list-append", "set"])
def test_written_values_unique_across_threads(name):
    wl = get_workload(name, keys_active=4, max_writes_per_key=30,
                      **({"cas": True} if name == "register" else {}))
    ops = _run_threads(wl)
    writes = [op for op in ops if op["f"] in WRITES[name]]
    assert len(writes) > 1000
    values = Counter(_written(op) for op in writes)
    assert max(values.values()) == 1, values.most_common(3)
    reads = [op for op in ops if op["f"] == "read"]
    assert reads and all(op["value"] is None for op in reads)


@pytest.mark.parametrize("name,default_bound", [("register", 100), ("list-append", 50),
                                                ("set", 100), ("counter", 100)])
def test_keys_retire_after_bound_and_final_keys_complete(name, default_bound):
    wl = get_workload(name)
    assert wl.pool.max_writes == default_bound
    bound = 7
    wl = get_workload(name, keys_active=3, max_writes_per_key=bound)
    ops = _run_threads(wl, threads=4, per_thread=1500)
    per_key = Counter(op["key"] for op in ops if op["f"] in WRITES[name])
    assert max(per_key.values()) <= bound
    # Retired keys really got their full quota (a bound that never bites proves nothing).
    assert sum(1 for n in per_key.values() if n == bound) > 10
    used = {op["key"] for op in ops}
    final = wl.final_keys()
    assert used <= set(final) and len(final) == len(set(final))
    # Only the still-active keys may be unused so far.
    assert len(set(final) - used) <= 3


def test_no_op_on_a_retired_key_single_thread():
    wl = get_workload("list-append", keys_active=2, max_writes_per_key=3)
    rng = random.Random(5)
    writes: Counter = Counter()
    for _ in range(500):
        op = wl.next_op(0, rng)
        assert writes[op["key"]] < 3, f"op on retired key {op}"
        if op["f"] == "append":
            writes[op["key"]] += 1


def test_register_cas_expects_the_previous_value():
    wl = get_workload("register", keys_active=1, max_writes_per_key=1000, cas=True,
                      cas_ratio=1.0, read_ratio=0.0)
    rng = random.Random(1)
    first = wl.next_op(0, rng)
    assert first["f"] == "write"  # no value yet to expect
    prev = first["value"]
    for _ in range(20):
        op = wl.next_op(0, rng)
        assert op["f"] == "cas" and op["value"][0] == prev and op["value"][1] > prev
        prev = op["value"][1]


def test_cas_off_by_default_and_mix_roughly_as_documented():
    rng = random.Random(3)
    wl = get_workload("register")
    fs = Counter(wl.next_op(0, rng)["f"] for _ in range(4000))
    assert set(fs) == {"read", "write"} and 0.4 < fs["read"] / 4000 < 0.6


def test_counter_deltas_positive_and_small():
    wl = get_workload("counter", max_delta=3)
    rng = random.Random(2)
    adds = [op["value"] for op in (wl.next_op(0, rng) for _ in range(1000)) if op["f"] == "add"]
    assert adds and set(adds) <= {1, 2, 3}


def test_names_checkers_and_bad_options():
    assert NAMES == ("register", "list-append", "set", "counter", "cas-register", "queue",
                     "queue-group", "propagation", "propagation-dual-write",
                     "propagation-none", "txn-list-append", "txn-rw-register")
    for n in NAMES:
        wl = get_workload(n)
        assert wl.name == n and wl.checkers == tuple(DEFAULTS[n])
    with pytest.raises(InputError):
        get_workload("bank")
    with pytest.raises(InputError):
        get_workload("set", no_such_option=1)
    with pytest.raises(InputError):
        get_workload("set", keys_active=0)
