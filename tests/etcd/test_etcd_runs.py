"""etcd 3.4 acceptance: real runs (netns backend, real etcd, real iptables partitions).

Known results (issue 16 item 8): with linearizable reads etcd stays valid under
partitions, kills and pauses; with serializable reads, a partition lets the isolated
member serve stale reads, which the session and staleness checkers catch.
"""

from __future__ import annotations

import os

import pytest

from splitbrain.harness.history import read_history
from tests.etcd.local_etcd import require_etcd
from tests.integration.runs import assert_witnesses_are_real, run_in

pytestmark = [pytest.mark.root, pytest.mark.etcd, pytest.mark.slow, pytest.mark.timeout(600)]

ALWAYS_VALID = ("integrity", "lost-updates", "convergence")
SESSION = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")


def _faults(run_dir: str) -> dict[str, list]:
    hist = read_history(os.path.join(run_dir, "history.jsonl"))
    out: dict[str, list] = {}
    for ev in hist.nemesis:
        if ev.get("type") != "invoke" and isinstance(ev.get("value"), dict):
            out.setdefault(ev["f"], []).append(ev["value"])
    return out


def test_linearizable_reads_stay_valid_under_partitions_kills_and_pauses(tmp_path):
    require_etcd()
    # seed 16's first round is kill (2.5 s), pause (7.5 s), partition (12.5 s), each healed
    # 2.5 s later: 17 s covers all three with margin for the nemesis ops' own time (the
    # partition came at 12.9 s on a loaded machine); a second round asserts nothing more.
    out = run_in(tmp_path, db="etcd", nemesis="partition,kill,pause", nemesis_interval=2.5,
                 time_limit=17, concurrency=10, rate=600, stickiness="random",
                 staleness_bound="500ms", seed=16)
    res = out.results
    assert res is not None, out
    bad = {n: r for n, r in res["checkers"].items() if r["valid"] is not True}
    assert res["valid"] is True, bad
    for name in (*SESSION, *ALWAYS_VALID, "staleness"):
        assert res["checkers"][name]["valid"] is True, name
    assert out.exit_code == 0
    faults = _faults(out.run_dir)
    # the schedule really did each thing, to real nodes
    assert any(v.get("nodes") for v in faults.get("kill", [])), faults.keys()
    assert any(v.get("nodes") for v in faults.get("pause", [])), faults.keys()
    assert any(v.get("grudge") for v in faults.get("start-partition", [])), faults.keys()
    assert res["stats"]["ok"] > 500, res["stats"]
    print(f"\n[figure] etcd linearizable faults run: {out.figures}, stats {res['stats']}")


def test_serializable_reads_under_a_partition_are_stale(tmp_path):
    require_etcd()
    out = run_in(tmp_path, db="etcd", read_mode="serializable", nemesis="partition",
                 partition="n1|n2,n3", nemesis_interval=3, time_limit=12, concurrency=10,
                 rate=600, stickiness="random", staleness_bound="500ms", seed=16)
    res = out.results
    assert res is not None, out
    found = [n for n in ("read-your-writes", "monotonic-reads", "staleness")
             if res["checkers"][n]["valid"] is False]
    assert found, {n: r["valid"] for n, r in res["checkers"].items()}
    for name in found:
        assert_witnesses_are_real(out.run_dir, res, name)
    # stale, not lost: writes still go through raft
    for name in ALWAYS_VALID:
        assert res["checkers"][name]["valid"] is True, (name, res["checkers"][name])
    assert res["valid"] is False and out.exit_code == 1
    print(f"\n[figure] etcd serializable partition run: anomalies in {found}, "
          f"{ {n: len(res['checkers'][n]['anomalies']) for n in found} }")


def test_cas_register_is_valid_under_partitions(tmp_path):
    require_etcd()
    out = run_in(tmp_path, db="etcd", workload="cas-register", nemesis="partition",
                 nemesis_interval=3, time_limit=10, concurrency=6, rate=300, seed=7)
    res = out.results
    assert res is not None and res["valid"] is True, res and {
        n: r["valid"] for n, r in res["checkers"].items()}
    hist = read_history(os.path.join(out.run_dir, "history.jsonl"))
    cas = [o for o in hist.ops if o.f == "cas"]
    assert any(o.type == "ok" for o in cas) and any(o.error == "cas-mismatch" for o in cas)


def test_cleanup_by_prefix_after_kill_9_of_the_controller(tmp_path):
    """The controller dies mid-run; `cleanup --prefix` (never a bare cleanup: other runs
    share the machine) stops its etcd members and removes its namespaces and rules."""
    import re
    import signal
    import subprocess
    import sys

    from tests.integration.leftovers import alive, cmdlines
    from tests.integration.runs import ROOT, spawn_run, wait_for_history

    require_etcd()
    proc = spawn_run(tmp_path, "--db", "etcd", "--nemesis", "partition")
    hist = wait_for_history(tmp_path, proc)
    with open(os.path.join(os.path.dirname(hist), "splitbrain.log")) as f:
        prefix = re.search(r" prefix (sb[0-9a-z]+) ", f.read()).group(1)
    members = [int(pid) for pid, cmd in cmdlines()
               if cmd.startswith("etcd ") and str(tmp_path) in cmd]
    assert len(members) == 3, members
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--prefix", prefix],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not alive(members), r.stdout
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in netns
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert prefix not in rules
