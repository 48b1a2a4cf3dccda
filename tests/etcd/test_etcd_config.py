"""`--db etcd` settings: what is accepted, what is refused (exit 254), the member argv."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.config import build_test
from splitbrain.harness.dbs.etcd.config import CLOCK_UNSUPPORTED, EtcdOptions, etcd_argv
from splitbrain.harness.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_defaults_and_name():
    t = build_test({"db": "etcd"})
    assert t.read_mode == "linearizable"
    assert t.test_name == "etcd-linearizable-register"
    t = build_test({"db": "etcd", "read_mode": "serializable", "workload": "cas-register",
                    "nemesis": "partition,kill,pause"})
    assert t.test_name == "etcd-serializable-cas-register"


@pytest.mark.parametrize("settings,needle", [
    ({"nemesis": "clock"}, "LD_PRELOAD clock shim"),
    ({"nemesis": "partition,clock-bump"}, "not supported with --db etcd"),
    ({"read_mode": "eventual"}, "allowed: linearizable, serializable"),
    ({"workload": "set"}, "allowed: register, cas-register"),
])
def test_refused_settings(settings, needle):
    with pytest.raises(InputError) as e:
        build_test({"db": "etcd", **settings})
    assert needle in str(e.value)


def test_options_validate_read_mode():
    with pytest.raises(InputError):
        EtcdOptions(read_mode="stale")


def test_argv_is_a_static_cluster_on_node_addresses():
    nodes = [Node(f"n{i}", f"10.77.0.{i + 1}", None, "/w") for i in (1, 2, 3)]
    argv = etcd_argv(nodes[1], nodes, EtcdOptions(), data_dir="/w/etcd/data", token="sbabc")
    a = dict(zip(argv[1::2], argv[2::2]))
    assert argv[0] == "etcd" and a["--name"] == "n2" and a["--data-dir"] == "/w/etcd/data"
    assert a["--listen-client-urls"] == "http://10.77.0.3:2379"
    assert a["--initial-cluster"] == ("n1=http://10.77.0.2:2380,n2=http://10.77.0.3:2380,"
                                      "n3=http://10.77.0.4:2380")
    assert "127.0.0.1" not in " ".join(argv)


def test_cli_refuses_clock_with_exit_254():
    proc = subprocess.run([sys.executable, "-m", "splitbrain", "run", "--db", "etcd",
                           "--nemesis", "clock"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert proc.returncode == 254, proc.stderr
    assert "LD_PRELOAD" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert CLOCK_UNSUPPORTED.split(":")[0] in proc.stderr + proc.stdout


def test_preflight_names_the_debian_package(monkeypatch):
    import shutil

    from splitbrain.harness import runner
    from splitbrain.harness.errors import EnvironmentProblem

    if os.geteuid() != 0:
        pytest.skip("preflight checks root first")
    real = shutil.which
    monkeypatch.setattr(runner.shutil, "which", lambda t: None if t == "etcd" else real(t))
    with pytest.raises(EnvironmentProblem) as e:
        runner.preflight(build_test({"db": "etcd"}))
    assert "missing tools: etcd" in str(e.value) and "etcd-server" in str(e.value)


def test_backends_know_what_an_etcd_node_needs():
    from splitbrain.harness.cluster import docker_image, ssh

    assert "etcd-server" in docker_image.packages()
    assert "etcd" in docker_image.tools_for("etcd")
    assert ssh.DB_TOOLS["etcd"] == {"etcd": "etcd-server"}


def test_claims_follow_the_read_mode():
    from splitbrain.harness.dbs.etcd import EtcdDB

    nodes = [Node("n1", "10.77.0.2", None, "/w")]
    assert EtcdDB(nodes, store_dir="/s", prefix="sbx").claims["reads"] == "linearizable"
    ser = EtcdDB(nodes, store_dir="/s", prefix="sbx", opts=EtcdOptions(read_mode="serializable"))
    assert ser.claims["reads"].startswith("serializable")
    assert ser.claims["writes"] == "linearizable"
