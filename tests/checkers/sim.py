"""Simulated stores that generate histories with known properties (checker-spec §11.3).

Reusable by every checker test: `simulate(...)` returns a list of event dicts for
`harness.history.history_from_events`, plus a `Run` record of what the store did
(which faults it injected, on which ops). Pure Python, deterministic per `seed`.

Model. Every key has one global arbitration log (the store's write order). Each node
holds a *prefix* of every key's log, advanced by replication with a per-entry delay in
[0, lag] (prefix replication keeps one total order, like a single-leader or LWW store).
An op takes effect at a random instant inside its [invoke, complete] interval; an `info`
write takes effect with probability 1/2, possibly after its completion (even after the
history ends); a `fail` write never takes effect. After an `info` the worker continues
under a new process id (Jepsen semantics).

Stores (`store=`):
* "linearizable" — reads see the whole log at their effect instant.
* "sticky"       — each process is bound to one node; a write through a node makes that
                   node catch up to the write, reads see the node's prefix. All four
                   session guarantees hold; reads may be stale (bounded by `lag`).
* "lagging"      — every op goes to a random node; nodes lag. RYW / MR violations
                   appear (nothing else is broken: the log stays one total order).

Workloads (`workload=`): "register" (write/read, unique string values; `versions=True`
adds the log position as `version` to ok writes and reads), "list-append"
(append/read of the full list), "set" (add/read, elements as a sorted list).

Faults (`faults=` tuple; each is injected once, `Run.injected[name]` holds the op
indices a checker's witness must contain):
* "lost-write"   — an acknowledged write the store drops; its session reads the key next.
* "reorder"      — a session's two consecutive writes to one key land in swapped order.
* "lww-skew"     — (registers) a session reads k, then writes k through a node whose
                   clock is behind: its write gets a lower version and loses (LWW).
                   The store is then last-writer-wins by timestamp and `version` is the
                   timestamp (sparse), as with Cassandra's WRITETIME.
* "failed-write-read" — a write reported `fail` that the store applied; its session
                   reads it next (aborted-read).

`final_reads=True` appends, after a quiescence gap longer than `lag`, one ok read per
(node, key) with `final: true` and `node` set.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

WORKLOADS = ("register", "list-append", "set")
STORES = ("linearizable", "sticky", "lagging")
FAULTS = ("lost-write", "reorder", "lww-skew", "failed-write-read")


@dataclass
class Run:
    """What the simulated store did; `events` feed `history_from_events`."""

    events: list[dict]
    injected: dict[str, list[int]] = field(default_factory=dict)  # fault -> op indices
    nodes: list[str] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)


class _Entry:
    __slots__ = ("value", "version", "t_commit", "arrival", "op")

    def __init__(self, value, version, t_commit, op):
        self.value, self.version, self.t_commit, self.op = value, version, t_commit, op
        self.arrival: dict[str, float] = {}


def simulate(workload: str = "register", store: str = "linearizable", *, seed: int = 0,
             processes: int = 3, keys: int = 2, ops: int = 40, nodes: int = 3,
             versions: bool = False, p_fail: float = 0.05, p_info: float = 0.05,
             lag: float = 5.0, read_ratio: float = 0.5, faults: tuple = (),
             final_reads: bool = False) -> Run:
    """Generate one history. Times are integers (ns-like units); see the module doc."""
    if workload not in WORKLOADS or store not in STORES:
        raise ValueError(f"workload {workload!r} / store {store!r}")
    rng = random.Random(seed)
    node_names = [f"n{i + 1}" for i in range(nodes)]
    key_names = [f"k{i}" for i in range(keys)]
    log: dict[str, list[_Entry]] = {k: [] for k in key_names}
    applied: dict[tuple, int] = {(n, k): 0 for n in node_names for k in key_names}
    skew: dict[str, int] = {n: 0 for n in node_names}
    lww = "lww-skew" in faults and workload == "register"
    if lww:
        skew[node_names[-1]] = -10 ** 6
    counter = [0]
    events: list[tuple] = []   # (time, seq, event dict) — index assigned at the end
    seq = [0]
    injected: dict[str, list] = {}
    pending_fault = set(faults)
    forced: dict[int, list] = {}   # worker -> forced next op templates
    held: dict[tuple, Any] = {}   # reorder: (worker, key) -> held entry

    def emit(t, ev):
        seq[0] += 1
        events.append((t, seq[0], ev))
        return ev

    def catch_up(now):
        for k in key_names:
            entries = log[k]
            for n in node_names:
                i = applied[(n, k)]
                while i < len(entries) and entries[i].arrival.get(n, float("inf")) <= now:
                    i += 1
                applied[(n, k)] = i

    def commit(k, value, t, node, op_ref, ts=None):
        """Append to the arbitration log (LWW: insert by timestamp)."""
        entries = log[k]
        e = _Entry(value, None, t, op_ref)
        if ts is not None:
            e.version = ts
            pos = len(entries)
            while pos > 0 and entries[pos - 1].version > ts:
                pos -= 1
            entries.insert(pos, e)
            # nodes that already applied past the insertion point now hold it too
            for n in node_names:
                if applied[(n, k)] >= pos and applied[(n, k)] > 0:
                    applied[(n, k)] += 1
        else:
            entries.append(e)
        prev_arr = {n: 0 for n in node_names}
        for n in node_names:
            d = rng.uniform(0, lag) if store != "linearizable" else 0
            e.arrival[n] = t + d
        # prefix replication: arrivals are monotone along the log
        for i, x in enumerate(entries):
            for n in node_names:
                if x.arrival[n] < prev_arr[n]:
                    x.arrival[n] = prev_arr[n]
                prev_arr[n] = x.arrival[n]
        if store == "sticky" and node is not None:
            for x in entries:
                x.arrival[node] = min(x.arrival[node], t)
            applied[(node, k)] = len(entries)
        return e

    def state(k, node, t):
        catch_up(t)
        if store == "linearizable" or node is None:
            n_app = len(log[k])
        else:
            n_app = applied[(node, k)]
        entries = log[k][:n_app]
        if workload == "register":
            if not entries:
                return None, None
            e = entries[-1]  # LWW logs are kept sorted by timestamp
            return e.value, e.version
        vals = [e.value for e in entries]
        if workload == "set":
            vals = sorted(vals)
        return vals, (n_app if versions else None)

    # -- the workers ------------------------------------------------------------------
    # An agenda of (time, seq, action, payload); actions: start, effect, complete.
    agenda: list = []
    aseq = [0]

    def push(t, action, payload):
        aseq[0] += 1
        heapq.heappush(agenda, (t, aseq[0], action, payload))

    proc_of = {w: w for w in range(processes)}
    next_proc = [processes]
    node_of = {w: node_names[w % nodes] for w in range(processes)}
    remaining = [ops]
    for w in range(processes):
        push(rng.randint(0, 3), "start", w)
    t_last = 0
    fault_after = ops // 4

    while agenda:
        t, _, action, p = heapq.heappop(agenda)
        t_last = max(t_last, t)
        if action == "start":
            w = p
            tmpl = forced.get(w, [])
            if remaining[0] <= 0 and not tmpl:
                continue
            remaining[0] -= 1
            issued = ops - remaining[0]
            if tmpl:
                f, k, tag = tmpl.pop(0)
            else:
                k = rng.choice(key_names)
                f = "read" if rng.random() < read_ratio else {
                    "register": "write", "list-append": "append", "set": "add"}[workload]
                tag = None
                if f != "read" and issued > fault_after and pending_fault:
                    tag = sorted(pending_fault)[0]
                    if tag == "lww-skew" and workload != "register":
                        pending_fault.discard(tag)
                        tag = None
                    else:
                        pending_fault.discard(tag)
                        if tag == "lww-skew":
                            # read first, then write through the skewed node
                            forced[w] = [("write", k, "lww-skew-write")]
                            f, tag = "read", "lww-skew-read"
                        elif tag == "reorder":
                            forced[w] = [(f, k, "reorder-second")]
                            tag = "reorder-first"
            proc = proc_of[w]
            if store == "lagging":
                node = rng.choice(node_names)
            elif tag in ("lww-skew-write",):
                node = node_names[-1]
            else:
                node = node_of[w]
            if tag == "lww-skew-write":
                node_of[w] = node_names[-1]
            value = None
            if f != "read":
                counter[0] += 1
                value = f"{proc}-{counter[0]}" if workload == "register" else counter[0]
            dur = rng.randint(2, 10)
            outcome = "ok"
            if tag is None:
                r = rng.random()
                if r < p_fail:
                    outcome = "fail"
                elif r < p_fail + p_info:
                    outcome = "info"
            if tag == "failed-write-read":
                outcome = "fail"
            inv = {"process": proc, "type": "invoke", "f": f, "key": k, "value": value,
                   "time": t, "node": node}
            emit(t, inv)
            op = {"w": w, "proc": proc, "f": f, "k": k, "value": value, "node": node,
                  "outcome": outcome, "tag": tag, "inv": inv, "t_inv": t}
            t_eff = t + rng.uniform(0.5, dur - 0.5)
            if outcome == "info":
                if rng.random() < 0.5:
                    t_eff = t + rng.uniform(0.5, dur * 3)
                    push(t_eff, "effect", op)
                push(t + dur, "complete", op)
            else:
                push(t_eff, "effect", op)
                push(t + dur, "complete", op)
        elif action == "effect":
            op = p
            k, f = op["k"], op["f"]
            if f == "read":
                if op["outcome"] == "ok":
                    op["result"] = state(k, op["node"], t)
                continue
            if op["outcome"] == "fail" and op["tag"] != "failed-write-read":
                continue
            if op["tag"] == "lost-write":
                continue  # acknowledged, never applied
            w = op["w"]
            if op["tag"] == "reorder-first":
                held[(w, k)] = (op, t)
                continue
            ts = None
            if lww:
                # only the injected write sees the skewed clock, so the fault has one witness
                ts = int(t * 1000) + rng.randint(0, 9)
                if op["tag"] == "lww-skew-write":
                    ts += skew[op["node"]]
            e = commit(k, op["value"], t, op["node"], op, ts)
            op["entry"] = e
            if op["tag"] == "reorder-second" and (w, k) in held:
                first, t1 = held.pop((w, k))
                e1 = commit(k, first["value"], t, first["node"], first, ts)
                first["entry"] = e1
        else:  # complete
            op = p
            w = op["w"]
            out = {"process": op["proc"], "type": op["outcome"], "f": op["f"], "key": op["k"],
                   "value": op["value"], "time": t, "node": op["node"]}
            if op["f"] == "read" and op["outcome"] == "ok":
                val, ver = op.get("result", (None, None))
                out["value"] = val
                if ver is not None and (versions or lww) and val is not None:
                    out["version"] = ver
            if op["outcome"] == "info":
                out.pop("value", None) if op["f"] == "read" else None
            op["comp"] = emit(t, out)
            tag = op["tag"]
            if tag == "lost-write":
                injected.setdefault("lost-write", []).append(op)
                forced[w] = [("read", op["k"], "lost-write-read")]
            elif tag == "lost-write-read":
                injected["lost-write"].append(op)
            elif tag == "failed-write-read":
                injected.setdefault("failed-write-read", []).append(op)
                forced[w] = [("read", op["k"], "failed-write-read-check")]
            elif tag == "failed-write-read-check":
                injected["failed-write-read"].append(op)
            elif tag in ("reorder-first", "reorder-second"):
                injected.setdefault("reorder", []).append(op)
            elif tag in ("lww-skew-read", "lww-skew-write"):
                injected.setdefault("lww-skew", []).append(op)
            if op["outcome"] == "info":
                proc_of[w] = next_proc[0]
                next_proc[0] += 1
            push(t + rng.randint(0, 3), "start", w)
    out_events = []
    for i, (t, _, ev) in enumerate(sorted(events, key=lambda x: (x[0], x[1]))):
        ev["index"] = i
        ev["time"] = int(t * 1000)
        out_events.append(ev)
    # version numbers on acks: the entry's final position (or LWW timestamp)
    for k in key_names:
        for pos, e in enumerate(log[k], 1):
            comp = e.op.get("comp")
            if comp is not None and comp["type"] == "ok" and (versions or lww):
                comp["version"] = e.version if e.version is not None else pos
    _fix_read_versions(out_events, log, versions, lww, workload)
    run = Run(events=out_events, nodes=node_names, keys=key_names)
    for name, opl in injected.items():
        run.injected[name] = [o["comp"]["index"] for o in opl if "comp" in o]
    if final_reads:
        t0 = out_events[-1]["time"] if out_events else 0
        t = t0 + int((lag + 10) * 1000)
        idx = len(out_events)
        fp = next_proc[0]
        for n in node_names:
            for k in key_names:
                val, ver = _final_state(log[k], workload, versions or lww)
                inv = {"index": idx, "process": fp, "type": "invoke", "f": "read", "key": k,
                       "value": None, "time": t, "node": n, "final": True}
                comp = {"index": idx + 1, "process": fp, "type": "ok", "f": "read", "key": k,
                        "value": val, "time": t + 500, "node": n, "final": True}
                if ver is not None and val is not None:
                    comp["version"] = ver
                out_events += [inv, comp]
                idx += 2
                t += 1000
            fp += 1
    return run


def _final_state(entries, workload, versioned):
    if workload == "register":
        if not entries:
            return None, None
        return entries[-1].value, (entries[-1].version if entries[-1].version is not None
                                   else len(entries)) if versioned else None
    vals = [e.value for e in entries]
    return (sorted(vals) if workload == "set" else vals), (len(vals) if versioned else None)


def _fix_read_versions(events, log, versions, lww, workload):
    """Register reads carry the version of the value they returned (its final position)."""
    if workload != "register" or not (versions or lww):
        return
    ver_of = {}
    for k, entries in log.items():
        for pos, e in enumerate(entries, 1):
            ver_of[(k, e.value)] = e.version if e.version is not None else pos
    for ev in events:
        if ev["f"] == "read" and ev["type"] == "ok" and ev.get("value") is not None:
            ev["version"] = ver_of[(ev["key"], ev["value"])]


def history(run: Run):
    """The History of a Run."""
    from splitbrain.harness.history import history_from_events

    return history_from_events([dict(e) for e in run.events], source="<sim>")
