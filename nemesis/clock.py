"""Per-node clock skew for nodes that share one kernel clock (namespaces, containers).

Each node's datastore starts with our LD_PRELOAD shim (nemesis/clockshim.c) and a
control file; the shim offsets only the wall clock (CLOCK_REALTIME, gettimeofday, time)
by what the file says, re-reading it when it changes. Monotonic time stays real, which
the JVM needs (design/cassandra.md §5). We do not use libfaketime: Debian's 0.9.10
deadlocks at start-up inside jemalloc-linked redis-server.

    clock = ClockNemesis(nodes, "sb1a2b", rng, db)
    env = clock.shim_env(node)            # give to the DB's start: LD_PRELOAD + control file
    clock.invoke({"f": "clock-bump", "value": {"nodes": ["n2"], "delta_ms": 5000}})
    clock.invoke({"f": "clock-offsets"})  # {"type": "info", "value": {"n1": 0.3, "n2": 5000.8, …}}
    clock.teardown()                      # stops strobes, removes control files

Faults (op templates {"f", "value"}):
* clock-bump   {"nodes"|"targets", "delta_ms"}            offset += delta (both signs)
* clock-strobe {"nodes"|"targets", "delta_ms", "period_ms", "duration_s"}
               a background thread flips the offset by ±delta every period, then stops
* clock-drift  {"nodes"|"targets", "rate"}                 offset grows rate s per s from now
* clock-reset  {"nodes"}? (default all)                   offset 0, drift 0, strobes stopped
* clock-offsets                                            sample what each node reports
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from splitbrain.harness.errors import EnvironmentProblem
from splitbrain.nemesis.targets import choose_targets

CONTROL_ENV = "SPLITBRAIN_CLOCK_FILE"
SHIM_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clockshim.c")
CFLAGS = ("-shared", "-fPIC", "-O2", "-Wall")
# Longest the shim waits before it notices a new control file (CHECK_EVERY_NS in C) + slack.
SHIM_LAG_S = 0.01


def cache_dir() -> str:
    """Where compiled shims live: /var/lib/splitbrain as root, else ~/.cache/splitbrain."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/splitbrain"
    return os.path.join(os.path.expanduser("~"), ".cache", "splitbrain")


def build_shim(directory: str | None = None) -> str:
    """Compile clockshim.c once per source version; return the .so path.

    Keyed by the hash of the source and flags, so an edited shim is rebuilt and a cached
    one is reused across runs. Built under a temporary name and renamed, so concurrent
    runs never load a half-written library.
    """
    with open(SHIM_SOURCE, "rb") as f:
        src = f.read()
    key = hashlib.sha256(src + " ".join(CFLAGS).encode()).hexdigest()[:16]
    directory = directory or cache_dir()
    path = os.path.join(directory, f"clockshim-{key}.so")
    if os.path.exists(path):
        return path
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise EnvironmentProblem("clock faults need a C compiler (gcc) to build the clock "
                                 "shim; install gcc (Debian: apt-get install gcc)")
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".clockshim-", suffix=".so", dir=directory)
    os.close(fd)
    try:
        res = subprocess.run([gcc, *CFLAGS, "-o", tmp, SHIM_SOURCE], capture_output=True,
                             text=True, timeout=120)
        if res.returncode != 0:
            raise EnvironmentProblem(f"building the clock shim failed: {res.stderr[-800:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@dataclass(frozen=True)
class ClockSetting:
    """What one control file says: fake = real + offset + (real - ref) * drift_ppb / 1e9."""

    offset_ns: int = 0
    drift_ppb: int = 0
    ref_ns: int = 0

    def render(self) -> str:
        return f"{self.offset_ns} {self.drift_ppb} {self.ref_ns}\n"

    def offset_at(self, real_ns: int) -> int:
        return self.offset_ns + (real_ns - self.ref_ns) * self.drift_ppb // 1_000_000_000

    def rebased(self, real_ns: int) -> "ClockSetting":
        """The same clock expressed with ref = real_ns (so changing drift keeps continuity)."""
        return ClockSetting(self.offset_at(real_ns), self.drift_ppb, real_ns)


def _shared_filesystem(node) -> bool:
    # LocalRemote / NetnsRemote run on the controller: paths are the same on both sides.
    return hasattr(node.remote, "netns")


def redis_time_probe(port: int, timeout: float = 0.5) -> Callable[[Any], float]:
    """A probe giving node.address:port's Redis `TIME` minus ours, in seconds."""
    from splitbrain.harness.dbs.redis import redis_clock_offset

    return lambda node: redis_clock_offset(node.address, port, timeout)


def wall_time_probe(wall_time: Callable[[Any], float]) -> Callable[[Any], float]:
    """A probe from a function giving a node's wall time in epoch seconds."""
    def probe(node) -> float:
        t0 = time.time()
        theirs = wall_time(node)
        return theirs - (t0 + time.time()) / 2
    return probe


def default_probe(db) -> Callable[[Any], float] | None:
    """How to learn a node's clock offset: the DB's WallClock capability, else None
    (offsets are then reported as configured)."""
    from splitbrain.harness.dbs.base import WallClock

    return db.clock_offset if isinstance(db, WallClock) else None


class ClockNemesis:
    """Clock faults on nodes whose datastore was started with `shim_env(node)`.

    Obligations: faults change only the wall clock of processes started with the shim
    env, never the controller's; every fault and every sample returns a completion and
    never raises; teardown stops strobe threads and removes the control files (after
    which shimmed processes see real time again), and is idempotent.
    """

    name = "clock"
    faults = ("clock-bump", "clock-strobe", "clock-drift", "clock-reset", "clock-offsets")

    def __init__(self, nodes, prefix: str, rng: random.Random, db=None, *,
                 time_probe: Callable[[Any], float] | None = None):
        # time_probe(node) -> that node's wall clock minus ours, in seconds
        self.nodes = list(nodes)
        self.prefix = prefix
        self.rng = rng
        self.db = db
        self.time_probe = time_probe or default_probe(db)
        self._settings: dict[str, ClockSetting] = {n.name: ClockSetting() for n in self.nodes}
        self._lock = threading.Lock()
        self._strobes: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._files: dict[str, str] = {}  # node name -> control file path on the node
        self._shim_on_node: dict[str, str] = {}
        self._shim: str | None = None

    # -- set-up --------------------------------------------------------------------
    def control_path(self, node) -> str:
        return os.path.join(node.workdir, f"{self.prefix}-clock-{node.name}")

    def shim_env(self, node) -> dict[str, str]:
        """The env the node's datastore must start with. Builds/installs the shim and
        writes a zero control file on first use, so it may be called before setup()."""
        with self._lock:
            if self._shim is None:
                self._shim = build_shim()
            lib = self._shim_on_node.get(node.name)
            if lib is None:
                if _shared_filesystem(node):
                    lib = self._shim
                else:
                    lib = os.path.join(node.workdir, os.path.basename(self._shim))
                    node.remote.upload(self._shim, lib)
                self._shim_on_node[node.name] = lib
            if node.name not in self._files:
                self._write(node, self._settings[node.name])
        return {"LD_PRELOAD": lib, CONTROL_ENV: self._files[node.name]}

    def setup(self) -> None:
        for node in self.nodes:
            self.shim_env(node)

    # -- faults --------------------------------------------------------------------
    def invoke(self, fault: dict) -> dict:
        f = fault.get("f")
        value = fault.get("value") or {}
        try:
            if f == "clock-offsets":
                return self.sample()
            if f == "clock-reset":
                nodes = self._nodes(value, default="all")
                self._stop_strobes([n.name for n in nodes])
                self._set({n.name: ClockSetting() for n in nodes})
                done = {"nodes": [n.name for n in nodes]}
            elif f == "clock-bump":
                nodes = self._nodes(value)
                delta_ns = int(float(value["delta_ms"]) * 1e6)
                now = time.time_ns()
                self._stop_strobes([n.name for n in nodes])
                self._set({n.name: replace(self._settings[n.name].rebased(now),
                                           offset_ns=self._settings[n.name].offset_at(now)
                                           + delta_ns) for n in nodes})
                done = {"nodes": [n.name for n in nodes], "delta_ms": value["delta_ms"]}
            elif f == "clock-drift":
                nodes = self._nodes(value)
                rate = float(value["rate"])
                now = time.time_ns()
                self._stop_strobes([n.name for n in nodes])
                self._set({n.name: replace(self._settings[n.name].rebased(now),
                                           drift_ppb=round(rate * 1e9)) for n in nodes})
                done = {"nodes": [n.name for n in nodes], "rate": rate}
            elif f == "clock-strobe":
                nodes = self._nodes(value)
                delta_ms = float(value["delta_ms"])
                period_ms = float(value.get("period_ms", 10))
                duration_s = float(value.get("duration_s", 5))
                self._stop_strobes([n.name for n in nodes])
                for n in nodes:
                    self._start_strobe(n, delta_ms, period_ms, duration_s)
                done = {"nodes": [n.name for n in nodes], "delta_ms": delta_ms,
                        "period_ms": period_ms, "duration_s": duration_s}
            else:
                return {"type": "info", "value": fault.get("value"),
                        "error": f"clock nemesis has no fault {f!r}"}
        except Exception as e:  # the run goes on; the history says what failed
            return {"type": "info", "value": fault.get("value"),
                    "error": f"{type(e).__name__}: {e}"}
        return {"type": "info", "value": done}

    def sample(self) -> dict:
        """Each node's wall-clock offset in ms, as the node reports it (or as configured
        when there is no probe). Unreachable nodes are left out and named in `error`."""
        if self.time_probe is None:
            now = time.time_ns()
            with self._lock:
                value = {name: s.offset_at(now) / 1e6 for name, s in self._settings.items()}
            return {"type": "info", "value": value, "source": "configured"}
        value, failed = {}, []
        for node in self.nodes:
            try:
                value[node.name] = round(self.time_probe(node) * 1000, 3)
            except Exception as e:
                failed.append(f"{node.name}: {type(e).__name__}")
        out = {"type": "info", "value": value, "source": "measured"}
        if failed:
            out["error"] = "no time from " + ", ".join(failed)
        return out

    def heal_all(self) -> dict:
        return self.invoke({"f": "clock-reset", "value": None})

    def active(self) -> list[str]:
        now = time.time_ns()
        with self._lock:
            out = [f"clock {name} {s.offset_at(now) / 1e6:+.0f}ms"
                   + (f" drift {s.drift_ppb / 1e9:+g}" if s.drift_ppb else "")
                   for name, s in self._settings.items() if s != ClockSetting()]
        out += [f"clock-strobe {name}" for name, (t, _) in self._strobes.items()
                if t.is_alive()]
        return out

    def teardown(self) -> None:
        self._stop_strobes(list(self._strobes))
        with self._lock:
            files = dict(self._files)
            self._files.clear()
            self._settings = {n.name: ClockSetting() for n in self.nodes}
        by_name = {n.name: n for n in self.nodes}
        for name, path in files.items():
            node = by_name[name]
            try:
                if _shared_filesystem(node):
                    if os.path.exists(path):
                        os.unlink(path)
                else:
                    node.remote.exec(["rm", "-f", path], timeout=10, check=False)
            except Exception:
                pass  # cleanup tries everything; `splitbrain cleanup` finds the rest by prefix
        for name, lib in self._shim_on_node.items():
            node = by_name[name]
            if not _shared_filesystem(node):
                try:
                    node.remote.exec(["rm", "-f", lib], timeout=10, check=False)
                except Exception:
                    pass
        self._shim_on_node.clear()

    # -- internals -----------------------------------------------------------------
    def _nodes(self, value: dict, default: str | None = None) -> list:
        spec = value.get("nodes") or value.get("targets") or default
        if spec is None:
            raise ValueError("fault names no nodes (value.nodes or value.targets)")
        return choose_targets(spec, self.nodes, self.rng,
                              getattr(self.db, "primaries", None))

    def _set(self, settings: dict[str, ClockSetting]) -> None:
        by_name = {n.name: n for n in self.nodes}
        with self._lock:
            for name, s in settings.items():
                self._settings[name] = s
                self._write(by_name[name], s)

    def _write(self, node, setting: ClockSetting) -> None:
        """Replace the node's control file atomically (the shim must never see half)."""
        path = self.control_path(node)
        if not self._files.get(node.name):
            _register_file(self.prefix, path)
        self._files[node.name] = path
        if _shared_filesystem(node):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp"
            with open(tmp, "w") as f:
                f.write(setting.render())
            os.replace(tmp, path)
            return
        fd, local = tempfile.mkstemp(prefix=f"{self.prefix}-clock-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(setting.render())
            node.remote.upload(local, f"{path}.tmp")
            node.remote.exec(["mv", "-f", f"{path}.tmp", path], timeout=10)
        finally:
            os.unlink(local)

    def _start_strobe(self, node, delta_ms: float, period_ms: float, duration_s: float):
        stop = threading.Event()
        base = self._settings[node.name].rebased(time.time_ns())
        delta_ns = int(delta_ms * 1e6)

        def run():
            deadline = time.monotonic() + duration_s
            up = True
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    self._set({node.name: replace(base, offset_ns=base.offset_ns
                                                  + (delta_ns if up else 0))})
                    up = not up
                    stop.wait(period_ms / 1000)
            finally:
                if not stop.is_set():  # ended by time: leave the clock where it started
                    self._set({node.name: base})

        t = threading.Thread(target=run, name=f"{self.prefix}-strobe-{node.name}",
                             daemon=True)
        self._strobes[node.name] = (t, stop)
        t.start()

    def _stop_strobes(self, names: list[str]) -> None:
        for name in names:
            entry = self._strobes.pop(name, None)
            if entry:
                t, stop = entry
                stop.set()
                t.join(timeout=5)


def _register_file(prefix: str, path: str) -> None:
    """Record a control file in the run registry before creating it, so `splitbrain
    cleanup` removes it after a crash (harness/registry.py)."""
    from splitbrain.harness import registry

    try:
        registry.register_faketime_file(prefix, path)
    except Exception:
        pass  # a prefix the registry rejects (tests) must not stop the fault itself


# -- the family package (nemesis/base.py) ---------------------------------------------

CLOCK_KINDS = ("bump", "strobe", "drift")


def _start_template(ctx, variants, opts) -> dict:
    import math

    from splitbrain.nemesis.targets import pick_target, target_names

    rng = ctx.rng
    kind = rng.choice(variants or CLOCK_KINDS)
    names = target_names(pick_target(rng, opts, ("one", "minority", "majority", "all")),
                         ctx.nodes, rng)
    if kind == "bump":
        lo = math.log2(max(1.0, float(opts.get("min_bump_ms", 4))))
        hi = math.log2(max(2.0, float(opts.get("max_bump_ms", 262144))))
        delta = round(2 ** rng.uniform(lo, max(lo, hi)))
        return {"f": "clock-bump", "value": {"nodes": names, "delta_ms": delta * rng.choice((-1, 1))}}
    if kind == "strobe":
        return {"f": "clock-strobe",
                "value": {"nodes": names,
                          "delta_ms": opts.get("strobe_delta_ms", round(2 ** rng.uniform(2, 10))),
                          "period_ms": opts.get("strobe_period_ms", 10),
                          "duration_s": opts.get("strobe_duration_s", min(5.0, ctx.interval))}}
    max_drift = float(opts.get("max_drift", 0.05))
    return {"f": "clock-drift",
            "value": {"nodes": names, "rate": round(rng.uniform(-max_drift, max_drift), 6)}}


def _check_options(opts) -> None:
    import math

    from splitbrain.harness.errors import InputError

    for key in ("max_bump_ms", "min_bump_ms", "strobe_delta_ms", "strobe_period_ms",
                "strobe_duration_s", "max_drift"):
        v = opts.get(key)
        if v is not None and (type(v) not in (int, float) or not math.isfinite(v) or v <= 0):
            raise InputError(f"nemesis option clock.{key}: a positive finite number, not {v!r}")


def _family():
    from splitbrain.nemesis.base import FaultFamily

    return FaultFamily(
        name="clock", nemesis="clock", starts=("clock-bump", "clock-strobe", "clock-drift"),
        stop="clock-reset", samples=("clock-offsets",), follow_up="clock-offsets",
        start_template=_start_template,
        build=lambda ctx: ClockNemesis(list(ctx.nodes), ctx.prefix, ctx.rng, ctx.db),
        variants=CLOCK_KINDS,
        option_keys=frozenset({"targets", "max_bump_ms", "min_bump_ms", "strobe_delta_ms",
                               "strobe_period_ms", "strobe_duration_s", "max_drift"}),
        validate_options=_check_options, heal_rank=50,
        summary="per-node wall-clock bumps, strobes and drift (LD_PRELOAD shim)")


FAMILIES = (_family(),)
