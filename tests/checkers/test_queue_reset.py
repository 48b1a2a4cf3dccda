"""A consumer re-seeked by its client library (`reset` on a poll) may re-read; nothing
else is excused (checkers/queue/log.py)."""

from __future__ import annotations

import copy

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.queue import check
from splitbrain.harness.history import history_from_events


def _run(events):
    return check(history_from_events(events), CheckOptions(workload="queue"))["queue"]


def _history(second_poll, reset=None):
    ev = []
    for v in range(4):
        ev += [{"process": 0, "type": "invoke", "f": "send", "key": 5, "value": v},
               {"process": 0, "type": "ok", "f": "send", "key": 5, "value": v, "offset": 10 + v}]
    ev += [{"process": 1, "type": "invoke", "f": "assign", "value": [5]},
           {"process": 1, "type": "ok", "f": "assign", "value": [5]},
           {"process": 1, "type": "invoke", "f": "poll"},
           {"process": 1, "type": "ok", "f": "poll", "value": {"5": [[10, 0], [11, 1], [12, 2]]}},
           {"process": 1, "type": "invoke", "f": "poll"},
           {"process": 1, "type": "ok", "f": "poll", "value": {"5": second_poll}}]
    if reset is not None:
        ev[-1]["reset"] = reset
    for i, e in enumerate(ev):
        e["index"], e["time"] = i, i
    return ev


def test_a_rewind_is_nonmonotonic_unless_the_poll_records_a_reset():
    rewind = [[11, 1], [12, 2], [13, 3]]
    res = _run(_history(rewind))
    assert [a.type for a in res.anomalies] == ["nonmonotonic-poll"]
    assert res.anomalies[0].ops == [11, 13]
    assert res.stats["consumer_resets"] == 0
    excused = _run(_history(rewind, reset=["5"]))
    assert excused.valid is True and excused.stats["consumer_resets"] == 1
    # a reset of another key excuses nothing
    assert not _run(_history(rewind, reset=["6"])).valid


def test_a_reset_inside_one_poll_exempts_that_key_from_the_intra_poll_check():
    inside = [[13, 3], [11, 1], [12, 2], [13, 3]]
    assert {a.type for a in _run(_history(inside)).anomalies} == {"int-nonmonotonic-poll"}
    assert _run(_history(inside, reset=[5])).valid is True


def test_a_reset_does_not_hide_a_rewritten_log():
    """The re-read returns a different value at offset 11: the log changed under the
    consumer, which is inconsistent-offsets whatever the consumer's position did."""
    ev = _history([[11, 99], [12, 2], [13, 3]], reset=["5"])
    res = _run(ev)
    assert "inconsistent-offsets" in {a.type for a in res.anomalies}
    # and a skip after a reset is still judged from the reset on (fresh position)
    ok = _run(copy.deepcopy(_history([[11, 1], [12, 2], [13, 3]], reset=["5"])))
    assert ok.valid is True and ok.stats["messages_read"] == 6
