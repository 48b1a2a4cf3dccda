"""The `disk` fault family: the datastore's data directory on a FUSE filesystem owned by
the run (nemesis/sbfs.c) that keeps written data in its own memory until fsync, so a
simulated power failure can drop exactly what the datastore never made durable.

    disk = DiskNemesis(nodes, db, "sb1a2b", rng)
    disk.setup()        # mounts sbfs over db.data_dir(node) on every node (before db.start)
    disk.invoke({"f": "disk-lose-unsynced", "value": {"targets": ["n1"], "torn": False}})
    #  -> kill the DB on n1, drop its unsynced writes, start it again
    disk.invoke({"f": "disk-slow", "value": {"targets": "all", "fsync_ms": 100}})
    disk.invoke({"f": "disk-heal"})     # slow disks fast again
    disk.teardown()     # unmounts (lazily: the DB may still hold files), stops sbfs

Faults (op templates {"f", "value"}):
* disk-lose-unsynced {targets, torn?, seed?}  a correlated power failure of the targets:
  SIGKILL every target's DB process, drop every write not fsynced (torn: keep a random-
  length prefix of each file's unsynced writes, cut inside one write), restart them. The
  completion says how many bytes each node lost.
* disk-slow {targets, fsync_ms, write_ms?}   every fsync (and write) waits that long.
* disk-heal                                  end disk-slow everywhere; start any crashed
                                             node whose restart has not finished.

Durability model (documented in sbfs.c): file data waits for fsync/fdatasync; metadata
(create, rename, unlink, truncate) is durable at once.

Why C with libfuse3 (not pyfuse3 or Rust fuser): every write of the datastore crosses
FUSE, so the daemon sits in the datastore's latency path; a single-threaded C loop adds
a few µs per request (bench/disk_overhead.py measures Redis AOF through it), pyfuse3
would add a Python callback per write and contend for the controller's CPU, fuser would
add a cargo build to a fresh CI machine. Debian's libfuse3-dev and fuse3 are the only new
packages (scripts/setup.sh).

Obligations: only the netns backend (the controller must see the node's filesystem to
mount over it); every mount carries the run prefix in its fsname (`<prefix>-disk-<node>`),
is recorded in the run registry (`mounts`) before it is created, and its sbfs daemon is a
recorded pid; teardown unmounts and stops everything and is idempotent; `splitbrain
cleanup` unmounts what a crashed run left (harness/cluster/cleanup.py); invoke never
raises. A DB without persistence configured gets Redis's default `appendfsync everysec`
(set before the DB writes its config), since a disk fault on a store that keeps nothing
on disk would test nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time

from splitbrain.harness.errors import EnvironmentProblem, InputError
from splitbrain.nemesis.targets import choose_targets

CONTROL = ".sbfs-control"


def sbfs_binary() -> str:
    """Compile sbfs.c against libfuse3 (cached like the clock shim)."""
    from splitbrain.nemesis.native import build_program

    try:
        libs = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                              text=True, timeout=30)
    except OSError:
        libs = None
    if libs is None or libs.returncode != 0:
        raise EnvironmentProblem("disk faults need libfuse3 (Debian: apt-get install fuse3 "
                                 "libfuse3-dev pkg-config)")
    flags = libs.stdout.split()
    return build_program("sbfs.c", cflags=("-O2", "-Wall", *[f for f in flags if f.startswith("-I")]),
                         libs=[f for f in flags if not f.startswith("-I")])


def mounted(path: str) -> bool:
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == path for line in f if len(line.split()) > 2)
    except OSError:
        return False


def unmount(path: str) -> bool:
    """Lazy unmount (files the DB still holds keep working until it closes them)."""
    if not mounted(path):
        return False
    for argv in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if shutil.which(argv[0]) and subprocess.run(argv, capture_output=True,
                                                    timeout=30).returncode == 0:
            return True
    return not mounted(path)


class DiskNemesis:
    """Disk faults on the nodes' data directories (see the module docstring)."""

    name = "disk"
    faults = ("disk-lose-unsynced", "disk-slow", "disk-heal")

    def __init__(self, nodes, db, prefix: str, rng: random.Random):
        if db is None or not callable(getattr(db, "data_dir", None)):
            raise InputError("disk faults need a datastore whose data directory is known "
                             "(--db redis or cassandra)")
        for n in nodes:
            if not hasattr(n.remote, "netns"):
                raise InputError("disk faults need --backend netns (the data directory is "
                                 "mounted from the controller)")
        self.nodes = list(nodes)
        self.db = db
        self.prefix = prefix
        self.rng = rng
        self._daemons: dict[str, object] = {}
        self._mounts: dict[str, str] = {}
        self._slow: set[str] = set()
        self._crashed: set[str] = set()  # lost-unsynced nodes not yet known to be started
        self._last_started: list[str] = []
        self._bin: str | None = None

    # -- set-up / tear-down ------------------------------------------------------------
    def setup(self) -> None:
        if getattr(self.db, "appendfsync", "unset") is None:
            self.db.appendfsync = "everysec"  # before db.setup renders the config
        self._bin = self._bin or sbfs_binary()
        for node in self.nodes:
            self._mount(node)

    def backing_dir(self, node) -> str:
        return os.path.join(node.workdir, f"{self.prefix}-disk-backing")

    def _mount(self, node) -> None:
        from splitbrain.harness import registry
        from splitbrain.harness.control.local import LocalRemote

        mp = os.path.realpath(self.db.data_dir(node))
        backing = self.backing_dir(node)
        os.makedirs(mp, exist_ok=True)
        os.makedirs(backing, exist_ok=True)
        if mounted(mp):
            raise EnvironmentProblem(f"{mp} is already a mount point")
        fsname = f"{self.prefix}-disk-{node.name}"
        registry.add(self.prefix, "mounts", {"path": mp, "fsname": fsname})  # before creating
        self._mounts[node.name] = mp
        log = os.path.join(node.workdir, f"{self.prefix}-sbfs.log")
        # On the controller, not in the node's namespace: `ip netns exec` gives each
        # command a private mount namespace, where a mount would be invisible to the DB.
        d = LocalRemote(f"sbfs {node.name}", run_prefix=self.prefix).spawn(
            [self._bin, backing, mp, "-f", "-s", "-o", f"fsname={fsname},subtype=sbfs"],
            log_path=log)
        self._daemons[node.name] = d
        deadline = time.monotonic() + 10
        while not mounted(mp):
            if time.monotonic() > deadline or not _alive(d.pid):
                tail = _tail(log)
                self._unmount(node)
                raise EnvironmentProblem(f"sbfs did not mount {mp}: {tail or 'no output'}")
            time.sleep(0.02)

    def teardown(self) -> None:
        for node in self.nodes:
            self._unmount(node)

    def _unmount(self, node) -> None:
        from splitbrain.harness import registry
        from splitbrain.harness.dbs import daemons

        mp = self._mounts.pop(node.name, None)
        d = self._daemons.pop(node.name, None)
        if mp:
            unmount(mp)
        if d is not None:
            from splitbrain.harness.control.local import LocalRemote

            local = LocalRemote(f"sbfs {node.name}")
            daemons.stop(_LocalNode(local), d, grace=5.0)
            daemons.unregister(self.prefix, d)
        if mp:
            registry.discard(self.prefix, "mounts",
                             {"path": mp, "fsname": f"{self.prefix}-disk-{node.name}"})
            shutil.rmtree(self.backing_dir(node), ignore_errors=True)

    # -- faults ------------------------------------------------------------------------
    def invoke(self, fault: dict) -> dict:
        f = fault.get("f")
        value = fault.get("value") or {}
        try:
            if f == "disk-lose-unsynced":
                return {"type": "info", "value": self._lose(value)}
            if f == "disk-slow":
                nodes = self._targets(value)
                ms = int(float(value.get("fsync_ms", 100)))
                wms = int(float(value.get("write_ms", 0)))
                for n in nodes:
                    self._control(n, f"slow {ms} {wms}")
                    self._slow.add(n.name)
                return {"type": "info", "value": {"nodes": [n.name for n in nodes],
                                                  "fsync_ms": ms, "write_ms": wms}}
            if f == "disk-heal":
                healed = self._heal()
                return {"type": "info", "value": {"nodes": healed,
                                                  "started": self._last_started}}
            return {"type": "info", "value": fault.get("value"),
                    "error": f"disk nemesis has no fault {f!r}"}
        except Exception as e:
            return {"type": "info", "value": fault.get("value"),
                    "error": f"{type(e).__name__}: {e}"}

    def heal_all(self) -> dict:
        return self.invoke({"f": "disk-heal"})

    def active(self) -> list[str]:
        return [f"disk-slow {n}" for n in sorted(self._slow)]

    def counters(self, node) -> dict:
        with open(os.path.join(self._mounts[node.name], CONTROL)) as f:
            return json.loads(f.read())

    def _heal(self) -> list[str]:
        """End disk-slow; and make sure every crashed node runs again (db.start is
        idempotent and waits for a restart still in progress), so final reads find the
        cluster up even if the crash's own restart is still going on in another thread."""
        crashed = [n for n in self.nodes if n.name in self._crashed]
        errors = self._start_all(crashed)
        if errors:
            raise RuntimeError("restart after the crash failed: " + "; ".join(errors))
        self._last_started = [n.name for n in crashed]
        healed = []
        for n in self.nodes:
            if n.name in self._slow and n.name in self._mounts:
                self._control(n, "slow 0 0")
                healed.append(n.name)
        self._slow.clear()
        return healed

    def _lose(self, value: dict) -> dict:
        """A correlated power failure of the targets: all are killed first, then every
        one loses its unsynced data, then all start again (so no target can re-replicate
        to another target in between)."""
        torn = bool(value.get("torn", False))
        out: dict = {"nodes": {}, "torn": torn}
        targets = self._targets(value)
        self._crashed.update(n.name for n in targets)
        for node in targets:
            self.db.kill(node)   # returns once the process is gone: nothing writes now
            # data written through mmap (Cassandra's commitlog) may still be dirty in the
            # kernel's page cache: push it into sbfs, where it is pending like the rest
            subprocess.run(["sync", "-f", self._mounts[node.name]], capture_output=True,
                           timeout=60)
        errors = []
        for i, node in enumerate(targets):
            seed = int(value.get("seed", self.rng.randrange(2 ** 32))) + i
            self._control(node, f"lose-torn {seed}" if torn else "lose")
            c = self.counters(node)
            out["nodes"][node.name] = {"lost_bytes": c["last_lost_bytes"],
                                       "torn_kept_bytes": c["last_torn_kept_bytes"]}
        errors = self._start_all(targets)
        if errors:
            raise RuntimeError("restart after the crash failed: " + "; ".join(errors))
        return out

    def _start_all(self, nodes) -> list[str]:
        """db.start on every node in parallel (a JVM restart takes a minute on a loaded
        machine; one after the other would outlast the run); the errors, per node."""
        from concurrent.futures import ThreadPoolExecutor

        def one(node):
            try:
                self.db.start(node)
                return None
            except Exception as e:  # the others must still start
                return f"{node.name}: {type(e).__name__}: {e}"

        nodes = list(nodes)
        if not nodes:
            return []
        with ThreadPoolExecutor(max_workers=len(nodes)) as ex:
            errors = [e for e in ex.map(one, nodes) if e]
        self._crashed.difference_update(n.name for n in nodes)
        return errors

    def _targets(self, value: dict) -> list:
        spec = value.get("targets") or value.get("nodes") or "one"
        primaries = getattr(self.db, "primaries", None)
        return [n for n in choose_targets(spec, self.nodes, self.rng, primaries)
                if n.name in self._mounts]

    def _control(self, node, command: str) -> None:
        with open(os.path.join(self._mounts[node.name], CONTROL), "w") as f:
            f.write(command + "\n")


class _LocalNode:
    """Just enough of a Node for harness.dbs.daemons to signal a controller process."""

    def __init__(self, remote):
        self.remote = remote
        self.name = remote.name
        self.meta: dict = {}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-3:])
    except OSError:
        return ""


# -- the family package (nemesis/base.py) ---------------------------------------------

DISK_KINDS = ("lose-unsynced", "slow")


def _check_options(opts) -> None:
    bad = set(opts.get("kinds") or ()) - set(DISK_KINDS)
    if bad:
        raise InputError(f"nemesis option disk.kinds: unknown {sorted(bad)}; allowed: "
                         f"{', '.join(DISK_KINDS)}")


def _start_template(ctx, variants, opts) -> dict:
    from splitbrain.nemesis.targets import pick_target, target_names

    kind = ctx.rng.choice(variants or tuple(opts.get("kinds") or DISK_KINDS))
    spec = pick_target(ctx.rng, opts, ("one", "minority", "primaries"))
    # "primaries", "one-primary" are resolved when the fault runs (DiskNemesis asks the DB)
    live = spec in ("primaries", "one-primary")
    names = spec if live else target_names(spec, ctx.nodes, ctx.rng)
    if kind == "slow":
        return {"f": "disk-slow", "value": {"targets": names,
                                            "fsync_ms": opts.get("fsync_ms", 100),
                                            "write_ms": opts.get("write_ms", 0)}}
    return {"f": "disk-lose-unsynced",
            "value": {"targets": names, "torn": bool(opts.get("torn", False))}}


def _family():
    from splitbrain.nemesis.base import FaultFamily

    # heals first: a node whose restart after a power failure is pending comes back
    # before paused ones resume and killed ones restart
    return FaultFamily(
        name="disk", nemesis="disk", starts=("disk-lose-unsynced", "disk-slow"),
        stop="disk-heal", start_template=_start_template,
        build=lambda ctx: DiskNemesis(list(ctx.nodes), ctx.db, ctx.prefix, ctx.rng),
        variants=DISK_KINDS,
        option_keys=frozenset({"targets", "kinds", "torn", "fsync_ms", "write_ms"}),
        validate_options=_check_options, heal_rank=5,
        summary="lose unsynced writes (power failure) or slow fsyncs (FUSE)")


FAMILIES = (_family(),)
