"""Pacing (rate, deadline, budget), process ids after info, store layout."""

import os
import random
import threading
import time

from splitbrain.harness.generator import Clock, Pacer, ProcessIds
from splitbrain.harness.store import list_runs, new_run_dir, update_latest


def _drain(pacer, threads=4):
    n = [0]
    lock = threading.Lock()

    def loop():
        while pacer.wait():
            with lock:
                n[0] += 1

    ts = [threading.Thread(target=loop) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    return n[0]


def test_pacer_rate_is_total_not_per_worker():
    stop = threading.Event()
    p = Pacer(200, deadline=time.monotonic() + 1.0, max_ops=10_000, stop=stop,
              rng=random.Random(1))
    n = _drain(p)
    assert 120 <= n <= 280, n  # ~200 ops in 1 s across 4 workers


def test_pacer_budget_and_stop_bound_the_loop():
    stop = threading.Event()
    p = Pacer(0, deadline=time.monotonic() + 30, max_ops=500, stop=stop, rng=random.Random(1))
    t0 = time.monotonic()
    assert _drain(p) == 500
    assert stop.is_set() and time.monotonic() - t0 < 5
    stop2 = threading.Event()
    stop2.set()
    assert not Pacer(0, deadline=time.monotonic() + 30, max_ops=10, stop=stop2,
                     rng=random.Random(1)).wait()


def test_process_ids_and_clock():
    ids = ProcessIds(10)
    assert ids.first(3) == 3 and ids.next_after_info(3) == 13
    c = Clock()
    a, b = c.now(), c.now()
    assert 0 <= a <= b


def test_store_layout_and_latest_links(tmp_path):
    root = tmp_path / "store"
    a = new_run_dir(str(root), "redis-x")
    b = new_run_dir(str(root), "redis-x")
    assert a != b and os.path.isdir(a) and os.path.isdir(b)
    update_latest(b)
    assert os.path.realpath(root / "redis-x" / "latest") == os.path.realpath(b)
    assert os.path.realpath(root / "latest") == os.path.realpath(b)
    assert list_runs(str(root))[0] == b and len(list_runs(str(root))) == 2
