"""Cleanup of what ssh runs left on their hosts (the ssh hook of harness/cluster/cleanup.py).

    removed = cleanup_ssh("sb1a2b3c", frozenset())   # one run
    removed = cleanup_ssh(None, frozenset({"sb9f8e7d"}))  # every abandoned run but that one

For every host a run recorded (registry kind `remote_hosts`, written by SSHCluster before
it touched the host) this logs in again with the recorded user, key, host-key settings
(a password is never stored: password-only hosts need the agent or a key to be cleaned
after a crash) and, on the host:
1. stops the daemons recorded for it (kind `remote_pids`): a pid is signalled only while
   /proc on the host still shows the recorded start time and the recorded comm or exe —
   a pid recycled by another program is never touched; SIGTERM (+SIGCONT for paused
   ones), then SIGKILL after `TERM_GRACE` s;
2. deletes iptables rules whose comment is the run prefix and chains named `<prefix>…`
   in every table (partition and packet nemeses);
3. deletes the root qdisc on the recorded interface only if it is the packet nemesis's
   own (`prio` with 4 bands and its priomap);
4. removes the run's workdir `<remote_root>/<prefix>` (the only path ever deleted, and
   only if it ends in the validated prefix).
Then the host's records are dropped. Errors are collected and raised together at the
end, so the run's registry record stays (cleanup.py keeps it) and a later
`splitbrain cleanup` retries; the other hosts are still cleaned.
"""

from __future__ import annotations

import logging
import os
import shlex
import time

from splitbrain.harness import registry
from splitbrain.harness.control.ssh import SSHRemote, SSHTarget

log = logging.getLogger("splitbrain.ssh")

TERM_GRACE = 2.0
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")
# what nemesis/netem.py installs: `prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1`
_OUR_QDISC = ("qdisc prio 1: root", "bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1")

# $1 signal (0 = only report), then quadruples: pid, start time, comm, exe. A pid is
# signalled only if /proc shows the same start time and the same comm or exe.
_SIGNAL_IF_SAME = r'''sig=$1; shift
while [ $# -ge 4 ]; do
  pid=$1 want_st=$2 want_comm=$3 want_exe=$4; shift 4
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo "gone $pid"; continue; }
  r=${s##*") "}
  state=$(printf '%s\n' "$r" | cut -d" " -f1)
  st=$(printf '%s\n' "$r" | cut -d" " -f20)
  comm=$(cat "/proc/$pid/comm" 2>/dev/null)
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  if [ "$state" = Z ] || [ "$st" != "$want_st" ]; then echo "gone $pid"; continue; fi
  if [ "$comm" != "$want_comm" ] && { [ -z "$want_exe" ] || [ "$exe" != "$want_exe" ]; }; then
    echo "gone $pid"; continue
  fi
  if [ "$sig" = 0 ]; then echo "alive $pid"; continue; fi
  kill "-$sig" "$pid" 2>/dev/null || true
  [ "$sig" = TERM ] && kill -CONT "$pid" 2>/dev/null
  echo "alive $pid"
done
'''


def host_entries(prefix: str) -> list[dict]:
    rec = registry.load(prefix) or {}
    return [e for e in rec.get("remote_hosts", []) if isinstance(e, dict)]


def pid_entries(prefix: str, entry: dict) -> list[dict]:
    rec = registry.load(prefix) or {}
    return [p for p in rec.get("remote_pids", []) if isinstance(p, dict)
            and p.get("node") == entry.get("node") and p.get("host") == entry.get("host")
            and p.get("start_time") is not None]


def remote_for(entry: dict) -> SSHRemote:
    """A fresh connection to a recorded host, with the settings the run used."""
    kh = entry.get("known_hosts")
    target = SSHTarget(entry["host"], int(entry.get("port") or 22), entry.get("user") or "root",
                       entry.get("key"), None, bool(entry.get("insecure")),
                       tuple(kh) if kh else None)
    return SSHRemote(entry.get("node") or entry["host"], target)


def clean_host(remote, prefix: str, entry: dict) -> list[str]:
    """Steps 1-4 of the module docstring on one host; returns what was removed."""
    registry.validate_prefix(prefix)
    where = f"{entry.get('node')} ({entry.get('host')})"
    removed = []
    pids = pid_entries(prefix, entry)
    removed += [f"process {p} on {where}" for p in stop_pids(remote, pids)]
    for p in pids:
        registry.discard(prefix, "remote_pids", p)
    removed += [f"{r} on {where}" for r in remove_iptables(remote, prefix)]
    iface = entry.get("iface")
    if iface:
        out = remote.exec(["tc", "qdisc", "show", "dev", iface], timeout=20, check=False).stdout
        if any(line.startswith(_OUR_QDISC[0]) and _OUR_QDISC[1] in line
               for line in out.splitlines()):
            remote.exec(["tc", "qdisc", "del", "dev", iface, "root"], timeout=20, check=False)
            removed.append(f"packet-fault qdisc on {iface} of {where}")
    d = entry.get("dir") or ""
    if d.startswith("/") and os.path.basename(d.rstrip("/")) == prefix and \
            os.path.normpath(d) != "/":
        res = remote.exec(["sh", "-c", 'if [ -e "$1" ]; then rm -rf -- "$1" && echo removed; fi',
                           "sb", os.path.normpath(d)], timeout=120)
        if "removed" in res.stdout:
            removed.append(f"directory {d} on {where}")
    return removed


def stop_pids(remote, pids: list[dict]) -> list[int]:
    """TERM, then KILL, the recorded daemons that still are what was recorded; returns
    the pids that were running. Raises RuntimeError if one survives SIGKILL."""
    if not pids:
        return []
    args = []
    for p in pids:
        args += [str(int(p["pid"])), str(int(p["start_time"])), p.get("comm") or "",
                 p.get("exe") or ""]

    def run(sig: str, only: list[str]) -> list[str]:
        sel = []
        for i in range(0, len(args), 4):
            if args[i] in only:
                sel += args[i:i + 4]
        if not sel:
            return []
        out = remote.exec(["sh", "-c", _SIGNAL_IF_SAME, "sb", sig, *sel], timeout=30).stdout
        return [line.split()[1] for line in out.splitlines() if line.startswith("alive ")]

    running = run("TERM", [str(int(p["pid"])) for p in pids])
    left, deadline = list(running), time.monotonic() + TERM_GRACE
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = run("0", left)
    if left:
        run("KILL", left)
        deadline = time.monotonic() + TERM_GRACE
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = run("0", left)
    if left:
        raise RuntimeError(f"{remote.name}: pid(s) {', '.join(left)} survived SIGKILL")
    return [int(p) for p in running]


def remove_iptables(remote, prefix: str) -> list[str]:
    """Delete rules commented `prefix` and chains `prefix` / `prefix-…` in every table."""
    script = 'for t in "$@"; do echo "table $t"; iptables -w 5 -t "$t" -S 2>/dev/null; done'
    out = remote.exec(["sh", "-c", script, "sb", *IPTABLES_TABLES], timeout=60, check=False).stdout
    removed, table = [], None
    rules: dict[str, list[list[str]]] = {}
    chains: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line.startswith("table "):
            table = line.split()[1]
            continue
        try:
            argv = shlex.split(line)
        except ValueError:
            continue
        if table is None or not argv:
            continue
        if argv[0] == "-N" and len(argv) == 2 and _ours(argv[1], prefix):
            chains.setdefault(table, []).append(argv[1])
        elif argv[0] == "-A":
            rules.setdefault(table, []).append(argv)
    for t in IPTABLES_TABLES:
        mine = set(chains.get(t, []))
        for argv in rules.get(t, []):
            comment = argv[argv.index("--comment") + 1] if "--comment" in argv[:-1] else None
            jump = argv[argv.index("-j") + 1] if "-j" in argv[:-1] else None
            if argv[1] in mine:
                continue  # flushed with its chain below
            if comment == prefix or jump in mine:
                res = remote.exec(["iptables", "-w", "5", "-t", t, "-D", *argv[1:]],
                                  timeout=20, check=False)
                if res.exit_code == 0:
                    removed.append(f"iptables rule [{t}] {' '.join(argv)}")
        for chain in sorted(mine):
            remote.exec(["iptables", "-w", "5", "-t", t, "-F", chain], timeout=20, check=False)
            res = remote.exec(["iptables", "-w", "5", "-t", t, "-X", chain], timeout=20,
                              check=False)
            if res.exit_code == 0:
                removed.append(f"iptables chain [{t}] {chain}")
    return removed


def _ours(chain: str, prefix: str) -> bool:
    return chain == prefix or chain.startswith(prefix + "-")


def cleanup_ssh(prefix: str | None, protected: frozenset[str]) -> list[str]:
    """The cleanup.py hook: clean every recorded host of run `prefix` (None: of every run
    not in `protected`). Raises RuntimeError listing the hosts that could not be cleaned."""
    if prefix is not None:
        recs = [registry.load(prefix)]
    else:
        recs = registry.runs()
    removed, errors = [], []
    for rec in recs:
        if not rec or rec.get("prefix") in protected:
            continue
        p = rec["prefix"]
        for entry in [e for e in rec.get("remote_hosts", []) if isinstance(e, dict)]:
            remote = remote_for(entry)
            try:
                removed += clean_host(remote, p, entry)
                registry.discard(p, "remote_hosts", entry)
            except Exception as e:
                errors.append(f"{p} {entry.get('node')} ({entry.get('host')}): {e}")
            finally:
                remote.close()
    if errors:
        # what was removed still counts; cleanup.py reports the errors and keeps the record
        for r in removed:
            log.info("removed %s", r)
        raise RuntimeError("could not clean ssh host(s): " + "; ".join(errors))
    return removed
