"""Integrity anomalies of checker-spec §2.1-§2.2: verdict, type and witness ops."""

from __future__ import annotations

from splitbrain.checkers import integrity
from splitbrain.checkers.options import CheckOptions
from splitbrain.harness.history import history_from_events


def ev(index, process, type_, f, key, value, t=None, **extra):
    d = {"index": index, "process": process, "type": type_, "f": f, "key": key,
         "value": value, "time": (index if t is None else t) * 1000}
    d.update(extra)
    return d


def W(i, p, v, key="x", f="write", typ="ok", **kw):
    return [ev(i, p, "invoke", f, key, v), ev(i + 1, p, typ, f, key, v, **kw)]


def R(i, p, v, key="x", **kw):
    return [ev(i, p, "invoke", "read", key, None), ev(i + 1, p, "ok", "read", key, v, **kw)]


def check(evs, workload=None):
    res = integrity.check(history_from_events(evs), CheckOptions(workload=workload))["integrity"]
    assert res.stats["replay_dropped"] == 0  # every witness re-checks on its own (§9)
    return res


def types(res):
    return sorted(a.type for a in res.anomalies)


def test_clean_register_valid():
    res = check(W(0, 0, "a") + R(2, 1, "a") + R(4, 1, None, key="y"))
    assert res.valid is True and res.anomalies == []


def test_garbage_read():
    res = check(W(0, 0, "a") + R(2, 1, "zz"))
    assert res.valid is False and types(res) == ["garbage-read"]
    assert res.anomalies[0].ops == [3]


def test_aborted_read():
    res = check(W(0, 0, "a", typ="fail") + R(2, 1, "a"))
    assert types(res) == ["aborted-read"]
    assert set(res.anomalies[0].ops) == {1, 3}


def test_info_write_observed_is_fine():
    # P2: an info write that is read simply happened.
    res = check(W(0, 0, "a", typ="info") + R(2, 1, "a"))
    assert res.valid is True


def test_future_read():
    evs = R(0, 1, "a") + W(2, 0, "a")
    res = check(evs)
    assert types(res) == ["future-read"]
    assert set(res.anomalies[0].ops) == {1, 3}


def test_concurrent_read_is_not_future():
    evs = [ev(0, 0, "invoke", "write", "x", "a"), ev(1, 1, "invoke", "read", "x", None),
           ev(2, 1, "ok", "read", "x", "a"), ev(3, 0, "ok", "write", "x", "a")]
    assert check(evs).valid is True


def test_duplicate_element_list_and_set():
    evs = W(0, 0, 1, f="append") + R(2, 1, [1, 1])
    res = check(evs, "list-append")
    assert types(res) == ["duplicate-element"] and res.anomalies[0].ops == [3]
    evs = W(0, 0, 1, key="s", f="add") + R(2, 1, [1, 1], key="s")
    assert types(check(evs, "set")) == ["duplicate-element"]


def test_incompatible_order():
    evs = (W(0, 0, 1, f="append") + W(2, 0, 2, f="append") + R(4, 1, [1, 2]) + R(6, 2, [2, 1]))
    res = check(evs, "list-append")
    assert types(res) == ["incompatible-order"]
    a = res.anomalies[0]
    assert set(a.ops) == {5, 7} and a.details["divergence_index"] == 0


def test_prefix_reads_are_compatible():
    evs = (W(0, 0, 1, f="append") + W(2, 0, 2, f="append") + R(4, 1, [1]) + R(6, 2, [1, 2]) + R(8, 1, []))
    assert check(evs, "list-append").valid is True


def test_version_conflict():
    evs = W(0, 0, "a", version=3) + W(2, 1, "b", version=3)
    res = check(evs)
    assert types(res) == ["version-conflict"]
    assert set(res.anomalies[0].ops) == {1, 3}


def test_version_mismatch():
    evs = W(0, 0, "a", version=3) + R(2, 1, "a", version=4)
    res = check(evs)
    assert types(res) == ["version-mismatch"]
    assert set(res.anomalies[0].ops) == {1, 3}


def test_cyclic_versions_from_cas():
    # two concurrent cas ops, each replacing the other's value: b < c and c < b.
    evs = [ev(0, 1, "invoke", "cas", "x", ["c", "b"]), ev(1, 2, "invoke", "cas", "x", ["b", "c"]),
           ev(2, 1, "ok", "cas", "x", ["c", "b"]), ev(3, 2, "ok", "cas", "x", ["b", "c"])]
    res = check(evs)
    assert types(res) == ["cyclic-versions"]
    assert set(res.anomalies[0].ops) == {2, 3}


def test_acyclic_cas_chain_valid():
    evs = (W(0, 0, "a")
           + [ev(2, 1, "invoke", "cas", "x", ["a", "b"]), ev(3, 1, "ok", "cas", "x", ["a", "b"])]
           + [ev(4, 2, "invoke", "cas", "x", ["b", "c"]), ev(5, 2, "ok", "cas", "x", ["b", "c"])])
    assert check(evs).valid is True


def test_dirty_update():
    evs = (W(0, 0, 1, f="append", typ="fail") + W(2, 1, 2, f="append") + R(4, 2, [1, 2]))
    res = check(evs, "list-append")
    assert types(res) == ["aborted-read", "dirty-update"]
    dirty = [a for a in res.anomalies if a.type == "dirty-update"][0]
    assert set(dirty.ops) == {1, 3, 5}


def test_duplicate_writes_are_unknown_not_false():
    res = check(W(0, 0, "a") + W(2, 1, "a") + R(4, 2, "a"))
    assert res.valid == "unknown" and "not unique" in res.reason
    res = check(W(0, 0, 1, key="s", f="add") + W(2, 1, 1, key="s", f="add"), "set")
    assert res.valid == "unknown"


def test_retry_of_same_value_is_not_a_duplicate():
    evs = W(0, 0, "a", typ="info") + [ev(2, 1, "invoke", "write", "x", "a", retry_of=1),
                                       ev(3, 1, "ok", "write", "x", "a")] + R(4, 2, "a")
    assert check(evs).valid is True


def test_corrupt_ops_helper():
    h = history_from_events(W(0, 0, "a") + R(2, 1, "zz") + R(4, 1, "a"))
    assert integrity.corrupt_ops(h) == {3}


def test_info_read_null_is_not_bottom():
    # P16: info/fail reads carry no value and produce no finding.
    evs = W(0, 0, "a") + [ev(2, 1, "invoke", "read", "x", None), ev(3, 1, "info", "read", "x", "zz")]
    res = check(evs)
    assert res.valid == "unknown" and "nothing to check" in res.reason  # no ok read at all
    assert check(evs + R(4, 2, "a")).valid is True


def test_garbage_flood_is_linear_and_explained_briefly():
    """Issue 15 item 2: a read of 20,000 never-written elements (and 50 more reads of a
    long list each holding garbage) used to be explained and replayed element by
    element, quadratically; values in explanations are shortened without rendering
    them whole."""
    import time

    n = 20_000
    evs = [ev(0, 0, "invoke", "append", "x", -1), ev(1, 0, "ok", "append", "x", -1),
           ev(2, 1, "invoke", "read", "x", None), ev(3, 1, "ok", "read", "x", [-1] + list(range(n)))]
    t0 = time.process_time()
    res = check(evs, "list-append")
    spent = time.process_time() - t0
    assert res.valid is False and res.anomaly_count == n
    js = res.to_json()
    assert all(len(a["explanation"]) < 400 for a in js["anomalies"])
    assert spent < 20, spent  # seconds of CPU: ~0.2 s here, minutes before
