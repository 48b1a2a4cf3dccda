"""`splitbrain cluster up|status|down` and `splitbrain cleanup` through the real CLI."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from splitbrain.harness import registry
from splitbrain.harness.cluster.cleanup import cleanup, list_links, list_namespaces

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def splitbrain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from splitbrain.harness.cli import main

    with pytest.raises(SystemExit) as ei:
        main(list(args))
    return ei.value.code, capsys.readouterr().err


def test_not_root_is_one_clear_sentence(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for verb in (["cluster", "up"], ["cluster", "down", "sbabc"], ["cleanup"]):
        code, err = run_main(monkeypatch, capsys, *verb)
        assert code == 254 and "needs root" in err and "Traceback" not in err


def test_missing_tool_is_reported(monkeypatch, capsys):
    import shutil

    real = shutil.which
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda t: None if t == "iptables" else real(t))
    code, err = run_main(monkeypatch, capsys, "cluster", "up")
    assert code == 254 and "`iptables`" in err


def test_bad_arguments_exit_254(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert run_main(monkeypatch, capsys, "cluster", "down")[0] == 254
    assert run_main(monkeypatch, capsys, "cluster", "down", "sbx", "--all")[0] == 254
    code, err = run_main(monkeypatch, capsys, "cluster", "up", "--prefix", "BAD")
    assert code == 254 and "prefix" in err
    code, err = run_main(monkeypatch, capsys, "cluster", "up", "--subnet", "8.8.0.0/16")
    assert code == 254 and "private" in err


@pytest.mark.root
def test_up_status_down_via_cli():
    from splitbrain.harness.cluster.netns import pick_free_subnet

    prefix = registry.new_run_prefix()
    subnet = pick_free_subnet(f"10.{random.randint(200, 254)}.0.0/16")
    try:
        up = splitbrain("cluster", "up", "--nodes", "2", "--subnet", subnet, "--prefix", prefix,
                        "--json")
        assert up.returncode == 0, up.stderr
        info = json.loads(up.stdout)
        assert info["prefix"] == prefix and [n["name"] for n in info["nodes"]] == ["n1", "n2"]
        # the command exited, the cluster stays
        assert {f"{prefix}-n1", f"{prefix}-n2"} <= set(list_namespaces())

        human = splitbrain("cluster", "status")
        assert human.returncode == 0 and prefix in human.stdout and subnet in human.stdout
        status = json.loads(splitbrain("cluster", "status", "--json").stdout)
        mine = [r for r in status["runs"] if r["prefix"] == prefix]
        assert mine and mine[0]["owner_alive"] is False
        assert f"{prefix}-n1" in status["live"]["namespaces"]

        plain = splitbrain("cluster", "up", "--nodes", "1", "--subnet", subnet)
        assert plain.returncode == 254 and "overlaps" in plain.stderr

        down = splitbrain("cluster", "down", prefix)
        assert down.returncode == 0, down.stderr
        assert f"removed namespace {prefix}-n1" in down.stdout
        assert not [n for n in list_namespaces() if n.startswith(prefix)]
        assert not [n for n, _ in list_links() if n.startswith(prefix)]
        assert registry.load(prefix) is None

        again = splitbrain("cleanup", "--prefix", prefix)
        assert again.returncode == 0 and "nothing to clean up" in again.stdout
    finally:
        cleanup(prefix)
