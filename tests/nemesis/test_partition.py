"""Partition nemesis: pure grudge builders, and every shape applied to a real 5-node cluster."""

from __future__ import annotations

import json
import random
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.control.base import ExecResult
from splitbrain.harness.errors import InputError
from splitbrain.nemesis import partition as P

N5 = ["n1", "n2", "n3", "n4", "n5"]


def sym(grudge):
    return all(a in grudge.get(b, ()) for a, srcs in grudge.items() for b in srcs)


def components_of(grudge, nodes):
    """Connected groups under a symmetric grudge."""
    seen, comps = set(), []
    for n in nodes:
        if n in seen:
            continue
        comp = {m for m in nodes if m not in grudge.get(n, ())}
        seen |= comp
        comps.append(sorted(comp))
    return sorted(comps, key=len)


# -- pure builders ---------------------------------------------------------------------

def test_complete_grudge_and_halves():
    g = P.grudge_halves(N5)
    assert g == {"n1": {"n3", "n4", "n5"}, "n2": {"n3", "n4", "n5"},
                 "n3": {"n1", "n2"}, "n4": {"n1", "n2"}, "n5": {"n1", "n2"}}
    assert P.complete_grudge([["a"], ["b", "c"], []]) == {"a": {"b", "c"}, "b": {"a"},
                                                          "c": {"a"}}
    assert P.grudge_halves(["n1"]) == {}


def test_random_halves_is_seeded_and_splits_2_3():
    g1 = P.grudge_random_halves(N5, random.Random(3))
    assert g1 == P.grudge_random_halves(N5, random.Random(3))
    assert sym(g1) and [len(c) for c in components_of(g1, N5)] == [2, 3]
    seen = {tuple(components_of(P.grudge_random_halves(N5, random.Random(s)), N5)[0])
            for s in range(40)}
    assert len(seen) > 3  # actually random


def test_one_isolates_exactly_one_node():
    for seed in range(10):
        g = P.grudge_one(N5, random.Random(seed))
        comps = components_of(g, N5)
        assert sym(g) and [len(c) for c in comps] == [1, 4]
        loner = comps[0][0]
        assert g[loner] == set(N5) - {loner}


@pytest.mark.parametrize("n,minority", [(2, 1), (3, 1), (4, 1), (5, 2), (7, 3), (9, 4)])
def test_minority_is_a_strict_minority(n, minority):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    g = P.grudge_minority(nodes, random.Random(n))
    assert sym(g) and [len(c) for c in components_of(g, nodes)] == [minority, n - minority]
    assert P.grudge_minority(["n1"], random.Random(0)) == {}


@pytest.mark.parametrize("n,cut", [(3, 1), (5, 1), (7, 2), (9, 2)])
def test_minority_third(n, cut):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    g = P.grudge_minority_third(nodes, random.Random(1))
    assert sym(g) and [len(c) for c in components_of(g, nodes)] == [cut, n - cut]


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 9])
def test_majorities_ring_every_node_sees_a_distinct_majority(n):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    for seed in range(5):
        g = P.grudge_majorities_ring(nodes, random.Random(seed))
        views = {a: frozenset(nodes) - g.get(a, frozenset()) for a in nodes}
        assert all(a in v for a, v in views.items())
        assert all(len(v) == n // 2 + 1 for v in views.values())
        assert len(set(views.values())) == n
        if n == 5:  # odd majority windows are centred: the ring is symmetric
            assert sym(g) and all(len(s) == 2 for s in g.values())


def test_bridge_node_sees_both_sides():
    for seed in range(10):
        g = P.grudge_bridge(N5, random.Random(seed))
        bridge = [n for n in N5 if n not in g]
        assert len(bridge) == 1 and all(bridge[0] not in s for s in g.values())
        others = [n for n in N5 if n != bridge[0]]
        comps = components_of(g, others)
        assert sym(g) and [len(c) for c in comps] == [2, 2]


def test_primaries_each_isolated():
    assert P.grudge_primaries(N5, ["n3"]) == P.complete_grudge([["n3"], ["n1", "n2", "n4", "n5"]])
    g = P.grudge_primaries(N5, ["n1", "n4", "zz"])
    assert g["n1"] == {"n2", "n3", "n4", "n5"} and g["n4"] == {"n1", "n2", "n3", "n5"}
    assert g["n2"] == {"n1", "n4"}


def test_explicit_components():
    assert P.grudge_explicit("n1,n2|n3,n4,n5", N5) == P.grudge_halves(N5)
    g = P.grudge_explicit(" n1 | n2 ", N5)  # unlisted n3..n5 keep talking to everyone
    assert g == {"n1": {"n2"}, "n2": {"n1"}}
    assert P.grudge_explicit("n1|n2|n3,n4", N5)["n1"] == {"n2", "n3", "n4"}
    for bad, msg in [("n1,n9|n2", "unknown node"), ("n1,n2|n2", "more than once"),
                     ("n1,n1|n2", "more than once"), ("n1|", "empty group"),
                     ("n1,n2", "not one of")]:
        with pytest.raises(InputError, match=msg):
            P.build_grudge(bad, N5, random.Random(0))


def test_one_way():
    assert P.grudge_one_way("n1>n2", N5) == {"n2": {"n1"}}
    assert P.grudge_one_way("n1,n2>n3;n4>n5;n4>n3", N5) == {"n3": {"n1", "n2", "n4"},
                                                            "n5": {"n4"}}
    for bad in ("n1>n1", "n1>n2>n3", "n1>", "n1>n7"):
        with pytest.raises(InputError):
            P.grudge_one_way(bad, N5)
    g = P.grudge_random_one_way(N5, random.Random(2))
    srcs = set().union(*g.values())
    assert len(g) == 3 and len(srcs) == 2 and not srcs & set(g) and not sym(g)


def test_build_grudge_forms_and_errors():
    rng = random.Random(0)
    assert P.build_grudge({"grudge": {"n1": ["n2", "n1"]}}, N5, rng) == \
        ({"n1": {"n2"}}, "explicit-grudge")
    assert P.build_grudge({"shape": "halves"}, N5, rng)[1] == "halves"
    for bad in ("hexagon", None, 7, {"grudge": {"n1": ["n8"]}}):
        with pytest.raises(InputError):
            P.build_grudge(bad, N5, rng)
    with pytest.raises(InputError, match="primaries"):
        P.build_grudge("primaries", N5, rng)
    with pytest.raises(InputError, match="no primary"):
        P.build_grudge("primaries", N5, rng, primaries=[])
    P.validate_fault({"f": "start-partition", "value": "n1|n2"}, N5)
    P.validate_fault({"f": "start-partition", "value": "primaries"}, N5)
    P.validate_fault({"f": "stop-partition"}, N5)
    for bad in ({"f": "start-partition", "value": "n1|n8"}, {"f": "explode"}):
        with pytest.raises(InputError):
            P.validate_fault(bad, N5)


# -- the nemesis with a recording fake remote (rule text, error handling) --------------

class RecordingRemote:
    def __init__(self, name, fail=False):
        self.name, self.fail, self.calls = name, fail, []

    def exec(self, argv, *, env=None, stdin=None, timeout=60.0, check=True):
        self.calls.append((list(argv), stdin.decode() if stdin else None))
        if self.fail and argv[0] == "iptables-restore":
            raise RuntimeError("iptables-restore: line 2 failed")
        probing = argv[:3] == ["iptables", "-w", "5"] and argv[3] in ("-S", "-C")
        return ExecResult(1 if probing else 0, "", "")  # chain and jump do not exist yet


def fake_nodes(fail_on=()):
    return [Node(n, f"10.9.9.{i + 2}", RecordingRemote(n, n in fail_on), f"/tmp/{n}")
            for i, n in enumerate(N5)]


def test_rules_are_in_our_chain_with_comment_and_errors_are_returned():
    nodes = fake_nodes()
    nem = P.PartitionNemesis(nodes, "sbabc123", random.Random(0),
                             primaries_fn=lambda: [nodes[2]])
    res = nem.invoke({"f": "start-partition", "value": "primaries"})
    assert res == {"type": "info", "value": {"shape": "primaries", "grudge": {
        "n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2", "n4", "n5"], "n4": ["n3"], "n5": ["n3"]}}}
    restore = [s for a, s in nodes[0].remote.calls if a[0] == "iptables-restore"][-1]
    assert restore.splitlines() == [
        "*filter", ":sbabc123-part - [0:0]",
        "-A sbabc123-part -s 10.9.9.4/32 -m comment --comment sbabc123 -j DROP", "COMMIT"]
    assert [a for a, _ in nodes[0].remote.calls if "-I" in a] == [
        ["iptables", "-w", "5", "-I", "INPUT", "1", "-m", "comment", "--comment", "sbabc123",
         "-j", "sbabc123-part"]]

    bad = nem.invoke({"f": "start-partition", "value": "n1|n99"})
    assert bad["type"] == "info" and "unknown node" in bad["error"]
    assert nem.invoke({"f": "explode"})["error"]

    broken = P.PartitionNemesis(fake_nodes(fail_on={"n2"}), "sbabc123", random.Random(0))
    res = broken.invoke({"f": "start-partition", "value": "halves"})
    assert "n2" in res["error"] and res["type"] == "info"
    assert "error" in broken.heal_all()


# -- real 5-node cluster ---------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, socket, sys
    from concurrent.futures import ThreadPoolExecutor
    def one(t):
        try:
            socket.create_connection((t, 7000), timeout=0.6).close(); return "ok"
        except OSError as e:
            return str(e) or type(e).__name__
    ts = sys.argv[1:]
    with ThreadPoolExecutor(len(ts)) as p:
        print(json.dumps(dict(zip(ts, p.map(one, ts)))))
""")
SERVER = ("import socket\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', 7000)); s.listen(64)\n"
          "while True:\n    c, _ = s.accept(); c.close()\n")
UDP_SINK = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7001))\n"
            "f = open(sys.argv[1], 'ab', buffering=0)\n"
            "while True:\n    d, a = s.recvfrom(100); f.write(d + b'\\n')\n")
UNRELATED = ["INPUT", "-s", "192.0.2.77/32", "-j", "DROP"]  # TEST-NET-1: never used


@pytest.fixture(scope="module")
def cluster5(tmp_path_factory):
    from splitbrain.harness.cluster.netns import NetnsCluster, pick_free_subnet

    wd = tmp_path_factory.mktemp("part")
    c = NetnsCluster(nodes=5, subnet=pick_free_subnet(f"10.{random.randint(200, 254)}.0.0/16"),
                     workdir_root=str(wd))
    try:
        nodes = c.up()
        nodes[0].remote.exec(["iptables", "-A", *UNRELATED])
        for n in nodes:
            n.remote.spawn([sys.executable, "-c", SERVER], log_path=f"{n.workdir}/srv.log")
        deadline = time.monotonic() + 5
        while not all(":7000" in n.remote.exec(["ss", "-ltn"]).stdout for n in nodes):
            assert time.monotonic() < deadline, "probe servers did not start"
            time.sleep(0.05)
        yield c, nodes
    finally:
        c.down()


def reachability(nodes):
    """{(a, b): connected?} for every ordered pair, probed from inside a."""
    def probe(a):
        targets = [b.address for b in nodes if b is not a]
        out = json.loads(a.remote.exec([sys.executable, "-c", PROBE, *targets],
                                       timeout=20).stdout)
        by_addr = {b.address: b.name for b in nodes}
        return {(a.name, by_addr[t]): r == "ok" for t, r in out.items()}

    with ThreadPoolExecutor(len(nodes)) as pool:
        res = {}
        for part in pool.map(probe, nodes):
            res.update(part)
    return res


def expected(grudge, names):
    # A TCP handshake needs both directions, so either side's grudge cuts the pair.
    return {(a, b): a not in grudge.get(b, ()) and b not in grudge.get(a, ())
            for a in names for b in names if a != b}


SHAPES = ["halves", "random-halves", "one", "primaries", "majority", "minority-third",
          "majorities-ring", "bridge", "one-way", "n1,n2|n3,n4,n5", "n1|n2", "n1>n2",
          "n1,n2>n3;n4>n5"]


@pytest.mark.root
@pytest.mark.parametrize("shape", SHAPES)
def test_shape_on_real_cluster(cluster5, shape):
    c, nodes = cluster5
    names = [n.name for n in nodes]
    nem = P.PartitionNemesis(nodes, c.prefix, random.Random(SHAPES.index(shape)),
                             primaries_fn=lambda: [nodes[3].address])
    nem.setup()
    try:
        res = nem.invoke({"f": "start-partition", "value": shape})
        assert "error" not in res, res
        grudge = res["value"]["grudge"]
        assert grudge, "every shape on 5 nodes cuts something"
        if shape == "primaries":
            assert grudge["n4"] == ["n1", "n2", "n3", "n5"]
        want = expected(grudge, names)
        assert reachability(nodes) == want
        assert not all(want.values())
        # the controller's own stack is untouched: it still reaches every node
        from splitbrain.harness.control.local import LocalRemote
        out = json.loads(LocalRemote().exec(
            [sys.executable, "-c", PROBE, *[n.address for n in nodes]]).stdout)
        assert set(out.values()) == {"ok"}

        healed = nem.invoke({"f": "stop-partition"})
        assert "error" not in healed and healed["value"]["grudge"] == {}
        assert all(reachability(nodes).values())
    finally:
        nem.teardown()
    rules = nodes[0].remote.exec(["iptables", "-S"]).stdout
    assert "-A INPUT -s 192.0.2.77/32 -j DROP" in rules  # the unrelated rule survives
    assert c.prefix not in rules  # our chain and jump are gone


@pytest.mark.root
def test_one_way_is_asymmetric_for_udp(cluster5, tmp_path):
    c, nodes = cluster5
    n1, n2 = nodes[0], nodes[1]
    sinks = {n.name: tmp_path / f"{n.name}.udp" for n in (n1, n2)}
    for n in (n1, n2):
        n.remote.spawn([sys.executable, "-c", UDP_SINK, str(sinks[n.name])])
    time.sleep(0.3)
    send = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(5): s.sendto(sys.argv[2].encode(), (sys.argv[1], 7001))\n")
    nem = P.PartitionNemesis(nodes, c.prefix, random.Random(0))
    try:
        res = nem.invoke({"f": "start-partition", "value": "n1>n2"})
        assert res["value"]["grudge"] == {"n2": ["n1"]}
        n1.remote.exec([sys.executable, "-c", send, n2.address, "from-n1-cut"])
        n2.remote.exec([sys.executable, "-c", send, n1.address, "from-n2-ok"])
        nem.heal_all()
        n1.remote.exec([sys.executable, "-c", send, n2.address, "from-n1-healed"])
        time.sleep(0.3)
        assert sinks["n1"].read_text().split() == ["from-n2-ok"] * 5
        assert sinks["n2"].read_text().split() == ["from-n1-healed"] * 5
    finally:
        nem.teardown()


@pytest.mark.root
def test_heal_and_teardown_are_idempotent(cluster5):
    c, nodes = cluster5
    nem = P.PartitionNemesis(nodes, c.prefix, random.Random(0))
    assert "error" not in nem.heal_all()  # before any setup: sets up, flushes nothing
    nem.invoke({"f": "start-partition", "value": "one"})
    assert "error" not in nem.heal_all() and "error" not in nem.heal_all()
    nem.teardown()
    nem.teardown()
    for n in nodes:
        assert c.prefix not in n.remote.exec(["iptables", "-S"]).stdout


def test_partial_partition_and_heal_record_what_was_really_applied():
    """Issue 15 item 12: a failure on one node records the grudge in force, not {}."""
    nodes = fake_nodes()
    nem = P.PartitionNemesis(nodes, "sbabc123", random.Random(0))
    full = nem.invoke({"f": "start-partition", "value": "n1,n2|n3,n4,n5"})
    assert full["value"]["grudge"]["n1"] == ["n3", "n4", "n5"]
    nodes[1].remote.fail = True  # n2 refuses every change from now on
    res = nem.invoke({"f": "start-partition", "value": "n1|n2,n3,n4,n5"})
    assert "n2" in res["error"]
    g = res["value"]["grudge"]
    assert g["n1"] == ["n2", "n3", "n4", "n5"]  # took the new one
    assert g["n2"] == ["n3", "n4", "n5"]         # kept the old one
    healed = nem.heal_all()
    assert "n2" in healed["error"]
    assert healed["value"]["healed"] == ["n1", "n3", "n4", "n5"]
    assert healed["value"]["grudge"] == {"n2": ["n3", "n4", "n5"]}
