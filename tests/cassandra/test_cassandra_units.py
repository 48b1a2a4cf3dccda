"""Fast checks of the Cassandra pieces that need no cluster: config rendering, the error
mapping (P3), timestamps, version validation, the cas-register workload, the install verb."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from splitbrain.harness.dbs import cassandra_config as cfg
from splitbrain.harness.dbs.cassandra_client import TimestampSource, classify
from splitbrain.harness.dbs.cassandra_install import CassandraDist, validate_version
from splitbrain.harness.errors import InputError

ROOT = __import__("os").path.dirname(__import__("os").path.dirname(
    __import__("os").path.dirname(__import__("os").path.abspath(__file__))))


def test_tokens_are_evenly_spaced_and_distinct():
    for n in range(1, 6):
        t = cfg.tokens(n)
        assert len(set(t)) == n and t[0] == -(2 ** 63)
        assert all(-(2 ** 63) <= x < 2 ** 63 for x in t)
        gaps = {b - a for a, b in zip(t, t[1:])}
        assert len(gaps) <= 1


def test_yaml_names_every_mandatory_key_and_the_node():
    p = cfg.NodePaths("/r/n2/cassandra")
    y = cfg.render_yaml(address="10.77.0.3", paths=p, seeds=["10.77.0.2", "10.77.0.3"],
                        token=5, cluster_name="sb1a2b3c")
    for key in ("commitlog_sync: periodic", "commitlog_sync_period:", "partitioner:",
                "endpoint_snitch: RackInferringSnitch", "dynamic_snitch: false",
                "seed_provider:", "listen_address: 10.77.0.3", "rpc_address: 10.77.0.3",
                "initial_token: 5", "cluster_name: sb1a2b3c", "auto_bootstrap: false"):
        assert key in y, key
    assert 'seeds: "10.77.0.2,10.77.0.3"' in y
    # the data directories are the node's own and pairwise distinct
    dirs = [line.split(":", 1)[1].strip().strip("[]") for line in y.splitlines()
            if "_director" in line]
    assert len(dirs) == len(set(dirs)) == 5 and all(d.startswith("/r/n2/cassandra/") for d in dirs)


def test_jvm_argv_runs_the_daemon_in_the_foreground_with_jamm():
    dist = CassandraDist("5.0.8", "/c/lib", "/c/lib/jamm-0.4.0.jar", "maven")
    argv = cfg.jvm_argv("/usr/bin/java", dist, cfg.NodePaths("/r/n1/cassandra"), heap_mb=256)
    assert argv[0] == "/usr/bin/java" and argv[-1] == "org.apache.cassandra.service.CassandraDaemon"
    assert "-javaagent:/c/lib/jamm-0.4.0.jar" in argv
    assert "-Dcassandra-foreground=yes" in argv
    assert "-Dcassandra.config=file:///r/n1/cassandra/cassandra.yaml" in argv
    assert argv[argv.index("-cp") + 1] == "/c/lib/*"
    assert "-Xmx256m" in argv and "--add-opens" in argv


def test_version_validation():
    assert validate_version(None) == "5.0.8"
    assert validate_version("5.0.3") == "5.0.3"
    for bad in ("4.1.8", "5.1.0", "latest", "5.0"):
        with pytest.raises(InputError):
            validate_version(bad)


def test_client_timestamps_are_unique_and_increasing_even_when_the_clock_stalls():
    ts = TimestampSource(clock=lambda: 1_000_000_000)  # a frozen clock
    seen = [ts() for _ in range(100)]
    assert seen == sorted(seen) and len(set(seen)) == 100
    assert seen[0] == 1_000_000


def _errors():
    import cassandra
    from cassandra import protocol
    from cassandra.cluster import NoConnectionsAvailable, NoHostAvailable
    from cassandra.connection import ConnectionShutdown

    return cassandra, protocol, NoHostAvailable, NoConnectionsAvailable, ConnectionShutdown


def test_error_mapping_only_certain_no_ops_are_fail():
    pytest.importorskip("cassandra")
    cassandra, protocol, NHA, NoConn, Shutdown = _errors()
    unavailable = cassandra.Unavailable("x", consistency=2, required_replicas=2,
                                        alive_replicas=1)
    wto = cassandra.WriteTimeout("x", consistency=2, required_responses=2,
                                 received_responses=1, write_type=cassandra.WriteType.SIMPLE)
    cas_wto = cassandra.WriteTimeout("x", write_type=cassandra.WriteType.CAS)
    # writes
    assert classify(unavailable, write=True) == "fail"
    assert classify(unavailable, write=True, lwt=True) == "info"  # Paxos commit phase
    assert classify(cassandra.InvalidRequest("bad"), write=True) == "fail"
    assert classify(wto, write=True) == "info"
    assert classify(cas_wto, write=True, lwt=True) == "info"
    assert classify(cassandra.OperationTimedOut("t"), write=True) == "info"
    assert classify(cassandra.WriteFailure("f"), write=True) == "info"
    assert classify(Shutdown("gone"), write=True) == "info"
    assert classify(RuntimeError("?"), write=True) == "info"
    assert classify(NHA("none", {}), write=True) == "fail"
    assert classify(NHA("none", {"h": NoConn()}), write=True) == "fail"
    assert classify(NHA("none", {"h": Shutdown("reset")}), write=True) == "info"
    assert classify(NHA("none", {"h": cassandra.OperationTimedOut("t")}), write=True) == "info"
    # reads never change state
    assert classify(cassandra.ReadTimeout("x"), write=False) == "fail"
    assert classify(cassandra.OperationTimedOut("t"), write=False) == "fail"


def test_cas_register_workload_contends_on_few_keys_with_unique_values():
    from splitbrain.workloads import get_workload

    wl = get_workload("cas-register", keys_active=10)
    rng = random.Random(3)
    ops = [wl.next_op(0, rng) for _ in range(300)]
    assert {op["f"] for op in ops} == {"read", "write", "cas"}
    assert len({op["key"] for op in ops[:30]}) <= 3
    written: dict = {}
    for op in ops:
        if op["f"] == "write":
            new = op["value"]
        elif op["f"] == "cas":
            new = op["value"][1]
        else:
            continue
        assert new not in written.setdefault(op["key"], set())
        written[op["key"]].add(new)
    # the register checkers plus linearizable (issue 11: cas-register runs check it)
    assert wl.checkers == tuple(__import__("checkers").DEFAULTS["cas-register"])


def test_cas_register_is_checked_as_a_register():
    from splitbrain.checkers import run_checks
    from splitbrain.checkers.options import CheckOptions
    from splitbrain.harness.history import history_from_events

    evs = [{"process": 0, "type": "invoke", "f": "cas", "key": 1, "value": [None, 1]},
           {"process": 0, "type": "ok", "f": "cas", "key": 1, "value": [None, 1]},
           {"process": 0, "type": "invoke", "f": "read", "key": 1, "value": None},
           {"process": 0, "type": "ok", "f": "read", "key": 1, "value": 1}]
    for i, e in enumerate(evs):
        e["time"] = i * 1000
        e["index"] = i
    res = run_checks(history_from_events(evs), CheckOptions(workload="cas-register"))
    # named as asked; judged as a register (its checkers, beside linearizable)
    assert res["workload"] == "cas-register"
    assert {"integrity", "read-your-writes", "linearizable"} <= set(res["checkers"])
    assert res["valid"] is not False


def test_config_accepts_cas_register_on_both_datastores():
    from splitbrain.harness.config import build_test

    assert build_test({"db": "cassandra", "workload": "cas-register"}).workload == "cas-register"
    # Redis runs the same workload with its Lua compare-and-set
    assert build_test({"db": "redis", "workload": "cas-register"}).workload == "cas-register"
    with pytest.raises(InputError):
        build_test({"db": "redis", "workload": "cas-registers"})


def test_install_verb_rejects_an_unsupported_version():
    res = subprocess.run([sys.executable, "-m", "splitbrain", "install", "cassandra",
                          "--version", "4.1.8"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 254, res.stderr
    assert "5.0.x" in res.stderr
