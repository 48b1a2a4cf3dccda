"""The LD_PRELOAD clock shim on its own: real programs under it, effects observed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import have
from splitbrain.nemesis.clock import CONTROL_ENV, ClockSetting, build_shim

pytestmark = pytest.mark.skipif(not have("gcc"), reason="needs gcc to build the shim")

# 5 = CLOCK_REALTIME_COARSE (Python names no constant for it)
PROBE = ("import json, time\n"
         "out = []\n"
         "for _ in range({n}):\n"
         "    out.append((time.time(), time.monotonic(), time.clock_gettime(5)))\n"
         "    time.sleep({sleep})\n"
         "print(json.dumps(out))\n")


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(str(tmp_path_factory.mktemp("shimcache")))


def write(path, setting: ClockSetting) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(setting.render())
    os.replace(tmp, path)


def run_probe(shim, ctl, n=1, sleep=0.0):
    env = dict(os.environ, LD_PRELOAD=shim, **{CONTROL_ENV: str(ctl)})
    t0, m0 = time.time(), time.monotonic()
    out = subprocess.run([sys.executable, "-c", PROBE.format(n=n, sleep=sleep)], env=env,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return t0, m0, json.loads(out)


def test_build_is_cached_by_source_hash(shim, tmp_path):
    assert os.path.exists(shim)
    assert build_shim(os.path.dirname(shim)) == shim
    assert "clockshim-" in os.path.basename(shim)


def test_offset_applies_to_wall_clock_only(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    write(ctl, ClockSetting(offset_ns=3_600 * 10**9))
    t0, m0, [(t, m, coarse)] = run_probe(shim, ctl)
    assert 3600 - 0.5 < t - t0 < 3600 + 5
    assert 3600 - 0.5 < coarse - t0 < 3600 + 5
    # monotonic is system-wide on Linux: the child's reading must be right after ours
    assert 0 <= m - m0 < 5


def test_negative_offset_and_missing_file(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    write(ctl, ClockSetting(offset_ns=-90 * 10**9))
    t0, _, [(t, _, _)] = run_probe(shim, ctl)
    assert -90.5 < t - t0 < -85
    os.unlink(ctl)
    t0, _, [(t, _, _)] = run_probe(shim, ctl)
    assert -0.5 < t - t0 < 5


def test_file_change_is_picked_up_at_runtime(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    write(ctl, ClockSetting())
    env = dict(os.environ, LD_PRELOAD=shim, **{CONTROL_ENV: str(ctl)})
    code = ("import sys, time\n"
            "for line in sys.stdin:\n"
            "    print(time.time(), flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        def their_clock() -> tuple[float, float, float]:
            """(t0, theirs, t1): the child's time.time() read between our t0 and t1; of up to
            five tries, the one with the shortest round trip (a loaded machine stretches
            some)."""
            best = None
            for _ in range(5):
                time.sleep(0.01)  # the shim looks at the file at most every 2 ms
                t0 = time.time()
                p.stdin.write("?\n")
                p.stdin.flush()
                theirs = float(p.stdout.readline())
                t1 = time.time()
                if best is None or t1 - t0 < best[2] - best[0]:
                    best = (t0, theirs, t1)
                if t1 - t0 < 0.02:
                    break
            return best

        def assert_offset(expected: float) -> None:
            # the child read its clock between our t0 and t1: shifted by the offset, its
            # reading must fall in that window (10 ms of slack for float rounding)
            t0, theirs, t1 = their_clock()
            assert t0 + expected - 0.01 <= theirs <= t1 + expected + 0.01, (
                expected, theirs - t0, t1 - t0)

        their_clock()  # warm-up: interpreter start-up is not clock skew
        assert_offset(0)
        write(ctl, ClockSetting(offset_ns=7 * 10**9))
        assert_offset(7)
        write(ctl, ClockSetting(offset_ns=-2 * 10**9))
        assert_offset(-2)
        os.unlink(ctl)
        assert_offset(0)
    finally:
        p.stdin.close()
        p.wait(10)


def test_drift_grows_offset(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    now = time.time_ns()
    write(ctl, ClockSetting(offset_ns=0, drift_ppb=500_000_000, ref_ns=now))  # +0.5 s/s
    _, _, samples = run_probe(shim, ctl, n=2, sleep=0.4)
    (t1, m1, _), (t2, m2, _) = samples
    # wall time advances 1.5x as fast as monotonic time
    assert 1.4 < (t2 - t1) / (m2 - m1) < 1.6


def test_half_written_file_keeps_previous_values(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    with open(ctl, "w") as f:
        f.write("5000000000 0")  # no third field, no newline: a writer caught half-way
    t0, _, [(t, _, _)] = run_probe(shim, ctl)
    assert -0.5 < t - t0 < 4  # never applied


def test_date_and_gettimeofday(shim, tmp_path):
    ctl = tmp_path / "sbtest-clock"
    write(ctl, ClockSetting(offset_ns=86_400 * 10**9))
    env = dict(os.environ, LD_PRELOAD=shim, **{CONTROL_ENV: str(ctl)})
    out = subprocess.run(["date", "+%s"], env=env, capture_output=True, text=True,
                         check=True, timeout=10).stdout
    assert 86_400 - 2 < int(out) - time.time() < 86_400 + 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.redis
@pytest.mark.skipif(not have("redis-server"), reason="needs redis-server")
def test_redis_server_starts_under_shim_without_deadlock(shim, tmp_path):
    """The libfaketime 0.9.10 trap: jemalloc-linked redis-server hung at start-up."""
    import redis

    ctl = tmp_path / "sbtest-clock"
    write(ctl, ClockSetting(offset_ns=120 * 10**9))
    port = _free_port()
    env = dict(os.environ, LD_PRELOAD=shim, **{CONTROL_ENV: str(ctl)})
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 5
        while True:
            try:
                r.ping()
                break
            except redis.ConnectionError:
                assert p.poll() is None, "redis-server died under the shim"
                assert time.monotonic() < deadline, "redis-server did not answer: deadlock?"
                time.sleep(0.05)
        t0 = time.time()
        sec, usec = r.time()
        assert abs(sec + usec / 1e6 - t0 - 120) < 0.05
        r.close()
    finally:
        p.kill()
        p.wait(10)
