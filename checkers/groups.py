"""Anomaly groups: what explains the anomalies of a run at scale (issue 10 item 9).

Thousands of findings of one cause (a partitioned replica serving stale reads) are one
story. Every anomaly of every checker — the full lists, not the capped ones — falls in
exactly one group:

    checker × key × serving node × the nemesis window it falls in (or "no fault active")

with an exact count (anomalies, and violating ops where a finding groups several), the
time span of the group and its first witness. Obligations: counts are exact; grouping is
O(A log W) for A anomalies and W fault windows, plus one pass over the history to find
the witness ops; nothing is dropped (only the listed groups are capped, `group_count`
stays exact). The time of an anomaly is the invocation of its main op (the read for read
anomalies, else its first witness op); its node is that op's serving node.
"""

from __future__ import annotations

import bisect
from typing import Any

from splitbrain.harness.history import History

NO_FAULT = "no fault active"
GROUP_CAP = 200
TIMELINE_BINS = 120
NS = 1e9
_MAIN_ROLES = ("read", "r2", "final_read", "lost_write", "write", "w2", "evidence")
_STARTS = ("start", "partition", "kill", "pause", "isolate", "bump", "strobe", "skew",
           "crash", "clock")
_ENDS = ("stop", "heal", "resume", "restart", "reset", "recover", "unpause")


def fault_windows(nemesis: list[dict], end_ns: float) -> list[tuple[float, float, str]]:
    """(start ns, end ns, label) of every fault: an event's `family` and `phase` when it
    has them, else its words: `start-X` (or kill/pause/...) opens X, `stop-X` / `heal` /
    resume / restart closes it; one still open ends with the history.
    Labels number the faults of a kind: "partition #2"."""
    open_: dict[str, float] = {}
    seen: dict[str, int] = {}
    out: list[tuple[float, float, str]] = []
    for ev in nemesis:
        t, f = ev.get("time"), ev.get("f")
        if not isinstance(t, (int, float)) or not isinstance(f, str):
            continue
        fam, phase = ev.get("family"), ev.get("phase")
        low = f.lower()
        head, _, rest = low.partition("-")
        if isinstance(fam, str) and phase in ("start", "stop", "sample"):
            # our histories say which family an op belongs to and whether it starts or
            # ends it (start-consumer ends kill-consumer); words in `f` are for imports
            if phase == "start":
                open_.setdefault(fam, t)
                continue
            if phase == "sample":
                continue
            kinds = [fam] if fam in open_ else []
        elif low in ("heal", "stop-all", "heal-all", "reset") or head == "heal":
            kinds = list(open_)
        elif head in _ENDS:
            kind = rest or head
            kinds = [k for k in open_ if k == kind or kind in k]
            if not kinds and head in ("resume", "restart", "recover"):
                kinds = [k for k in open_ if k in ("pause", "kill", "crash", "start")]
        elif head in _STARTS:
            kind = rest or head
            if kind not in open_:
                open_[kind] = t
            continue
        else:
            continue
        for k in kinds:
            t0 = open_.pop(k)
            seen[k] = seen.get(k, 0) + 1
            out.append((t0, t, f"{k} #{seen[k]}"))
    for k, t0 in open_.items():
        seen[k] = seen.get(k, 0) + 1
        out.append((t0, max(end_ns, t0), f"{k} #{seen[k]} (never healed)"))
    out.sort()
    return out


def _main_index(a) -> int | None:
    roles = a.details.get("roles") if isinstance(a.details, dict) else None
    if isinstance(roles, dict):
        for r in _MAIN_ROLES:
            v = roles.get(r)
            if isinstance(v, int):
                return v
    return a.ops[0] if a.ops else None


def anomaly_groups(history: History, results: dict, cap: int = GROUP_CAP) -> dict | None:
    """The groups of every anomaly in `results` ({name: CheckResult}); None if none."""
    found = [(name, a) for name, r in results.items() for a in r.anomalies]
    if not found:
        return None
    want = {i for _, a in found if (i := _main_index(a)) is not None}
    ops = {}
    t_lo, t_hi = None, 0.0
    for op in history.ops:
        if op.index in want:
            ops[op.index] = op
        t = op.t_inv
        if t_lo is None or t < t_lo:
            t_lo = t
        if t > t_hi:
            t_hi = t
    for ev in history.nemesis:
        t = ev.get("time")
        if isinstance(t, (int, float)) and t > t_hi:
            t_hi = t
    t_lo = t_lo or 0
    windows = fault_windows(history.nemesis, t_hi)
    starts = [w[0] for w in windows]
    groups: dict[tuple, dict] = {}
    times: dict[str, list[float]] = {}
    for name, a in found:
        i = _main_index(a)
        op = ops.get(i)
        t = op.t_inv if op is not None else None
        node = op.node if op is not None else None
        win = NO_FAULT
        if t is not None:
            # the latest-starting window that began at or before t and still covers it
            j = bisect.bisect_right(starts, t) - 1
            while j >= 0:
                if windows[j][0] <= t <= windows[j][1]:
                    win = windows[j][2]
                    break
                j -= 1
                if j >= 0 and t - windows[j][0] > 10 * 3600 * NS:
                    break
            times.setdefault(name, []).append(t)
        key = a.key
        gk = (name, repr(key), node, win)
        g = groups.get(gk)
        n_ops = a.details.get("count", 1) if isinstance(a.details.get("count"), int) else 1
        if g is None:
            g = groups[gk] = {"checker": name, "key": list(key) if isinstance(key, tuple) else key,
                              "node": node, "window": win, "anomalies": 0, "violating_ops": 0,
                              "types": {}, "first_s": None, "last_s": None,
                              "_first_t": None, "first_witness": None}
        g["anomalies"] += 1
        g["violating_ops"] += n_ops
        g["types"][a.type] = g["types"].get(a.type, 0) + 1
        if t is not None:
            if g["_first_t"] is None or t < g["_first_t"]:
                g["_first_t"] = t
                g["first_witness"] = {"type": a.type, "ops": list(a.ops),
                                      "explanation": a.text()}
            s = round((t - t_lo) / NS, 3)
            g["first_s"] = s if g["first_s"] is None else min(g["first_s"], s)
            g["last_s"] = s if g["last_s"] is None else max(g["last_s"], s)
        elif g["first_witness"] is None:
            g["first_witness"] = {"type": a.type, "ops": list(a.ops), "explanation": a.text()}
    listed = sorted(groups.values(), key=lambda g: (-g["violating_ops"], g["checker"],
                                                    str(g["key"])))
    for g in listed:
        del g["_first_t"]
    total = sum(g["violating_ops"] for g in listed)
    return {"total": total, "anomalies": len(found), "group_count": len(listed),
            "summary": _summary(listed, total), "groups": listed[:cap],
            "windows": [{"label": w[2], "start_s": round((w[0] - t_lo) / NS, 3),
                         "end_s": round((w[1] - t_lo) / NS, 3)} for w in windows[:400]],
            "timeline": _timeline(times, t_lo, t_hi)}


def _summary(groups: list[dict], total: int) -> str:
    """'2,489 anomalies in 41 groups, 97% on n2/n3, 90% during faults (partition)'."""
    text = f"{total:,} anomal{'y' if total == 1 else 'ies'} in {len(groups):,} group" \
           f"{'' if len(groups) == 1 else 's'}"
    by_node: dict[Any, int] = {}
    in_fault = 0
    kinds: dict[str, int] = {}
    for g in groups:
        by_node[g["node"]] = by_node.get(g["node"], 0) + g["violating_ops"]
        if g["window"] != NO_FAULT:
            in_fault += g["violating_ops"]
            k = g["window"].split(" #")[0]
            kinds[k] = kinds.get(k, 0) + g["violating_ops"]
    if total and any(n is not None for n in by_node):
        top, acc = [], 0
        for n, c in sorted(by_node.items(), key=lambda x: -x[1]):
            if n is None:
                continue
            top.append(str(n))
            acc += c
            if acc >= 0.8 * total:
                break
        text += f", {round(100 * acc / total)}% on {'/'.join(top)}"
    if total and in_fault:
        ks = ", ".join(k for k, _ in sorted(kinds.items(), key=lambda x: -x[1])[:3])
        text += f", {round(100 * in_fault / total)}% during faults ({ks})"
    elif total:
        text += f", all with {NO_FAULT}"
    return text


def _timeline(times: dict[str, list[float]], lo: float, hi: float) -> dict:
    """Anomaly counts per checker in TIMELINE_BINS time bins (for the report's chart)."""
    width = max(1.0, (hi - lo) / TIMELINE_BINS)
    out = {}
    for name, ts in times.items():
        counts = [0] * (TIMELINE_BINS + 1)
        for t in ts:
            counts[min(TIMELINE_BINS, max(0, int((t - lo) / width)))] += 1
        out[name] = counts
    return {"bin_s": round(width / NS, 6),
            "centers_s": [round((i + 0.5) * width / NS, 3) for i in range(TIMELINE_BINS + 1)],
            "counts": out}
