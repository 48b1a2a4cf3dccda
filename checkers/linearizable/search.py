"""The pure-Python search engine (linearizability.md §4.3): WGL with Lowe's cache.

The same algorithm, step for step, as the Rust core (`native/src/lib.rs`): the engine
differential test compares verdicts, stuck ops, frontier states and the counted
configurations and steps. Obligations:

* VALID only when every required op has been linearized in a real-time-respecting,
  model-legal order; budgets exhausted ⇒ UNKNOWN with the limit named, never VALID;
* the cache key is exact (prefix length, the linearized ranks above it, state);
* `kstar`, the frontier states (≤ FRONTIER_CAP, count kept) and the first three frontier
  paths are recorded as §5.1–§5.2 define them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

VALID, INVALID, UNKNOWN = "valid", "invalid", "unknown"
FRONTIER_CAP = 1024
MAX_PATHS = 3
PATH_TAIL = 256  # ranks kept per frontier path (copies stay O(1) on huge partitions)
DOMINANCE_SCAN = 8  # failed entries compared per new configuration (pruning is optional)


@dataclass
class SearchResult:
    status: str
    kstar: int = 0  # rank of the stuck op when invalid
    configs: int = 0
    steps: int = 0
    limit: str | None = None  # "configurations" | "steps" when unknown
    frontier: list[Any] = field(default_factory=list)  # states, in first-seen order
    frontier_count: int = 0
    paths: list[list[int]] = field(default_factory=list)  # ranks, linearization order
    # each path keeps its last PATH_TAIL ranks: the state before them and how many came first
    path_starts: list[Any] = field(default_factory=list)
    path_omitted: list[int] = field(default_factory=list)


def search(inv: list[int], ret: list[float], required: int, payload: list[Any],
           observer: list[bool], initial: Any, step: Callable[[Any, Any], Any],
           max_configs: int = 4_000_000, max_steps: int = 100_000_000) -> SearchResult:
    """Search one partition; ranks 0..required-1 are required ops by completion order."""
    n = len(inv)
    # Entry list: calls of every op, returns of required ops, in history index order.
    events = [(inv[r], 0, r) for r in range(n)] + [(ret[r], 1, r) for r in range(required)]
    events.sort()
    m = len(events)
    kind = [k for _, k, _ in events]
    eop = [r for _, _, r in events]
    call_pos = [0] * n
    ret_pos = [-1] * n
    for i, (_, k, r) in enumerate(events):
        if k == 0:
            call_pos[r] = i
        else:
            ret_pos[r] = i
    head = m  # sentinel; END = -1
    nxt = list(range(1, m + 1)) + [0]
    nxt[m - 1] = -1
    nxt[head] = 0 if m else -1
    prv = [head] + list(range(0, m - 1)) + [-1]

    def unlink(i: int) -> None:
        p, q = prv[i], nxt[i]
        nxt[p] = q
        if q != -1:
            prv[q] = p

    def relink(i: int) -> None:
        p, q = prv[i], nxt[i]
        nxt[p] = i
        if q != -1:
            prv[q] = i

    lin = [False] * n
    bits = 0  # linearized ranks as an int bitset
    state = initial
    prefix = 0
    kstar = 0
    frontier: list[Any] = [initial]
    fseen = {initial}
    fcount = 1
    paths: list[list[int]] = [[]]
    pstarts: list[Any] = [initial]
    pomit: list[int] = [0]

    def tail() -> tuple[list[int], Any, int]:
        cut = len(stack) - PATH_TAIL
        if cut <= 0:
            return [t[0] for t in stack], initial, 0
        return [t[0] for t in stack[cut:]], stack[cut][1], cut
    stack: list[tuple[int, Any, bool, int]] = []  # (rank, previous state, forced, prefix)
    cache: set = set()
    configs = steps = 0
    remaining = required
    # Dominance (optional ops only): a configuration with the same required ops
    # linearized and the same state as a *failed* one, and a superset of its optional
    # ops, has a subset of its futures (unused optional ops may simply never happen), so
    # it fails too. Keyed by (prefix, required ranks above it, state) -> optional masks.
    has_opt = n > required
    # Symmetry (§4.4): optional ops with identical payloads are interchangeable forever
    # (they never return), so one is only tried once its earlier twin is linearized.
    twin = [-1] * n
    last: dict = {}
    for r in range(required, n):
        pl = payload[r]
        twin[r] = last.get(pl, -1)
        last[pl] = r
    reqmask = (1 << required) - 1
    failed: dict = {}
    e = nxt[head]
    while True:
        if remaining == 0:
            return SearchResult(VALID, kstar, configs, steps)
        backtrack = False
        if kind[e] == 0:
            o = eop[e]
            t = twin[o]
            if t >= 0 and not lin[t]:
                e = nxt[e]
                continue
            steps += 1
            if steps > max_steps:
                return SearchResult(UNKNOWN, kstar, configs, steps, "steps")
            s2 = step(state, payload[o])
            if s2 is not None:
                nb = bits | (1 << o)
                np_ = prefix
                if o == np_:
                    np_ += 1
                    while np_ < required and lin[np_]:
                        np_ += 1
                key = (np_, nb >> np_, s2)
                fresh = key not in cache
                if fresh and has_opt:
                    lst = failed.get((np_, (nb & reqmask) >> np_, s2))
                    if lst:  # the DOMINANCE_SCAN most recent (same cap in Rust)
                        om = nb >> required
                        for fm in lst[-1:-DOMINANCE_SCAN - 1:-1]:
                            if fm & ~om == 0:
                                fresh = False
                                break
                if fresh:
                    configs += 1
                    if configs > max_configs:
                        return SearchResult(UNKNOWN, kstar, configs, steps, "configurations")
                    cache.add(key)
                    stack.append((o, state, observer[o], prefix))
                    state = s2
                    bits = nb
                    lin[o] = True
                    prefix = np_
                    if o < required:
                        remaining -= 1
                    unlink(call_pos[o])
                    if ret_pos[o] >= 0:
                        unlink(ret_pos[o])
                    if prefix >= kstar:
                        if prefix > kstar:
                            kstar = prefix
                            frontier = [state]
                            fseen = {state}
                            fcount = 1
                            tp, ts, tc = tail()
                            paths, pstarts, pomit = [tp], [ts], [tc]
                        else:
                            if state not in fseen:
                                fseen.add(state)
                                fcount += 1
                                if len(frontier) < FRONTIER_CAP:
                                    frontier.append(state)
                            if len(paths) < MAX_PATHS:
                                tp, ts, tc = tail()
                                paths.append(tp)
                                pstarts.append(ts)
                                pomit.append(tc)
                    e = nxt[head]
                    continue
                if observer[o]:
                    backtrack = True  # §4.4: a legal, cached observer ⇒ dead end
            if not backtrack:
                e = nxt[e]
                continue
        # a return entry of an unplaced required op, or a dead end: backtrack
        while True:
            if not stack:
                return SearchResult(INVALID, kstar, configs, steps, None, frontier, fcount,
                                    paths, pstarts, pomit)
            if has_opt:  # the configuration being left is fully explored: failed
                fk = (prefix, (bits & reqmask) >> prefix, state)
                fl = failed.get(fk)
                if fl is None:
                    failed[fk] = [bits >> required]
                else:
                    fl.append(bits >> required)
            o, state, forced, prefix = stack.pop()
            lin[o] = False
            bits &= ~(1 << o)
            if o < required:
                remaining += 1
            if ret_pos[o] >= 0:
                relink(ret_pos[o])
            relink(call_pos[o])
            if not forced:
                break
        e = nxt[call_pos[o]]
