"""Issue 14 acceptance on real Redis: lost unsynced writes (disk family, sbfs) and added
latency without netem (nfqueue packet engine) seen in the staleness distribution."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import have
from tests.integration.leftovers import new_since, snapshot
from tests.integration.runs import (ROOT, assert_witnesses_are_real, run_in, spawn_run,
                                     wait_for_history)

pytestmark = [pytest.mark.root, pytest.mark.redis, pytest.mark.slow]

needs_fuse = pytest.mark.skipif(not (have("gcc") and have("pkg-config") and
                                     os.path.exists("/dev/fuse")),
                                reason="needs gcc, libfuse3-dev and /dev/fuse")


class _Ev:
    def __init__(self, d):
        self.value, self.error = d.get("value"), d.get("error")

    def __repr__(self):
        return f"<{self.value!r} {self.error!r}>"


def nemesis_completions(run_dir, f):
    """The nemesis's completions of `f`, straight from history.jsonl."""
    out = []
    with open(os.path.join(run_dir, "history.jsonl")) as fh:
        for line in fh:
            d = json.loads(line)
            if d.get("process") == "nemesis" and d.get("f") == f and d.get("type") == "info":
                out.append(_Ev(d))
    return out


def disk_run(tmp_path, appendfsync):
    return run_in(tmp_path, workload="set", nemesis="disk-lose-unsynced",
                  redis_appendfsync=appendfsync, nemesis_interval=2.5, time_limit=11,
                  concurrency=6, rate=600, read_from="primary",
                  nemesis_options={"disk": {"targets": ["primaries"]}})


def run_prefix(run_dir) -> str:
    with open(os.path.join(run_dir, "splitbrain.log")) as fh:
        for line in fh:
            if " prefix sb" in line:
                return line.split(" prefix ", 1)[1].split()[0]
    raise AssertionError("no prefix in splitbrain.log")


def leftovers(before, tmp_path, run_dir) -> dict:
    """What this run (its prefix, or processes naming tmp_path) left; other engineers'
    parallel runs on the same machine are not ours to judge."""
    prefix = run_prefix(run_dir)
    new = new_since(before, snapshot(str(tmp_path)))
    mine = {k: {x for x in v if prefix in x or str(tmp_path) in x} for k, v in new.items()}
    mine["mounts"] = {m for m in no_sbfs_mounts() if prefix in m}
    return {k: v for k, v in mine.items() if v}


def no_sbfs_mounts():
    with open("/proc/self/mounts") as f:
        return [line for line in f if "fuse.sbfs" in line]


@needs_fuse
def test_disk_lose_unsynced_with_everysec_loses_acknowledged_adds(tmp_path):
    before = snapshot(str(tmp_path))
    out = disk_run(tmp_path, "everysec")
    res = out.results
    assert res is not None, out
    lost = res["checkers"]["lost-updates"]
    assert lost["valid"] is False, lost
    assert any(a["type"] == "lost" for a in lost["anomalies"])
    assert_witnesses_are_real(out.run_dir, res, "lost-updates")
    done = nemesis_completions(out.run_dir, "disk-lose-unsynced")
    assert done and all(not o.error for o in done), done
    assert sum(o.value["nodes"]["n1"]["lost_bytes"] for o in done) > 0
    assert leftovers(before, tmp_path, out.run_dir) == {}


@needs_fuse
def test_disk_lose_unsynced_with_always_keeps_acknowledged_adds(tmp_path):
    before = snapshot(str(tmp_path))
    out = disk_run(tmp_path, "always")
    res = out.results
    assert res is not None, out
    lost = res["checkers"]["lost-updates"]
    assert lost["valid"] is True, lost["anomalies"][:3]
    assert lost["stats"], lost
    done = nemesis_completions(out.run_dir, "disk-lose-unsynced")
    assert len(done) >= 2 and all(not o.error for o in done), done
    assert leftovers(before, tmp_path, out.run_dir) == {}


@pytest.mark.skipif(not have("gcc"), reason="needs gcc to build sbfnq")
def test_added_latency_on_the_primary_makes_replica_reads_staler(tmp_path):
    common = dict(workload="list-append", read_from="replicas", time_limit=10,
                  nemesis_interval=2, concurrency=6, rate=300,
                  nemesis_options={"packet": {
                      "targets": ["primaries"], "engine": "nfqueue",
                      "behaviours": {"delay": {"time_ms": 200, "jitter_ms": 20}}}})
    calm = run_in(tmp_path / "calm", nemesis="none", **common)
    slow = run_in(tmp_path / "slow", nemesis="packet-latency", **common)
    s_calm = calm.results["checkers"]["staleness"]["stats"]
    s_slow = slow.results["checkers"]["staleness"]["stats"]
    assert s_calm["reads_measured"] > 500 and s_slow["reads_measured"] > 500
    # The body of the distribution, not its tail: a loaded CI box once stalled a calm
    # replica for ~600 ms (p99 594 ms, p90 0); the delay moves p90 to ~200 ms.
    assert s_calm["p90_ms"] < 50, s_calm   # 0 here
    assert s_slow["p90_ms"] >= 150 and s_slow["p90_ms"] > s_calm["p90_ms"] + 100, (s_calm, s_slow)
    assert s_slow["stale_reads"] > 3 * (s_calm["stale_reads"] + 1), (s_calm, s_slow)
    started = nemesis_completions(slow.run_dir, "start-packet")
    assert started
    for o in started:
        assert list(o.value["nodes"]) == ["n1"], o.value  # the primary, toward the replicas
        assert o.value["nodes"]["n1"]["backend"] == "nfqueue"
        for pair, m in o.value["rtt"].items():
            assert 150 <= m["added_p50_ms"] <= 260, (pair, m)  # 200 ± 20 + load slack
    stopped = nemesis_completions(slow.run_dir, "stop-packet")
    assert any(c.get("delayed", 0) > 0 for o in stopped
               for k, c in o.value.get("counters", {}).items() if k.startswith("n1->"))


def _our_helpers(prefix: str) -> list[str]:
    """sbnfq / sbfs processes of run `prefix` still alive, and its FUSE mounts."""
    out = [m for m in no_sbfs_mounts() if prefix in m]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in "ZX" and ("sbnfq" in cmd or "sbfs" in cmd) and prefix in cmd:
            out.append(f"{pid}: {cmd}")
    return out


def _faulty_run(tmp_path):
    proc = spawn_run(tmp_path, "--workload", "set", "--nemesis", "packet-latency,disk-slow",
                     "--packet-engine", "nfqueue", "--nemesis-interval", "1")
    hist = wait_for_history(tmp_path, proc, lines=200)
    run_dir = os.path.dirname(hist)
    prefix = run_prefix(run_dir)
    deadline = time.monotonic() + 30
    while not (any("sbnfq" in h for h in _our_helpers(prefix))
               and any("sbfs" in h for h in _our_helpers(prefix))):
        assert time.monotonic() < deadline, _our_helpers(prefix)
        time.sleep(0.2)
    return proc, run_dir, prefix


@needs_fuse
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_removes_schedulers_rules_and_mounts(tmp_path, sig):
    before = snapshot(str(tmp_path))
    proc, run_dir, prefix = _faulty_run(tmp_path)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, out.decode()
    assert "Traceback" not in out.decode()
    assert _our_helpers(prefix) == []
    assert leftovers(before, tmp_path, run_dir) == {}


@needs_fuse
def test_cleanup_prefix_after_kill_9_removes_schedulers_and_mounts(tmp_path):
    proc, run_dir, prefix = _faulty_run(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert any("sbfs" in h for h in _our_helpers(prefix))  # the mounts outlive the controller
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-m", "splitbrain", "cleanup", "--prefix", prefix],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _our_helpers(prefix) == [], res.stdout
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(prefix)]
