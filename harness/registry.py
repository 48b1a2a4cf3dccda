"""The run registry: what each run created, on disk, so cleanup works after a crash.

One JSON file per run, `<runs_dir()>/<prefix>.json` (default `/run/splitbrain/runs`, a
tmpfs that empties on reboot exactly when namespaces and processes vanish too; override
with `SPLITBRAIN_RUN_DIR`). Updates are read-modify-write under an flock and land with an
atomic rename, so concurrent threads and processes of one run can record things safely.

Obligation for every creator: **register before you create** (a crash between the two
then leaves a record of something that may not exist, which cleanup tolerates; the other
order would leave something nobody knows about). Record shape:

    {"prefix": "sb1a2b3c", "backend": "netns", "created": 1719000000.0,
     "owner": {"pid": 4242, "start_time": 123456},
     "namespaces": [...], "bridges": [...], "links": [...],
     "iptables": [{"netns": null, "table": "filter", "chain": "FORWARD", "rule": [...]}],
     "pids": [{"pid": 99, "what": "redis-server", "netns": "sb1a2b3c-n1",
               "start_time": 5551234, "exe": "/usr/bin/redis-server",
               "comm": "redis-server", "cmdline": ["redis-server", "..."]}],
     "faketime_files": [...], "meta": {...}}

API for other modules:

    registry.new_run_prefix()                            -> "sb" + 6 hex chars
    registry.open_run(prefix, backend, **meta)           create the record (idempotent)
    registry.add(prefix, kind, item) / discard(prefix, kind, item)
    registry.register_pid(prefix, pid, what, netns=None) -> the pid record
    registry.unregister_pid(prefix, pid) -> False (kept) while the process is alive
    registry.signal_pid(prefix, pid, "TERM") / pid_alive(prefix, pid)   (controller-side)
    registry.register_faketime_file(prefix, path)
    registry.load(prefix) -> dict | None;  registry.runs() -> list[dict];  registry.forget(prefix)
    registry.same_process(pid_record) -> bool   (pid alive AND start time AND exe/comm/cmdline match)

Processes are identified by (pid, start time from /proc/<pid>/stat): a recycled pid has a
different start time, so cleanup never signals a stranger.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import time
from typing import Any, Iterator

from splitbrain.harness.errors import InputError

# sb + 1..10 of [0-9a-z]: keeps "<prefix>br" / "<prefix>v9" within Linux's 15-char ifname.
PREFIX_RE = re.compile(r"^sb[0-9a-z]{1,10}$")
LIST_KINDS = ("namespaces", "bridges", "links", "iptables", "pids", "faketime_files",
              "remote_hosts", "remote_pids",  # these two: ssh backend (ssh_cleanup.py)
              "mounts",  # {"path", "fsname"}: the disk nemesis's FUSE mounts (nemesis/disk.py)
              "workdirs")  # `cluster up` node dirs (<root>/<prefix>), removed by cleanup


def runs_dir() -> str:
    return os.environ.get("SPLITBRAIN_RUN_DIR", "/run/splitbrain/runs")


def new_run_prefix() -> str:
    """A fresh run prefix: "sb" + 6 hex chars."""
    return "sb" + secrets.token_hex(3)


def validate_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise InputError(f"run prefix {prefix!r} is invalid: it must be 'sb' followed by 1-10 "
                         "lowercase letters or digits (e.g. sb1a2b3c)")
    return prefix


def _path(prefix: str) -> str:
    return os.path.join(runs_dir(), f"{prefix}.json")


@contextlib.contextmanager
def _locked(prefix: str) -> Iterator[None]:
    os.makedirs(runs_dir(), exist_ok=True)
    with open(os.path.join(runs_dir(), f"{prefix}.lock"), "a") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)


def _read(prefix: str) -> dict[str, Any] | None:
    try:
        with open(_path(prefix)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # A torn or foreign file must not block cleanup; treat it as an empty record.
        return {"prefix": prefix, "corrupt": True}


def _write(prefix: str, rec: dict[str, Any]) -> None:
    tmp = _path(prefix) + f".tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, _path(prefix))


def _blank(prefix: str, backend: str) -> dict[str, Any]:
    me = process_identity(os.getpid()) or {}
    rec: dict[str, Any] = {"prefix": prefix, "backend": backend, "created": time.time(),
                           "owner": {"pid": os.getpid(), "start_time": me.get("start_time")},
                           "meta": {}}
    for k in LIST_KINDS:
        rec[k] = []
    return rec


def open_run(prefix: str, backend: str, **meta: Any) -> dict[str, Any]:
    """Create the run's record if missing (merging `meta`); returns it."""
    validate_prefix(prefix)
    with _locked(prefix):
        rec = _read(prefix) or _blank(prefix, backend)
        rec.setdefault("meta", {}).update(meta)
        _write(prefix, rec)
        return rec


def _update(prefix: str, fn) -> Any:
    validate_prefix(prefix)
    with _locked(prefix):
        rec = _read(prefix) or _blank(prefix, "unknown")
        out = fn(rec)
        _write(prefix, rec)
        return out


def add(prefix: str, kind: str, item: Any) -> None:
    """Record one resource of `kind` (one of LIST_KINDS); duplicates are ignored."""
    if kind not in LIST_KINDS:
        raise ValueError(f"unknown registry kind {kind!r}")

    def fn(rec):
        items = rec.setdefault(kind, [])
        if item not in items:
            items.append(item)

    _update(prefix, fn)


def discard(prefix: str, kind: str, item: Any) -> None:
    """Forget one resource (after it was removed)."""
    if _read(prefix) is None:
        return

    def fn(rec):
        rec[kind] = [x for x in rec.get(kind, []) if x != item]

    _update(prefix, fn)


def register_pid(prefix: str, pid: int, what: str, netns: str | None = None) -> dict[str, Any]:
    """Record a daemon the run started, with what identifies it beyond the pid."""
    ident = process_identity(pid) or {"start_time": None, "exe": None, "comm": None,
                                      "cmdline": []}
    entry = {"pid": int(pid), "what": what, "netns": netns, **ident}

    def fn(rec):
        rec["pids"] = [p for p in rec.get("pids", []) if p.get("pid") != entry["pid"]]
        rec["pids"].append(entry)

    _update(prefix, fn)
    return entry


def recorded_pid(prefix: str, pid: int) -> dict[str, Any] | None:
    """The run's record of `pid`, or None (not recorded, or no such run)."""
    validate_prefix(prefix)
    rec = _read(prefix) or {}
    for p in rec.get("pids", []):
        if p.get("pid") == int(pid):
            return p
    return None


def signal_pid(prefix: str, pid: int, sig: int | str) -> bool | None:
    """Signal a recorded daemon directly from the controller: True if delivered, False if
    the recorded process is gone, None if `pid` is not recorded for `prefix`.

    Every backend whose nodes share the controller's pid namespace (netns, local) stops
    and faults its daemons here rather than through `ip netns exec … kill`, which fails
    silently once the node's namespace is gone (`ip netns del`) and would leave the
    daemon running. The identity (pid + start time + exe/comm/cmdline) is checked right
    before the signal, so a recycled pid is never hit."""
    entry = recorded_pid(prefix, pid)
    if entry is None:
        return None
    if isinstance(sig, str):
        import signal as _signal

        sig = getattr(_signal, "SIG" + sig.upper().removeprefix("SIG"))
    if not same_process(entry):
        return False
    try:
        os.kill(int(pid), sig)
    except ProcessLookupError:
        return False
    return True


def pid_alive(prefix: str, pid: int) -> bool | None:
    """Whether the recorded process still runs (not a zombie); None if not recorded."""
    entry = recorded_pid(prefix, pid)
    return None if entry is None else same_process(entry)


# How long unregister_pid waits for a just-killed process to be gone before refusing.
FORGET_WAIT = 0.5


def unregister_pid(prefix: str, pid: int) -> bool:
    """Forget a pid once its process is gone; True if forgotten. A pid whose process is
    still alive (a stop that did not work) is never forgotten: cleanup must still find
    it. A record that only ever held pids (created implicitly by register_pid) is
    deleted once it holds nothing."""
    validate_prefix(prefix)
    entry = recorded_pid(prefix, pid)
    if entry is not None:
        deadline = time.monotonic() + FORGET_WAIT
        while same_process(entry):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
    with _locked(prefix):
        rec = _read(prefix)
        if rec is None:
            return True
        rec["pids"] = [p for p in rec.get("pids", []) if p.get("pid") != int(pid)]
        if rec.get("backend") == "unknown" and not any(rec.get(k) for k in LIST_KINDS):
            os.unlink(_path(prefix))  # the lock file stays; it is harmless and reused
        else:
            _write(prefix, rec)
    return True


def register_faketime_file(prefix: str, path: str) -> None:
    add(prefix, "faketime_files", os.path.abspath(path))


def load(prefix: str) -> dict[str, Any] | None:
    return _read(prefix)


def runs() -> list[dict[str, Any]]:
    """All recorded runs, oldest first."""
    try:
        names = sorted(os.listdir(runs_dir()))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.endswith(".json") and PREFIX_RE.match(n[:-5]):
            rec = _read(n[:-5])
            if rec is not None:
                out.append(rec)
    return sorted(out, key=lambda r: r.get("created") or 0)


def forget(prefix: str) -> bool:
    """Delete the run's record; True if there was one."""
    validate_prefix(prefix)
    with _locked(prefix):
        try:
            os.unlink(_path(prefix))
            existed = True
        except FileNotFoundError:
            existed = False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(runs_dir(), f"{prefix}.lock"))
    return existed


def owner_alive(rec: dict[str, Any]) -> bool:
    """Whether the process that created the run is still running (same pid + start time)."""
    owner = rec.get("owner") or {}
    if not owner.get("pid"):
        return False
    ident = process_identity(owner["pid"])
    return bool(ident) and ident["start_time"] == owner.get("start_time")


# -- process identity ------------------------------------------------------------------

def process_identity(pid: int) -> dict[str, Any] | None:
    """{start_time, exe, comm, cmdline} of a live (non-zombie) pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        # comm may contain spaces/parens: fields resume after the LAST ')'.
        rest = stat[stat.rindex(")") + 2:].split()
        state, start_time = rest[0], int(rest[19])
        if state in ("Z", "X"):
            return None
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = [c.decode(errors="replace") for c in f.read().split(b"\0") if c]
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            exe = None
    except (OSError, ValueError, IndexError):
        return None
    return {"start_time": start_time, "exe": exe, "comm": comm, "cmdline": cmdline}


def same_process(entry: dict[str, Any]) -> bool:
    """True iff `entry`'s pid is alive and is the process that was recorded.

    The start time must match exactly (it rules out a recycled pid); then one of exe,
    comm or cmdline must still match (daemons like redis rewrite their cmdline, but keep
    exe and comm)."""
    if not entry.get("pid") or entry.get("start_time") is None:
        return False
    now = process_identity(int(entry["pid"]))
    if now is None or now["start_time"] != entry["start_time"]:
        return False
    return any(entry.get(k) and now.get(k) == entry.get(k) for k in ("exe", "comm", "cmdline"))
