"""lost-on-node: an acknowledged enqueue never dequeued, attributed to the node that
acknowledged it (checkers/queue/total.py)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.options import CheckOptions
from splitbrain.checkers.queue import check
from splitbrain.harness.history import history_from_events
from tests.checkers.queue_sim import simulate


def _run(events):
    return check(history_from_events(events), CheckOptions(workload="queue-group"))["queue"]


def _enqueues(nodes_values):
    ev = []
    for node, v in nodes_values:
        ev += [{"process": v, "type": "invoke", "f": "send", "key": "q", "value": v, "node": node},
               {"process": v, "type": "ok", "f": "send", "key": "q", "value": v, "node": node,
                "offset": f"{v}-0"}]
    return ev


def _indexed(ev):
    for i, e in enumerate(ev):
        e["index"], e["time"] = i, i
    return ev


def test_a_lost_enqueue_is_attributed_to_the_node_that_acknowledged_it():
    ev = _enqueues([("n1", 1), ("n2", 2), ("n1", 3), ("n2", 4), ("n3", 5)])
    ev += [{"process": 99, "type": "invoke", "f": "drain", "final": True},
           {"process": 99, "type": "ok", "f": "drain", "final": True,
            "value": {"q": [["1-0", 1], ["3-0", 3], ["5-0", 5]]}}]
    res = _run(_indexed(ev))
    assert res.valid is False
    on_node = [a for a in res.anomalies if a.type == "lost-on-node"]
    assert [(a.details["node"], a.details["count"], a.details["values"], a.ops)
            for a in on_node] == [("n2", 2, [2, 4], [3, 7])]
    assert res.stats["unordered"]["lost_by_node"] == {"n2": 2}
    assert {a.details["node"] for a in res.anomalies if a.type == "lost"} == {"n2"}


def test_nothing_lost_means_no_node_blamed_and_no_node_is_never_guessed():
    ev = _enqueues([("n1", 1), ("n2", 2)])
    ev += [{"process": 99, "type": "invoke", "f": "drain", "final": True},
           {"process": 99, "type": "ok", "f": "drain", "final": True,
            "value": {"q": [["1-0", 1], ["2-0", 2]]}}]
    res = _run(_indexed(ev))
    assert res.valid is True and res.stats["unordered"]["lost_by_node"] == {}
    # a send that names no node: lost, but attributed to no node
    for e in ev:
        e.pop("node", None)
    ev[-1]["value"] = {"q": [["1-0", 1]]}
    res = _run(ev)
    assert "lost" in {a.type for a in res.anomalies}
    assert "lost-on-node" not in {a.type for a in res.anomalies}
    assert res.stats["unordered"]["lost_unattributed"] == 1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6))
def test_simulated_group_broker_loss_names_the_witness_node(seed):
    events, w = simulate(seed, "lose", group=True)
    if w is None:
        return
    for e in events:
        if e["f"] == "send":
            e["node"] = f"n{e['process'] % 3 + 1}"
    res = _run(events)
    (widx,) = w["ops"]
    wnode = next(e["node"] for e in events if e["index"] == widx)
    hits = [a for a in res.anomalies if a.type == "lost-on-node"]
    assert [a.details["node"] for a in hits] == [wnode]
    assert widx in hits[0].ops and w["value"] in hits[0].details["values"]
