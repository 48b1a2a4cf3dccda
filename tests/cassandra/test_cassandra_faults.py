"""Process faults on a live 3-node Cassandra cluster through the real runner.

One `run_test(build_test({"db": "cassandra", "nemesis": "kill,pause", …}))` with a seed
whose schedule is pause → resume → kill, so the restart is the final heal. What the run
must show, read from its own history and logs rather than assumed:

* all four nemesis ops completed without `error`;
* while a node is SIGSTOPped, nothing routed through it as coordinator is acknowledged,
  and the ops stuck on it become `info` (client-side timeouts);
* after SIGKILL the recorded pid is gone, ops through that node are refused, and the
  restart runs a new pid on the same data (commit log replayed, second startup);
* after the final heal every node answers CQL again: all final reads are `ok`, so no
  verdict is `unknown` for want of them;
* nothing is left: no JVM of the run, no namespace, bridge or registry entry.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile

import pytest

from tests.integration.leftovers import cmdlines

from splitbrain.harness.config import build_test

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("java") is None,
                                 reason="Cassandra needs Java 17 (openjdk-17-jre-headless)")]

# Pauses longer than the client's request timeout (6 s), so ops stuck on the paused
# coordinator time out instead of completing right after SIGCONT.
INTERVAL = 7.5
TIME_LIMIT = 25  # pause @7.5, resume @15, kill @22.5; the restart is the final heal
ONE_NODE = {"kill": {"targets": ["one"]}, "pause": {"targets": ["one"]}}


@pytest.fixture
def tmp_path():
    """A store outside pytest's basetemp (see test_cassandra_runs.py)."""
    d = tempfile.mkdtemp(prefix="sbcass-test-", dir="/var/tmp")
    try:
        yield __import__("pathlib").Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _schedule_seed() -> int:
    """A seed whose first faults are pause, resume, kill on two different nodes (the
    schedule and its targets are pure functions of the seed, so this replays the run)."""
    from splitbrain.harness.cluster.base import Node
    from splitbrain.nemesis.schedule import build_package

    class Dry:  # records the targets instead of signalling anything
        def primaries(self):
            return []

        def __getattr__(self, name):
            return lambda node: None

    nodes = [Node(f"n{i}", f"10.0.0.{i}", None, "/nonexistent") for i in (1, 2, 3)]
    for seed in range(200):
        pkg = build_package("kill,pause", nodes=nodes, db=Dry(), prefix="sbseed",
                            rng=random.Random(seed + 1), interval=INTERVAL, options=ONE_NODE)
        steps = []
        for _ in range(3):
            f = pkg.next_fault()
            steps.append((f["f"], tuple(pkg.invoke(f)["value"]["nodes"])))
        if [s[0] for s in steps] == ["pause", "resume", "kill"] and steps[0][1] != steps[2][1]:
            return seed
    raise AssertionError("no seed gives pause, resume, kill")


def _events(run_dir: str) -> list[dict]:
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _pairs(events: list[dict]) -> list[tuple[dict, dict]]:
    """(invoke, completion) per op: a process has one op in flight at a time."""
    open_, out = {}, []
    for e in events:
        key = e["process"]
        if e["type"] == "invoke":
            open_[key] = e
        elif key in open_:
            out.append((open_.pop(key), e))
    return out


def _one(pairs, f: str) -> tuple[dict, dict]:
    found = [(i, c) for i, c in pairs if i["process"] == "nemesis" and i["f"] == f]
    assert len(found) == 1, (f, found)
    return found[0]


def _jvms_of(marker: str) -> list[str]:
    return [f"{pid} {cmd[:160]}" for pid, cmd in cmdlines()
            if marker in cmd and "CassandraDaemon" in cmd]


def test_kill_restart_pause_resume_on_a_live_cluster(tmp_path):
    from splitbrain.harness import registry
    from splitbrain.harness.runner import run_test

    seed = _schedule_seed()
    out = run_test(build_test({
        "db": "cassandra", "workload": "register", "read_consistency": "QUORUM",
        "write_consistency": "QUORUM", "nemesis": "kill,pause", "nemesis_interval": INTERVAL,
        "time_limit": TIME_LIMIT, "seed": seed, "nemesis_options": ONE_NODE,
        "store": str(tmp_path / "store"), "quiesce": 1.0}))
    assert out.results is not None, out
    run_dir = out.run_dir
    with open(os.path.join(run_dir, "splitbrain.log")) as f:
        runlog = f.read()

    # -- nothing left behind ---------------------------------------------------------
    prefix = re.search(r" prefix (sb[0-9a-z]+) seed", runlog).group(1)
    assert _jvms_of(str(tmp_path)) == []
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(prefix)] \
        if os.path.isdir("/run/netns") else True
    assert not os.path.exists(f"/sys/class/net/{prefix}br")
    assert registry.load(prefix) is None

    evs = _events(run_dir)
    pairs = _pairs(evs)
    t_run_end = max(c["time"] for i, c in pairs if i["process"] != "nemesis"
                    and not i.get("final"))

    # -- the four faults happened and none failed ----------------------------------------
    pause, resume, kill, start = (_one(pairs, f) for f in ("pause", "resume", "kill", "start"))
    for inv, comp in (pause, resume, kill, start):
        assert "error" not in comp, comp
        assert len(comp["value"]["nodes"]) == 1, comp
    paused = pause[1]["value"]["nodes"][0]
    killed = kill[1]["value"]["nodes"][0]
    assert resume[1]["value"]["nodes"] == [paused] and start[1]["value"]["nodes"] == [killed]
    assert pause[1]["time"] < resume[0]["time"] < kill[0]["time"] < t_run_end < start[0]["time"]

    worker = [(i, c) for i, c in pairs if i["process"] != "nemesis" and not i.get("final")]

    # -- pause: the stopped coordinator acknowledges nothing; stuck ops time out ----------
    p_sig, p_from, p_to = pause[0]["time"], pause[1]["time"], resume[0]["time"]
    through = [(i, c) for i, c in worker if c.get("node") == paused]
    assert any(c["type"] == "ok" for i, c in through if c["time"] < p_sig), \
        "the node served ops before the pause"
    later = [(i, c) for i, c in through if p_from < i["time"] < p_to]
    assert later, "workers pinned to the paused node kept invoking"
    assert not [c for i, c in later if c["type"] == "ok" and c["time"] < p_to], \
        "a SIGSTOPped coordinator acknowledged an op"
    # Ops in flight when SIGSTOP landed (or sent while stopped) hang until the client's
    # 6 s timeout: writes become info (maybe applied), reads fail (no effect, P3).
    stuck = [(i, c) for i, c in through if i["time"] < p_to and c["time"] > p_from
             and c["type"] != "ok"]
    assert stuck, [c for i, c in through if i["time"] < p_to and c["time"] > p_from]
    assert all("OperationTimedOut" in c["error"] and c["time"] - i["time"] > 5e9
               for i, c in stuck), stuck
    assert all(c["type"] == ("fail" if c["f"] == "read" else "info") for i, c in stuck), stuck
    pause_info = sum(c["type"] == "info" for i, c in stuck)
    # ops through the other coordinators still succeed at QUORUM during the pause
    assert any(c["type"] == "ok" for i, c in worker
               if c.get("node") != paused and p_from < i["time"] and c["time"] < p_to)

    # -- kill: pid gone, ops through it refused, restart on the same data -----------------
    m = re.search(rf"cassandra kill {killed}: pid (\d+) SIGKILLed, gone after", runlog)
    assert m, "kill() confirms the recorded pid is gone"
    old_pid = int(m.group(1))
    m = re.search(rf"cassandra restart {killed}: pid (\d+) -> (\d+), CQL after ([\d.]+) s, "
                  rf"gossip agreed with running peers after ([\d.]+) s", runlog)
    assert m, "start() logs the rejoined restart"
    assert int(m.group(1)) == old_pid and int(m.group(2)) != old_pid
    restart_s = float(m.group(4))
    assert not os.path.exists(f"/proc/{old_pid}") and not os.path.exists(f"/proc/{m.group(2)}")
    down = [c for i, c in worker if c.get("node") == killed and i["time"] > kill[1]["time"]]
    assert not [c for c in down if c["type"] == "ok"], "a killed node acknowledged an op"
    with open(os.path.join(run_dir, "nodes", killed, "system.log")) as f:
        syslog = f.read()
    assert syslog.count("Startup complete") == 2, "one start, one restart, same log"
    replayed = re.search(r"Log replay complete, (\d+) replayed mutations", syslog)
    assert replayed and int(replayed.group(1)) > 0, "the restart replayed its commit log"

    # -- after the heal every node answers: final reads all ok --------------------------
    finals = [(i, c) for i, c in pairs if i.get("final")]
    assert finals and all(c["type"] == "ok" for i, c in finals), \
        [c for i, c in finals if c["type"] != "ok"][:5]
    assert {c["node"] for i, c in finals} == {"n1", "n2", "n3"}
    res = out.results
    conv = res["checkers"].get("convergence")
    assert conv is None or conv["valid"] != "unknown", conv
    assert res["valid"] != "unknown", {n: r.get("reason") for n, r in res["checkers"].items()
                                       if r["valid"] == "unknown"}
    print(f"\n[figure] seed {seed}: restart of {killed} {restart_s:.1f} s "
          f"(CQL {m.group(3)} s); pause of {paused} {(p_to - p_sig) / 1e9:.1f} s: {len(stuck)} ops "
          f"through it timed out ({pause_info} info writes, {len(stuck) - pause_info} failed "
          f"reads); verdict {res['valid']}; "
          f"ops {res['stats']}")
