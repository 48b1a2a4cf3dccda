"""What a run leaves on the machine: sb* namespaces, links, iptables rules, processes."""

from __future__ import annotations

import os
import subprocess


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cmdlines() -> list[tuple[str, str]]:
    """(pid, command line) of every process on this machine."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out.append((pid, cmd))
    return out


def snapshot(marker: str | None = None) -> dict[str, set[str]]:
    """Current sb* resources; processes are those whose command line mentions `marker`."""
    ns = {l.split()[0] for l in _out(["ip", "netns", "list"]).splitlines()
          if l.strip().startswith("sb")}
    links = set()
    for l in _out(["ip", "-o", "link", "show"]).splitlines():
        parts = l.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith("sb"):
                links.add(name)
    rules = {l for l in _out(["iptables-save"]).splitlines() if " sb" in l or ":sb" in l}
    procs = {f"{pid} {cmd}" for pid, cmd in cmdlines() if marker and marker in cmd
             and "pytest" not in cmd}
    # Daemons rename themselves (redis shows "redis-server 10.77.0.2:6379"), so also count
    # every process living in an sb* namespace.
    for name in ns:
        for pid in _out(["ip", "netns", "pids", name]).split():
            procs.add(f"{pid} in {name}")
    return {"netns": ns, "links": links, "rules": rules, "procs": procs}


def alive(pids: list[int]) -> list[int]:
    """Pids still running (zombies waiting for a reaper do not count: they hold nothing)."""
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(p)
    return out


def new_since(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, set[str]]:
    return {k: after[k] - before.get(k, set()) for k in after if after[k] - before.get(k, set())}
