"""Test config: defaults, TOML, flags, validation messages."""

import pytest

from splitbrain.harness.config import Test, build_test
from splitbrain.harness.errors import InputError


def test_defaults_are_the_embedded_default():
    t = build_test({})
    assert (t.db, t.topology, t.backend, t.nodes, t.workload, t.nemesis, t.read_from,
            t.time_limit) == ("redis", "replication", "netns", 3, "register", "partition",
                              "replicas", 30.0)
    assert t.test_name == "redis-replication-register"


def test_toml_then_flags_win(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text('nodes = 5\nworkload = "set"\ntime-limit = 12\ncheckers = ["lost-updates"]\n')
    t = build_test({"nodes": None, "workload": "counter"}, str(p))
    assert t.nodes == 5 and t.workload == "counter" and t.time_limit == 12
    assert t.checkers == ("lost-updates",)


@pytest.mark.parametrize("flags, needle", [
    ({"nodes": 12}, "allowed: 1 to 9"),
    ({"topology": "mesh"}, "allowed: replication, sentinel, cluster"),
    ({"topology": "cluster", "nodes": 4}, "even --nodes of 6 or more"),
    ({"topology": "sentinel", "nodes": 2}, "Sentinel majority"),
    ({"subnet": "8.8.8.0/24"}, "private IPv4"),
    ({"subnet": "nonsense"}, "private IPv4"),
    ({"rate": -1}, "unlimited"),
    ({"staleness_bound": "soon"}, "250ms"),
    ({"read_from": "replicas", "nodes": 1}, "2 or more"),
])
def test_bad_settings_say_what_is_allowed(flags, needle):
    with pytest.raises(InputError, match=needle):
        build_test(flags)


def test_bad_toml(tmp_path):
    p = tmp_path / "run.toml"
    p.write_text("nodez = 3\n")
    with pytest.raises(InputError, match="unknown setting 'nodez'"):
        build_test({}, str(p))
    p.write_text("nodes = = 3\n")
    with pytest.raises(InputError, match="not valid TOML"):
        build_test({}, str(p))
    with pytest.raises(InputError, match="cannot read config"):
        build_test({}, str(tmp_path / "missing.toml"))


def test_test_is_frozen_and_serialisable():
    t = Test()
    with pytest.raises(Exception):
        t.nodes = 4  # type: ignore[misc]
    assert t.to_json()["test_name"] == "redis-replication-register"


def test_explicit_partition_grudge():
    from splitbrain.harness.config import nemesis_options_of

    t = build_test({"partition": "n1,n2|n3", "nodes": 3})
    assert nemesis_options_of(t) == {"partition": {"shapes": ["n1,n2|n3"]}}
    with pytest.raises(InputError, match="unknown node"):
        build_test({"partition": "n1|n7"})
    with pytest.raises(InputError, match="needs the partition nemesis"):
        build_test({"partition": "n1|n2", "nemesis": "kill"})


def test_preflight_says_what_is_missing(monkeypatch):
    import splitbrain.harness.runner as runner

    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    with pytest.raises(InputError, match="needs root"):
        runner.preflight(Test())
    monkeypatch.setattr(runner.os, "geteuid", lambda: 0)
    monkeypatch.setattr(runner.shutil, "which", lambda t: None if t == "java" else "/bin/" + t)
    with pytest.raises(InputError, match="missing tools: java; install them with bash scripts/setup.sh --cassandra"):
        runner.preflight(Test(db="cassandra"))
    runner.preflight(Test())  # redis on netns: everything present
