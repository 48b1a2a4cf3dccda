"""Remove what splitbrain runs left behind (`splitbrain cleanup`, and every `down()`).

    report = cleanup("sb1a2b3c")   # one run: everything it recorded or that carries its prefix
    report = cleanup()             # every leftover sb* run whose creating process is gone
    print("\\n".join(report.lines()))

What is removed, in this order (each step tolerates things already gone, so it is
idempotent and safe after a crash at any point):

1. processes: the pids recorded in the run registry, signalled only if /proc still shows
   the same start time and exe/comm/cmdline (never a recycled pid), plus every pid living
   in one of the run's namespaces (`ip netns pids`: they can only be ours); SIGTERM, then
   SIGKILL after `TERM_GRACE` seconds;
2. iptables rules in the controller's tables whose comment is the run prefix
   (e.g. the FORWARD ACCEPT for the bridge), and user chains named `<prefix>…`;
3. veths `<prefix>v<N>`, bridges `<prefix>br`, namespaces `<prefix>-…`;
4. recorded faketime files, and FUSE mounts (the disk nemesis's): recorded ones and any
   whose fsname is `<prefix>-disk-…`, lazily unmounted;
5. extra cleaners (`EXTRA_CLEANERS`, e.g. Docker containers and networks), if installed;
6. the registry record, once nothing failed.

Nothing without the `sb` prefix is ever touched, and only what a run recorded (register
before create) unless `force_pattern=True`. `cleanup()` with no prefix skips runs whose
creating process is still alive (someone is using them) unless `force=True`; an
explicit prefix is always cleaned.

Hook for other backends: put "module:function" into `EXTRA_CLEANERS` (or call
`register_cleaner(fn)`); the function is called as `fn(prefix, protected)` with
`prefix: str | None` (None = all leftovers) and `protected: frozenset[str]` (prefixes of
live runs it must not touch) and returns a list of human-readable lines of what it removed.
A module that is not installed is skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from splitbrain.harness import registry

TERM_GRACE = 2.0
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")
EXTRA_CLEANERS: list[str] = ["splitbrain.harness.cluster.docker_cleanup:cleanup_docker",
                              "splitbrain.harness.cluster.ssh_cleanup:cleanup_ssh"]
_CLEANER_FNS: list[Callable[[str | None, frozenset[str]], list[str]]] = []

_P = r"sb[0-9a-z]{1,10}"
_NS_RE = re.compile(rf"^({_P})-.+$")
_LINK_RE = re.compile(rf"^({_P})(br|v\d{{1,2}})$")
_CHAIN_RE = re.compile(rf"^({_P})(-.*)?$")
_COMMENT_RE = re.compile(rf"^{_P}$")


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        out = [f"removed {r}" for r in self.removed]
        out += [f"skipped {s}" for s in self.skipped]
        out += [f"error: {e}" for e in self.errors]
        return out or ["nothing to clean up"]


def register_cleaner(fn: Callable[[str | None, frozenset[str]], list[str]]) -> None:
    """Add a cleaner for another backend (see module docstring)."""
    if fn not in _CLEANER_FNS:
        _CLEANER_FNS.append(fn)


def cleanup(prefix: str | None = None, *, force: bool = False,
            force_pattern: bool = False) -> CleanupReport:
    """Remove one run's resources (prefix given) or every abandoned recorded run's (None).

    Only what a run *recorded* is touched: its namespaces (and the processes in them), its
    links and bridges, host iptables rules carrying exactly its prefix, its pids and
    files. `force_pattern=True` also removes unrecorded things whose names merely match
    the `sb…` pattern (of that prefix, or of any prefix but live runs'), e.g. what a
    pre-registry version left. Without a prefix, a run whose controller process is still
    alive (pid + start time) is skipped unless `force`."""
    if prefix is not None:
        registry.validate_prefix(prefix)
    rep = CleanupReport()
    records = [r for r in registry.runs() if prefix is None or r.get("prefix") == prefix]
    if prefix is not None and not records:
        rec = registry.load(prefix)
        records = [rec] if rec else []
    protected: set[str] = set()
    if prefix is None:
        for r in registry.runs():
            if not force and registry.owner_alive(r):
                protected.add(r["prefix"])
                rep.skipped.append(f"run {r['prefix']} (in use by pid {r['owner']['pid']})")
        records = [r for r in records if r["prefix"] not in protected]
    recorded = {r["prefix"] for r in records}

    def mine(p: str | None) -> bool:
        """A name carrying this prefix belongs to a run being cleaned."""
        if p is None or p in protected:
            return False
        if force_pattern:
            return prefix is None or p == prefix
        return p in recorded

    live_ns = set(list_namespaces())
    recorded_ns = {ns for r in records for ns in r.get("namespaces", [])}
    # Every recorded namespace is deleted even if it was not listed a moment ago: one
    # being created while an interrupt unwinds may appear after the listing.
    namespaces = sorted({ns for ns in recorded_ns if _NS_RE.match(ns)} | {
        ns for ns in live_ns if _NS_RE.match(ns) and force_pattern
        and mine(_prefix_of(_NS_RE, ns))})

    _stop_processes(records, namespaces, rep)
    _remove_iptables(mine, rep)
    links = list_links()
    recorded_links = {lk for r in records for k in ("links", "bridges") for lk in r.get(k, [])}
    for name, kind in sorted(links, key=lambda lk: lk[1] == "bridge"):  # veths first
        p = _prefix_of(_LINK_RE, name)
        if p is not None and p not in protected and (
                name in recorded_links or (force_pattern and mine(p))):
            _try(rep, f"{kind or 'link'} {name}", ["ip", "link", "del", name],
                 gone="Cannot find device")
    for ns in namespaces:
        _try(rep, f"namespace {ns}", ["ip", "netns", "del", ns], gone="No such file")
    late = [ns for ns in namespaces if ns in set(list_namespaces())]
    for ns in late:  # created after the first pass (an `ip netns add` racing the unwind)
        _try(rep, f"namespace {ns}", ["ip", "netns", "del", ns], gone="No such file")
    still = set(list_namespaces())
    for ns in late:
        if ns in still:
            rep.errors.append(f"namespace {ns}: still present after two deletions")
    _unmount_fuse(records, mine, rep)
    for r in records:
        for path in r.get("faketime_files", []):
            with contextlib.suppress(FileNotFoundError):
                if os.path.isfile(path) and not os.path.islink(path):
                    os.unlink(path)
                    rep.removed.append(f"faketime file {path}")
        _remove_workdirs(r, rep)
    if prefix is None and not force_pattern:
        # backends' cleaners match by prefix: hand them only the recorded runs
        for p in sorted(recorded):
            _run_extra_cleaners(p, frozenset(protected), rep)
    else:
        _run_extra_cleaners(prefix, frozenset(protected), rep)
    if rep.ok:
        for r in records:
            if registry.forget(r["prefix"]):
                rep.removed.append(f"registry entry {r['prefix']}")
    if not force_pattern:
        stray = unrecorded(prefix, protected)
        if stray:
            rep.skipped.append(
                f"{len(stray)} unrecorded sb* resource(s) ({', '.join(stray[:6])}"
                f"{', …' if len(stray) > 6 else ''}): not ours to judge; "
                f"`splitbrain cleanup --force-pattern{' --prefix ' + prefix if prefix else ''}` "
                "removes them")
    return rep


def _remove_workdirs(rec: dict, rep: CleanupReport) -> None:
    """Node workdirs a `cluster up` recorded (`<root>/<prefix>`, never a store's)."""
    for path in rec.get("workdirs", []):
        if os.path.basename(os.path.normpath(path)) != rec.get("prefix"):
            continue  # only a directory named after the run itself
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                shutil.rmtree(path)
                rep.removed.append(f"workdir {path}")
            except OSError as e:
                rep.errors.append(f"workdir {path}: {e}")


def unrecorded(prefix: str | None = None, protected: set[str] | frozenset = frozenset()
               ) -> list[str]:
    """sb* namespaces and links that no run record names (of `prefix`, if given)."""
    names: set[str] = set()
    for r in registry.runs():
        for k in ("namespaces", "links", "bridges"):
            names.update(r.get(k, []))
    out = []
    for ns in list_namespaces():
        p = _prefix_of(_NS_RE, ns)
        if p and ns not in names and p not in protected and (prefix is None or p == prefix):
            out.append(f"namespace {ns}")
    for name, _ in list_links():
        p = _prefix_of(_LINK_RE, name)
        if p and name not in names and p not in protected and (prefix is None or p == prefix):
            out.append(f"link {name}")
    return out


# -- discovery (read-only, used by `cluster status` too) -------------------------------

def list_namespaces() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def list_links() -> list[tuple[str, str]]:
    """(ifname, kind) of every link in the controller's namespace."""
    res = _run(["ip", "-j", "-d", "link", "show"])
    try:
        links = json.loads(res.stdout or "[]")
    except ValueError:
        return []
    return [(lk["ifname"], (lk.get("linkinfo") or {}).get("info_kind", "")) for lk in links]


def sb_namespaces() -> list[str]:
    return [ns for ns in list_namespaces() if _NS_RE.match(ns)]


def sb_links() -> list[tuple[str, str]]:
    return [lk for lk in list_links() if _LINK_RE.match(lk[0])]


def sb_iptables_rules() -> list[tuple[str, str]]:
    """(table, `iptables -S` line) of every controller rule carrying an sb comment."""
    out = []
    for table in IPTABLES_TABLES:
        for line in _iptables_lines(table):
            argv = _split(line)
            if argv and argv[0] == "-A" and _rule_comment(argv) and \
                    _COMMENT_RE.match(_rule_comment(argv)):
                out.append((table, line))
    return out


# -- steps -----------------------------------------------------------------------------

def _stop_processes(records: list[dict], namespaces: list[str], rep: CleanupReport) -> None:
    targets: dict[int, dict] = {}
    for r in records:
        for entry in r.get("pids", []):
            if registry.same_process(entry):
                targets[int(entry["pid"])] = entry
    for ns in namespaces:
        res = _run(["ip", "netns", "pids", ns])
        for tok in res.stdout.split():
            if tok.isdigit() and int(tok) != os.getpid():
                ident = registry.process_identity(int(tok))
                if ident:
                    targets.setdefault(int(tok), {"pid": int(tok), "what": f"process in {ns}",
                                                  **ident})
    if not targets:
        return
    for pid, entry in targets.items():
        _signal(pid, entry, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE
    while time.monotonic() < deadline and any(registry.same_process(e) for e in targets.values()):
        time.sleep(0.02)
    for pid, entry in targets.items():
        if registry.same_process(entry):
            _signal(pid, entry, signal.SIGKILL)
        what = entry.get("what") or entry.get("comm") or "process"
        rep.removed.append(f"process {pid} ({what})")
    deadline = time.monotonic() + TERM_GRACE
    while time.monotonic() < deadline and any(registry.same_process(e) for e in targets.values()):
        time.sleep(0.02)
    for pid, entry in targets.items():
        if registry.same_process(entry):
            rep.errors.append(f"process {pid} survived SIGKILL")


def _signal(pid: int, entry: dict, sig: int) -> None:
    if registry.same_process(entry):  # checked right before signalling: never a stranger
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _remove_iptables(mine: Callable[[str | None], bool], rep: CleanupReport) -> None:
    for table in IPTABLES_TABLES:
        lines = _iptables_lines(table)
        chains = [a[1] for a in map(_split, lines)
                  if len(a) == 2 and a[0] == "-N" and mine(_prefix_of(_CHAIN_RE, a[1]))]
        for line in lines:
            argv = _split(line)
            if not argv or argv[0] != "-A":
                continue
            comment = _rule_comment(argv)
            jump = argv[argv.index("-j") + 1] if "-j" in argv[:-1] else None
            if (comment and _COMMENT_RE.match(comment) and mine(comment)) or jump in chains:
                _try(rep, f"iptables rule [{table}] {line}",
                     ["iptables", "-w", "5", "-t", table, "-D", *argv[1:]], gone="does a matching")
        for chain in chains:
            _run(["iptables", "-w", "5", "-t", table, "-F", chain])
            _try(rep, f"iptables chain [{table}] {chain}",
                 ["iptables", "-w", "5", "-t", table, "-X", chain], gone="No chain")


_FSNAME_RE = re.compile(rf"^({_P})-disk-")


def _unmount_fuse(records: list[dict], mine: Callable[[str | None], bool],
                  rep: CleanupReport) -> None:
    """Lazily unmount the run's FUSE mounts (a SIGKILLed sbfs leaves a dead mount)."""
    recorded = {m.get("path") for r in records for m in r.get("mounts", [])
                if isinstance(m, dict)}
    try:
        with open("/proc/self/mounts") as f:
            lines = [line.split() for line in f]
    except OSError:
        return
    for fields in lines:
        if len(fields) < 3 or not fields[2].startswith("fuse"):
            continue
        fsname, path = fields[0], fields[1].replace("\\040", " ")
        if path in recorded or mine(_prefix_of(_FSNAME_RE, fsname)):
            _try(rep, f"FUSE mount {path}", ["umount", "-l", path], gone="not mounted")


def _run_extra_cleaners(prefix: str | None, protected: frozenset[str],
                        rep: CleanupReport) -> None:
    fns = list(_CLEANER_FNS)
    for target in EXTRA_CLEANERS:
        mod_name, attr = target.split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name and mod_name.startswith(e.name):
                continue  # that backend is not installed / not built yet
            raise
        fn = getattr(mod, attr)
        if fn not in fns:
            fns.append(fn)
    for fn in fns:
        try:
            rep.removed.extend(fn(prefix, protected))
        except Exception as e:  # one backend's failure must not stop the others
            rep.errors.append(f"{getattr(fn, '__module__', fn)}: {e}")


# -- helpers ---------------------------------------------------------------------------

def _prefix_of(pattern: re.Pattern, name: str) -> str | None:
    m = pattern.match(name)
    return m.group(1) if m else None


def _run(argv: list[str], timeout: float = 15.0) -> subprocess.CompletedProcess:
    try:
        # own session: a Ctrl-C at the terminal must not kill the cleanup helpers themselves
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 255, "", str(e))


def _try(rep: CleanupReport, what: str, argv: list[str], gone: str) -> None:
    res = _run(argv)
    if res.returncode == 0:
        rep.removed.append(what)
    elif gone.lower() not in (res.stderr or "").lower():
        rep.errors.append(f"{what}: {(res.stderr or '').strip()[:300]}")


def _iptables_lines(table: str) -> list[str]:
    res = _run(["iptables", "-w", "5", "-t", table, "-S"])
    return res.stdout.splitlines() if res.returncode == 0 else []


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return []


def _rule_comment(argv: list[str]) -> str | None:
    for i, a in enumerate(argv[:-1]):
        if a == "--comment":
            return argv[i + 1]
    return None


def belongs_to(name: str, prefix: str) -> bool:
    """Whether a namespace or link name carries run `prefix` (for status displays)."""
    return prefix in (_prefix_of(_NS_RE, name), _prefix_of(_LINK_RE, name))
