"""The nemesis schedule, pure: which ops, alternation, seeded replay, final heal, bad specs."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from splitbrain.harness.errors import InputError
from splitbrain.nemesis.schedule import FAMILY_OF_F, STOP_OF, allowed_names, build_package, parse_spec


@dataclass
class FakeNode:
    name: str
    address: str = "10.0.0.1"
    workdir: str = "/nonexistent"
    iface: str = "eth0"


class FakeDB:
    """Has every capability the process families need (harness/dbs/base.py)."""

    port = None

    def primaries(self):
        return []

    def kill(self, node):
        pass

    def start(self, node):
        pass

    def pause(self, node):
        pass

    def resume(self, node):
        pass


class Recorder:
    """Stands in for a real nemesis: records faults, reports nothing active."""

    def __init__(self, name):
        self.name = name
        self.seen = []

    def setup(self):
        pass

    def invoke(self, fault):
        self.seen.append(fault["f"])
        if fault["f"] == "boom":
            raise RuntimeError("boom")
        return {"type": "info", "value": fault.get("value")}

    def teardown(self):
        pass


NODES = [FakeNode(f"n{i}") for i in range(1, 6)]


def package(spec, seed=7, **kw):
    pkg = build_package(spec, nodes=NODES, db=FakeDB(), prefix="sbtest", rng=random.Random(seed),
                        interval=1.0, **kw)
    for attr in ("partition", "clock", "process", "packet"):
        if getattr(pkg, attr) is not None:
            setattr(pkg, attr, Recorder(attr))
    return pkg


def run(pkg, n):
    ops = []
    for _ in range(n):
        f = pkg.next_fault()
        ops.append(f)
        assert pkg.invoke(f)["type"] == "info"
    return ops


def test_parse_spec():
    assert parse_spec("partition,clock") == {"partition": None, "clock": None}
    assert parse_spec("partition-primary, partition-one,clock-strobe") == \
        {"partition": ("primaries", "one"), "clock": ("strobe",)}
    assert parse_spec("packet-latency") == {"packet": ("latency",)}
    assert parse_spec("none") == {}
    assert parse_spec("partition-one,partition") == {"partition": None}


@pytest.mark.parametrize("bad", ["", "partitoin", "clock-warp", "partition-everything",
                                 "packet-teleport", "kill,,nope"])
def test_bad_spec_is_input_error_listing_allowed(bad):
    with pytest.raises(InputError) as e:
        build_package(bad, nodes=NODES, db=FakeDB(), prefix="sbtest", rng=random.Random(1),
                      interval=1.0)
    if bad:
        assert "partition-majorities-ring" in str(e.value) and "clock-bump" in str(e.value)


def test_bad_options_are_input_errors():
    for opts in ({"clock": {"max_bump": 5}}, {"kill": {"targets": ["everyone"]}},
                 {"warp": {}}, {"packet": {"behaviours": {"teleport": {}}}}):
        with pytest.raises(InputError):
            build_package("clock,kill,packet", nodes=NODES, db=FakeDB(), prefix="sbtest",
                          rng=random.Random(1), interval=1.0, options=opts)


def test_none_schedules_nothing():
    pkg = package("none")
    assert pkg.next_fault() is None and pkg.final_ops() == [] and pkg.node_env(NODES[0]) == {}


def test_each_family_alternates_start_and_stop():
    pkg = package("partition,clock,kill,pause,packet")
    ops = [o for o in run(pkg, 300) if o["f"] != "clock-offsets"]
    fams = {FAMILY_OF_F[o["f"]] for o in ops}
    assert fams == {"partition", "clock", "kill", "pause", "packet"}
    for fam in fams:
        seq = [o["f"] == STOP_OF[fam] for o in ops if FAMILY_OF_F[o["f"]] == fam]
        assert seq == [i % 2 == 1 for i in range(len(seq))], fam  # start, stop, start, …


def test_clock_ops_are_followed_by_an_offset_sample():
    ops = run(package("clock"), 20)
    for i, o in enumerate(ops):
        assert (o["f"] == "clock-offsets") == (i % 2 == 1)
    starts = {o["f"] for o in ops} - {"clock-offsets", "clock-reset"}
    assert starts <= {"clock-bump", "clock-strobe", "clock-drift"} and starts
    bumps = [o["value"] for o in ops if o["f"] == "clock-bump"]
    for b in bumps:
        assert 4 <= abs(b["delta_ms"]) <= 262144 and b["nodes"]


def test_single_faults_narrow_the_family():
    ops = run(package("partition-majorities-ring,packet-latency"), 40)
    starts = [o for o in ops if o["f"] in ("start-partition", "start-packet")]
    assert {o["value"] for o in starts if o["f"] == "start-partition"} == {"majorities-ring"}
    assert all(list(o["value"]["behaviours"]) == ["delay"] for o in starts
               if o["f"] == "start-packet")


def test_seeded_schedule_replays():
    a = run(package("partition,clock,kill,pause,packet", seed=42), 60)
    b = run(package("partition,clock,kill,pause,packet", seed=42), 60)
    c = run(package("partition,clock,kill,pause,packet", seed=43), 60)
    assert a == b
    assert a != c


def test_final_ops_undo_everything_active():
    for seed in range(30):
        pkg = package("partition,clock,kill,pause,packet", seed=seed)
        run(pkg, seed % 9)
        # simulate the runner: what is still on after the last op
        on = set()
        for o in [x for rec in (pkg.partition, pkg.clock, pkg.process, pkg.packet)
                  for x in rec.seen]:
            fam = FAMILY_OF_F[o]
            if o == STOP_OF[fam]:
                on.discard(fam)
            elif o != "clock-offsets":
                on.add(fam)
        final = pkg.final_ops()
        fs = [o["f"] for o in final]
        assert {FAMILY_OF_F[f] for f in fs if f != "clock-offsets"} == on
        assert all(f == STOP_OF[FAMILY_OF_F[f]] or f == "clock-offsets" for f in fs)
        if "pause" in on and "kill" in on:
            assert fs.index("resume") < fs.index("start")
        for o in final:
            pkg.invoke(o)
        assert pkg.final_ops() == [{"f": "clock-offsets", "value": None}]


def test_invoke_never_raises():
    pkg = package("partition")
    assert "error" in pkg.invoke({"f": "kill", "value": "one"})  # no such nemesis here
    pkg.partition.invoke = lambda f: (_ for _ in ()).throw(RuntimeError("iptables gone"))
    done = pkg.invoke({"f": "start-partition", "value": "one"})
    assert done["type"] == "info" and "iptables gone" in done["error"]
    assert pkg.final_ops() == [{"f": "stop-partition", "value": None}]


def test_allowed_names_cover_issue_examples():
    names = allowed_names()
    for n in ("partition-random-halves", "partition-one", "partition-primary",
              "partition-majorities-ring", "clock-bump", "clock-strobe", "kill", "pause",
              "packet-latency", "none"):
        assert n in names


def test_every_requested_family_is_used_before_one_repeats():
    """Shuffled round-robin (issue 16.4): N families, every 2N ticks start and heal each
    once; a fault is healed before the next family's starts."""
    fams = ["partition", "clock", "kill", "pause"]
    for seed in range(40):
        pkg = package(",".join(fams), seed=seed)
        ops = [o for o in run(pkg, 120) if o["f"] != "clock-offsets"]
        turns = [FAMILY_OF_F[o["f"]] for o in ops]
        assert turns[0::2] == turns[1::2], seed  # start X, stop X, start Y, stop Y, ...
        starts = turns[0::2]
        for r in range(0, len(starts) - 3, 4):
            assert sorted(starts[r:r + 4]) == sorted(fams), (seed, starts[r:r + 4])
        assert all(a != b for a, b in zip(starts, starts[1:])), seed  # never twice running
    # the 30 s / 4 s run of the issue: 7 ticks start all four families
    for seed in range(20):
        pkg = package(",".join(fams), seed=seed)
        ticks = []
        for _ in range(7):
            f = pkg.next_fault()
            ticks.append(f)
            while pkg.has_follow_up():  # the runner takes follow-ups at once
                pkg.next_fault()
        started = {FAMILY_OF_F[o["f"]] for o in ticks if pkg.describe(o)[1] == "start"}
        assert started == set(fams), seed


def test_describe_names_family_and_phase():
    pkg = package("partition,clock,kill")
    assert pkg.describe({"f": "start-partition"}) == ("partition", "start")
    assert pkg.describe({"f": "stop-partition"}) == ("partition", "stop")
    assert pkg.describe({"f": "clock-offsets"}) == ("clock", "sample")
    assert pkg.describe({"f": "start"}) == ("kill", "stop")
    assert pkg.describe({"f": "teleport"}) == (None, None)


def test_families_are_self_describing():
    from splitbrain.nemesis.registry import families

    fams = families()
    assert list(fams) == ["partition", "clock", "kill", "pause", "packet", "disk", "slot-migrate",
                          "kill-consumer", "pause-consumer", "kill-relay", "replay", "poison"]
    for fam in fams.values():
        assert fam.stop not in fam.starts and fam.faults
        assert fam.start_template and fam.build
    # routing and heal order come from the packages, not from tables kept by hand
    assert FAMILY_OF_F["clock-bump"] == "clock" and STOP_OF["pause"] == "resume"
    from splitbrain.nemesis.schedule import FINAL_ORDER
    assert FINAL_ORDER == ("disk", "pause", "kill", "partition", "pause-consumer", "packet",
                           "kill-consumer", "kill-relay", "slot-migrate", "replay", "poison",
                           "clock")


def test_a_family_needs_its_capability():
    class Bare:
        name = "bare"

    with pytest.raises(InputError, match="the kill fault needs a datastore that is Killable"):
        build_package("kill", nodes=NODES, db=Bare(), prefix="sbtest", rng=random.Random(1),
                      interval=1.0)
    with pytest.raises(InputError, match="needs a datastore"):
        build_package("pause", nodes=NODES, db=None, prefix="sbtest", rng=random.Random(1),
                      interval=1.0)
