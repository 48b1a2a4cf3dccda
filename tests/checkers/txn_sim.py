"""Simulated transactional stores for the transactions checker (transactions.md §8.2).

`simulate(store, seed, n, concurrency, ...)` returns event dicts (for
`harness.history.history_from_events`). Each txn runs as a sequence of steps (begin, one
step per micro-op, commit) interleaved at random with other processes' steps; the store
decides what each read returns and whether the commit succeeds. Outcomes: `ok`, `fail`
(nothing applied), or `info` (the effect applied or not, at random). Runs end with final
read-only txns over every key touched. Deterministic per seed.

Stores:
* "strict": begin, mops and commit happen in one step inside the txn's interval:
  strict-serializable.
* "stale-reads": writes as strict; a read-only txn reads a random earlier committed state
  (a prefix of the one commit order): serializable, not strict.
* "si": snapshot at begin, appends buffered, first-committer-wins at commit, else fail.
* "read-committed": each read sees the latest committed state at that step; appends
  buffered and applied at commit to the current list.
* "brat": no concurrency control: appends applied at once, aborts not rolled back.
Workloads: "list-append" (r / append) and "rw-register" (r / w with `versions`).
"""

from __future__ import annotations

import random

STORES = ("strict", "stale-reads", "si", "read-committed", "brat")


def simulate(store: str, seed: int, n: int = 100, concurrency: int = 5, keys: int = 4,
             workload: str = "list-append", p_fail: float = 0.05, p_info: float = 0.05,
             final_reads: bool = True, max_mops: int = 5) -> list[dict]:
    rng = random.Random(seed)
    state: dict = {}  # key -> tuple (list-append) or (value, version) (register)
    commits: list[dict] = [dict()]  # committed states, in commit order (stale-reads)
    key_commit: dict = {}  # key -> number of the commit that last wrote it (si)
    locks: dict = {}  # key -> the txn holding its write lock (read-committed)
    counter: dict = {}
    evs: list[dict] = []
    next_proc = list(range(concurrency))
    proc_id = concurrency
    busy: dict = {}  # worker -> txn record
    started = 0
    t = 0

    def emit(**e):
        nonlocal t
        t += rng.randint(1, 1000)
        e["index"] = len(evs)
        e["time"] = t
        e["f"] = "txn"
        evs.append(e)

    def gen_txn(final_keys=None):
        if final_keys is not None:
            return [["r", k, None] for k in final_keys]
        mops = []
        for _ in range(rng.randint(1, max_mops)):
            k = f"k{rng.randrange(keys)}"
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                c = counter[k] = counter.get(k, 0) + 1
                mops.append(["append" if workload == "list-append" else "w", k, c])
        return mops

    def read_val(view, k):
        if workload == "list-append":
            return list(view.get(k, ()))
        got = view.get(k)
        return None if got is None else got[0]

    def read_ver(view, k):
        got = view.get(k)
        return None if got is None or workload == "list-append" else got[1]

    def write(view, k, v):
        if workload == "list-append":
            view[k] = tuple(view.get(k, ())) + (v,)
        else:
            old = view.get(k)
            view[k] = (v, (old[1] if old else 0) + 1)

    def begin(rec):
        rec["snap"] = dict(state)
        rec["snap_commit"] = len(commits) - 1
        rec["buf"] = {}
        rec["out"] = []
        rec["vers"] = []
        rec["i"] = 0
        if store == "stale-reads" and all(m[0] == "r" for m in rec["mops"]):
            rec["snap"] = dict(commits[rng.randrange(len(commits))])

    def own_view(rec, base, k):
        """The txn's view of k: `base` plus its own buffered writes (read-your-writes)."""
        own = rec["buf"].get(k)
        if not own:
            return base.get(k), False
        if workload == "list-append":
            return tuple(base.get(k, ())) + tuple(own), True
        return (own[-1], None), True

    def do_mop(rec):
        f, k, v = rec["mops"][rec["i"]]
        rec["i"] += 1
        if store in ("si", "stale-reads"):
            base = rec["snap"] if store == "si" or rec["readonly"] else state
        else:
            base = state
        if f == "r":
            if store == "brat":
                got, mine = state.get(k), False
            else:
                got, mine = own_view(rec, base, k)
            view = {} if got is None else {k: got}
            rec["out"].append([f, k, read_val(view, k)])
            rec["vers"].append(None if mine else read_ver(view, k))
            return
        if store == "brat":
            write(state, k, v)
            rec["applied"] = True
            rec["out"].append([f, k, v])
            rec["vers"].append(read_ver(state, k))
            return
        if store == "read-committed":
            # long write locks, no-wait: a conflicting writer aborts (no dirty writes)
            holder = locks.get(k)
            if holder is not None and holder is not rec:
                rec["aborted"] = True
                return
            locks[k] = rec
        rec["buf"].setdefault(k, []).append(v)
        rec["out"].append([f, k, v])
        rec["vers"].append(None)

    def commit(rec) -> bool:
        if store == "brat":
            return True
        if store == "si":
            for k in rec["buf"]:
                if key_commit.get(k, 0) > rec["snap_commit"]:
                    return False
        # apply buffered writes (read-committed: onto the *current* list)
        wrote = False
        for i, (f, k, v) in enumerate(rec["mops"]):
            if f == "r":
                continue
            write(state, k, v)
            wrote = True
            rec["vers"][i] = read_ver(state, k)
            key_commit[k] = len(commits)
        if wrote:
            commits.append(dict(state))
        return True

    def finish(worker, rec):
        nonlocal proc_id
        typ = rec["outcome"]
        comp = {"type": typ, "process": rec["process"],
                "value": rec["out"] if typ == "ok" else rec["inv"]}
        if typ == "ok" and workload == "rw-register":
            comp["versions"] = rec["vers"]
        emit(**comp)
        for k in [k for k, holder in locks.items() if holder is rec]:
            del locks[k]
        del busy[worker]
        if typ == "info":
            next_proc[worker] = proc_id
            proc_id += 1

    def step(worker, rec):
        """Advance one txn by one step."""
        if rec["phase"] == "invoked":
            decide = rng.random()
            rec["outcome"] = "fail" if decide < p_fail else "info" if decide < p_fail + p_info \
                else "ok"
            if rec["outcome"] == "info" and rng.random() < 0.5:
                rec["phase"] = "done"  # crashed before anything was applied
                return
            begin(rec)
            if store in ("strict", "stale-reads"):
                while rec["i"] < len(rec["mops"]):
                    do_mop(rec)
                if rec["outcome"] == "fail":
                    rec["phase"] = "done"
                    return
                commit(rec)
                rec["phase"] = "done"
                return
            rec["phase"] = "running"
            return
        if rec["phase"] == "running":
            if rec["i"] < len(rec["mops"]):
                do_mop(rec)
                if rec.get("aborted"):
                    rec["outcome"] = "fail"
                    rec["phase"] = "done"
                return
            if rec["outcome"] == "fail":
                rec["phase"] = "done"  # aborted: buffered writes dropped (brat: kept)
                return
            if not commit(rec):
                rec["outcome"] = "fail"
            rec["phase"] = "done"
            return
        finish(worker, rec)

    def invoke(worker, mops):
        nonlocal started
        inv = [[f, k, None if f == "r" else v] for f, k, v in mops]
        rec = {"mops": mops, "inv": inv, "phase": "invoked", "process": next_proc[worker],
               "readonly": all(m[0] == "r" for m in mops), "i": 0}
        busy[worker] = rec
        emit(type="invoke", process=rec["process"], value=inv)
        started += 1

    while started < n or busy:
        idle = [w for w in range(concurrency) if w not in busy]
        if started < n and idle and (not busy or rng.random() < 0.4):
            invoke(rng.choice(idle), gen_txn())
            continue
        w = rng.choice(list(busy))
        step(w, busy[w])
    if final_reads:
        touched = sorted(counter)
        for i in range(0, len(touched), 8):
            invoke(0, gen_txn(touched[i:i + 8]))
            rec = busy[0]
            rec["outcome"] = "ok"
            begin(rec)
            rec["snap"] = dict(state)
            rec["readonly"] = False
            while rec["i"] < len(rec["mops"]):
                do_mop(rec)
            rec["phase"] = "done"
            finish(0, rec)
            evs[-1]["final"] = True
    return evs
