"""jepsen.tests.kafka's final phase, inferred on import only where the history proves it:
the tail of :poll / :crash / :assign / :debug-topic-partitions ops (Jepsen's own plot takes
it to be the final polls), polls after an ok `:seek-to-beginning? true` assign by the same
process, which reached every key's highest acknowledged offset (the `final-polls`
generator's stop condition). Then `unseen` is decided (Jepsen: a bad error type);
otherwise it stays a notice and the verdict is not INVALID on it alone."""

from __future__ import annotations

from splitbrain.checkers import run_checks
from splitbrain.harness.history import read_history

MAIN = """{:type :invoke, :f :send, :value [[:send 1 10]], :process 0, :index 0, :time 0}
{:type :ok, :f :send, :value [[:send 1 [0 10]]], :process 0, :index 1, :time 1}
{:type :invoke, :f :send, :value [[:send 1 11]], :process 0, :index 2, :time 2}
{:type :ok, :f :send, :value [[:send 1 [1 11]]], :process 0, :index 3, :time 3}
{:type :invoke, :f :send, :value [[:send 1 12]], :process 0, :index 4, :time 4}
{:type :ok, :f :send, :value [[:send 1 [2 12]]], :process 0, :index 5, :time 5}
{:type :invoke, :f :assign, :value [1], :process 1, :index 6, :time 6}
{:type :ok, :f :assign, :value [1], :process 1, :index 7, :time 7}
{:type :invoke, :f :poll, :value [[:poll]], :process 1, :index 8, :time 8}
{:type :ok, :f :poll, :value [[:poll {1 [[0 10]]}]], :process 1, :index 9, :time 9}
{:type :info, :f :start-partition, :value nil, :process :nemesis, :index 10, :time 10}
{:type :info, :f :stop-partition, :value nil, :process :nemesis, :index 11, :time 11}
"""

FINAL = """{:type :invoke, :f :crash, :process 2, :index 12, :time 12}
{:type :info, :f :crash, :process 2, :index 13, :time 13}
{:type :invoke, :f :assign, :value [1], :seek-to-beginning? true, :process 3, :index 14, :time 14}
{:type :ok, :f :assign, :value [1], :seek-to-beginning? true, :process 3, :index 15, :time 15}
{:type :invoke, :f :poll, :value [[:poll]], :process 3, :index 16, :time 16}
{:type :ok, :f :poll, :value [[:poll {1 %s}]], :process 3, :index 17, :time 17}
"""


def _check(tmp_path, text):
    p = tmp_path / "history.edn"
    p.write_text(text)
    h = read_history(str(p))
    assert h.meta.get("jepsen_kafka") is True
    return h, run_checks(h)["checkers"]["queue"]


def _types(r, key):
    return {a["type"] for a in r.get(key, [])}


def test_final_polls_that_reached_every_acked_offset_decide_unseen(tmp_path):
    # the final re-read reaches offset 2 but returns no value at offset 1: 11 is unseen
    # after the final phase (Jepsen: :unseen, a bad error type), and lost (the checker
    # names it once, as the lost-write)
    h, r = _check(tmp_path, MAIN + FINAL % "[[0 10] [2 12]]")
    assert sum(op.final for op in h.ops) == 1  # the final poll
    assert r["stats"]["final_phase"] is True
    assert r["valid"] is False and "lost-write" in _types(r, "anomalies"), r
    assert "unseen" not in _types(r, "notices")


def test_final_polls_that_stopped_short_leave_unseen_undecided(tmp_path):
    # the final re-read ends at offset 0: offsets 1 and 2 (acked) were never polled in it,
    # so the history does not show the final phase ran to its end
    h, r = _check(tmp_path, MAIN + FINAL % "[[0 10]]")
    assert not any(op.final for op in h.ops)
    assert r["valid"] == "unknown" and r["stats"]["final_phase"] is False, r
    assert "unseen" in _types(r, "notices")


def test_no_final_phase_leaves_unseen_undecided(tmp_path):
    h, r = _check(tmp_path, MAIN)
    assert not any(op.final for op in h.ops)
    assert r["valid"] is not False and "unseen" in _types(r, "notices")


def test_polls_without_a_rewinding_assign_are_not_final(tmp_path):
    text = MAIN + (FINAL % "[[0 10] [1 11] [2 12]]").replace(", :seek-to-beginning? true", "")
    h, r = _check(tmp_path, text)
    assert not any(op.final for op in h.ops)


def test_a_clean_final_phase_is_valid(tmp_path):
    h, r = _check(tmp_path, MAIN + FINAL % "[[0 10] [1 11] [2 12]]")
    assert sum(op.final for op in h.ops) == 1
    assert r["valid"] is True, r


def test_an_ok_send_without_an_offset_may_lie_beyond_the_final_polls(tmp_path):
    text = MAIN.replace("[[:send 1 [2 12]]]", "[[:send 1 12]]")
    h, r = _check(tmp_path, text + FINAL % "[[0 10] [1 11]]")
    assert not any(op.final for op in h.ops)
    assert r["valid"] == "unknown" and "unseen" in _types(r, "notices")
