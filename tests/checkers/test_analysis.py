"""The analysis context: built once per run_checks, handed to every family that takes it."""

from __future__ import annotations

from splitbrain.checkers import run_checks
from splitbrain.checkers.analysis import Analysis
from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.versions import build_indexes
from splitbrain.harness.history import history_from_events


def _events():
    evs, i = [], 0
    for p, (f, v) in enumerate([("write", "a"), ("read", "a"), ("write", "b"), ("read", "b")]):
        evs.append({"index": i, "type": "invoke", "process": p % 2, "f": f, "key": "x",
                    "value": v if f == "write" else None, "time": i})
        evs.append({"index": i + 1, "type": "ok", "process": p % 2, "f": f, "key": "x",
                    "value": v, "time": i + 1})
        i += 2
    return evs


def test_families_share_one_analysis(monkeypatch):
    import splitbrain.checkers.integrity as integrity
    import splitbrain.checkers.session as session

    seen = []
    for mod in (integrity, session):
        orig = mod.check

        def spy(history, options=None, *, analysis=None, _orig=orig):
            seen.append(analysis)
            return _orig(history, options, analysis=analysis)

        monkeypatch.setattr(mod, "check", spy)
    h = history_from_events(_events())
    res = run_checks(h, CheckOptions(workload="register"))
    assert res["checkers"]["integrity"]["valid"] is True
    assert len(seen) == 2 and seen[0] is seen[1] and isinstance(seen[0], Analysis)
    a = seen[0]
    assert a.workload == "register" and a.history is h
    assert a.indexes is a.indexes and set(a.indexes) == {"x"}


def test_inferred_workload_is_told_to_the_families(monkeypatch):
    import splitbrain.checkers.lost_updates as lost_updates

    seen = []
    orig = lost_updates.check
    monkeypatch.setattr(lost_updates, "check", lambda h, o=None, *, analysis=None:
                        seen.append(analysis.workload) or orig(h, o, analysis=analysis))
    run_checks(history_from_events(_events()), CheckOptions())
    assert seen == ["register"]


def test_a_family_alone_builds_the_same_indexes():
    h = history_from_events(_events())
    a = Analysis(h, CheckOptions(workload="register"))
    assert a.indexes is a.indexes and repr(a.indexes) == repr(build_indexes(h, "register"))
    assert a.for_options(a.options) is a


def test_run_checks_leaves_history_meta_as_read():
    # issue 16 item 5: no hidden cache in History.meta; a tie-break lives in the options
    h = history_from_events(_events())
    before = dict(h.meta)
    run_checks(h, CheckOptions(workload="register", version_tiebreak="cassandra"))
    run_checks(h, CheckOptions(workload="register"))
    assert h.meta == before
