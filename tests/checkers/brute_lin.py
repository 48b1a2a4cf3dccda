"""Brute-force linearizability oracle for tiny partitions (linearizability.md §8.2).

Obviously correct and slow: enumerate every real-time-respecting sequence of the
required ops plus any subset of the optional ones (an op may be placed once all ops that
returned before its invocation are placed; optional ops return at +inf, so they precede
nothing) and fold the model's step. Uses no cache, no pruning, no linked lists.
"""

from __future__ import annotations

from typing import Any

INF = float("inf")


def _orders(inv, ret, required, payload, step, initial, keep):
    """Yield the end state of every legal sequence over `keep` that places every op of
    `keep` with rank < required."""
    ops = sorted(keep)
    need = {r for r in ops if r < required}

    def rec(placed: frozenset, state):
        if need <= placed:
            yield state
        for o in ops:
            if o in placed:
                continue
            if any(ret[p] < inv[o] and p not in placed for p in ops):
                continue
            s2 = step(state, payload[o])
            if s2 is None:
                continue
            yield from rec(placed | {o}, s2)

    yield from rec(frozenset(), initial)


def truncate(inv, ret, required, p):
    """Ops kept and the new `ret` for the history cut just before rank p's completion."""
    cut = ret[p]
    keep = [r for r in range(len(inv)) if inv[r] < cut]
    ret2 = [ret[r] if (r < required and ret[r] < cut) else INF for r in range(len(inv))]
    return keep, ret2


def linearizable(inv, ret, required, payload, step, initial, keep=None) -> bool:
    keep = range(len(inv)) if keep is None else keep
    for _ in _orders(inv, ret, required, payload, step, initial, keep):
        return True
    return False


def reference(inv, ret, required, payload, step, initial) -> dict[str, Any]:
    """{"valid": bool, "kstar": stuck rank or None, "frontier": set of states}."""
    if linearizable(inv, ret, required, payload, step, initial):
        return {"valid": True, "kstar": None, "frontier": set()}
    kstar = 0
    for p in range(required):
        keep, ret2 = truncate(inv, ret, required, p)
        # ranks < p stay required; truncated ops count as optional
        if _renum_ok(keep, p) and linearizable(inv, ret2, p, payload, step, initial, keep):
            kstar = p
        else:
            break
    keep, ret2 = truncate(inv, ret, required, kstar)
    keep2 = [r for r in keep if r != kstar]
    states = set(_orders(inv, ret2, kstar, payload, step, initial, keep2))
    return {"valid": False, "kstar": kstar, "frontier": states}


def _renum_ok(keep, p) -> bool:
    # every rank < p has its invocation before its own completion, so it is kept
    return all(r in keep for r in range(p))
