"""Consistency models and anomalies as data (transactions.md §5), after Elle's
`consistency_model.clj` (transcribed as data: three small graphs and two name maps).

Obligations: `prohibited(models)` is every anomaly type whose presence rules out one of
`models`; `boundary(anomaly_types)` is Elle's friendly boundary (`not`: the weakest models
ruled out, `also_not`: the stronger ones); `canonical()` accepts friendly and canonical
names and raises InputError listing the known ones otherwise.
"""

from __future__ import annotations

from functools import lru_cache

import networkx as nx

from splitbrain.harness.errors import InputError

# a -> [b...]: observing a means b is present too.
IMPLIED_ANOMALIES: dict[str, list[str]] = {
    "G0": ["G1c", "G0-process"],
    "G0-process": ["G1c-process", "G0-realtime"],
    "G0-realtime": ["G1c-realtime"],
    "G1a": ["G1"], "G1b": ["G1"],
    "G1c": ["G1", "G1c-process"],
    "G1c-process": ["G1c-realtime", "G1-process"],
    "G1c-realtime": ["G1-realtime"],
    "G1": ["G1-process"], "G1-process": ["G1-realtime"],
    "G-single-item": ["G-single", "G-single-item-process", "G-nonadjacent-item"],
    "G-single-item-process": ["G-single-process", "G-single-item-realtime",
                              "G-nonadjacent-item-process"],
    "G-single-item-realtime": ["G-single-realtime", "G-nonadjacent-item-realtime"],
    "G-single": ["G-nonadjacent", "GSIb", "G-single-process"],
    "G-single-process": ["G-nonadjacent-process", "G-single-realtime"],
    "G-single-realtime": ["G-nonadjacent-realtime"],
    "G-nonadjacent-item": ["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    "G-nonadjacent-item-process": ["G-nonadjacent-process", "G2-item-process",
                                   "G-nonadjacent-item-realtime"],
    "G-nonadjacent-item-realtime": ["G2-item-realtime", "G-nonadjacent-realtime"],
    "G-nonadjacent": ["G2", "G-nonadjacent-process"],
    "G-nonadjacent-process": ["G2-process", "G-nonadjacent-realtime"],
    "G-nonadjacent-realtime": ["G2-realtime"],
    "G2": ["G2-process"],
    "G2-item": ["G2", "G2-item-process"],
    "G2-item-process": ["G2-process", "G2-item-realtime"],
    "G2-item-realtime": ["G2-realtime"],
    "G2-process": ["G2-realtime"],
    "GSIa": ["GSI"], "GSIb": ["GSI"],
    "incompatible-order": ["G1a"],
    "future-read": ["G1c"],
    "dirty-update": ["G1a"],
    "lost-update": ["write-skew", "G2-item"],
    "write-skew": ["G2"],
}

# Extra "is worse than" edges, used only to order the cycle searches.
SEVERITY: dict[str, list[str]] = {
    "G0": ["G1c"], "G0-process": ["G1c-process"], "G0-realtime": ["G1c-realtime"],
    "G1c": ["G-single", "G2-item"], "G1c-process": ["G-single-process", "G2-item-process"],
    "G1c-realtime": ["G-single-realtime", "G2-item-realtime"],
    "G2": ["G0-process"], "G2-process": ["G0-realtime"],
}

CANONICAL: dict[str, str] = {
    "consistent-view": "PL-2+", "conflict-serializable": "PL-3",
    "cursor-stability": "PL-CS", "forward-consistent-view": "PL-FCV",
    "monotonic-snapshot-read": "PL-MSR", "monotonic-view": "PL-2L",
    "read-committed": "PL-2", "read-uncommitted": "PL-1", "repeatable-read": "PL-2.99",
    "serializable": "PL-3", "snapshot-isolation": "PL-SI",
    "strict-serializable": "PL-SS", "strong-serializable": "PL-SS",
    "update-serializable": "PL-3U", "update-atomic": "ROLA",
    "strong-session-read-uncommitted": "strong-session-PL-1",
    "strong-session-read-committed": "strong-session-PL-2",
    "strong-read-uncommitted": "strong-PL-1", "strong-read-committed": "strong-PL-2",
}
# canonical -> friendly; PL-SS prints as strict-serializable (transactions.md §5.3).
FRIENDLY: dict[str, str] = {v: k for k, v in CANONICAL.items()}
FRIENDLY["PL-3"] = "serializable"
FRIENDLY["PL-SS"] = "strict-serializable"

# a -> [b...]: a history satisfying a satisfies b (names canonicalised when built).
MODELS: dict[str, list[str]] = {
    "causal-cerone": ["read-atomic"],
    "consistent-view": ["cursor-stability", "monotonic-view"],
    "conflict-serializable": ["view-serializable"],
    "cursor-stability": ["read-committed", "PL-2"],
    "forward-consistent-view": ["consistent-view"],
    "PL-2": ["PL-1"],
    "PL-3": ["repeatable-read", "update-serializable"],
    "update-serializable": ["forward-consistent-view"],
    "monotonic-atomic-view": ["read-committed"],
    "monotonic-view": ["PL-2"],
    "monotonic-snapshot-read": ["PL-2"],
    "parallel-snapshot-isolation": ["causal-cerone", "ROLA"],
    "prefix": ["causal-cerone"],
    "read-atomic": ["monotonic-atomic-view"],
    "read-committed": ["read-uncommitted"],
    "repeatable-read": ["cursor-stability", "monotonic-atomic-view"],
    "ROLA": ["read-atomic"],
    "serializable": ["repeatable-read", "snapshot-isolation", "view-serializable"],
    "session-serializable": ["1SR"],
    "snapshot-isolation": ["forward-consistent-view", "monotonic-atomic-view",
                           "monotonic-snapshot-read", "parallel-snapshot-isolation", "prefix"],
    "strict-serializable": ["PL-3", "serializable", "linearizable", "snapshot-isolation",
                            "strong-snapshot-isolation", "strong-session-serializable"],
    "strong-session-PL-1": ["PL-1"],
    "strong-session-PL-2": ["PL-2", "strong-session-PL-1"],
    "strong-PL-1": ["strong-session-PL-1"],
    "strong-PL-2": ["strong-session-PL-2", "strong-PL-1"],
    "strong-session-serializable": ["serializable", "strong-session-snapshot-isolation"],
    "strong-session-snapshot-isolation": ["snapshot-isolation", "strong-session-PL-2"],
    "strong-serializable": ["session-serializable"],
    "strong-snapshot-isolation": ["strong-session-snapshot-isolation", "strong-PL-2"],
    "linearizable": ["sequential"], "sequential": ["causal"],
    "causal": ["writes-follow-reads", "PRAM"],
    "PRAM": ["monotonic-reads", "monotonic-writes", "read-your-writes"],
}

DIRECT_PROSCRIBED: dict[str, list[str]] = {
    "causal-cerone": ["internal", "G1a"],
    "cursor-stability": ["G1", "G-cursor", "lost-update"],
    "monotonic-view": ["G1", "G-monotonic"],
    "monotonic-snapshot-read": ["G1", "G-MSR"],
    "consistent-view": ["G1", "G-single"],
    "forward-consistent-view": ["G1", "G-SIb"],
    "parallel-snapshot-isolation": ["internal", "G1a"],
    "PL-3": ["G1", "G2", "predicate-read-miss", "PL-3-cycle-exists"],
    "PL-2": ["G1", "PL-2-cycle-exists"],
    "PL-1": ["G0", "duplicate-elements", "cyclic-versions", "PL-1-cycle-exists"],
    "prefix": ["internal", "G1a"],
    "serializable": ["internal"],
    "snapshot-isolation": ["internal", "G1", "G-SI", "G-nonadjacent", "PL-SI-cycle-exists"],
    "read-atomic": ["internal", "G1a", "future-read"],
    "repeatable-read": ["G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"],
    "ROLA": ["lost-update"],
    "strict-serializable": ["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"],
    "strong-session-PL-1": ["strong-session-PL-1-cycle-exists", "G0-process"],
    "strong-session-PL-2": ["strong-session-PL-2-cycle-exists", "G1c-process"],
    "strong-PL-1": ["strong-PL-1-cycle-exists", "G0-realtime"],
    "strong-PL-2": ["strong-PL-2-cycle-exists", "G1c-realtime"],
    "strong-session-snapshot-isolation": [
        "internal", "G1-process", "G-nonadjacent-process",
        "strong-session-snapshot-isolation-cycle-exists"],
    "strong-snapshot-isolation": [
        "internal", "G1-realtime", "G-nonadjacent-realtime",
        "strong-snapshot-isolation-cycle-exists"],
    "strong-session-serializable": ["G1-process", "G2-process",
                                    "strong-session-serializable-cycle-exists"],
    "update-serializable": ["G1", "G-update"],
}

# Alone, these make a verdict unknown rather than valid (Elle's unknown-anomaly-types).
UNKNOWN_TYPES = frozenset(("empty-transaction-graph", "cycle-search-timeout",
                           "realtime-order-assumed"))

# splitbrain additions (transactions.md D3): a value nobody wrote is at least an aborted read.
IMPLIED_ANOMALIES["garbage-read"] = ["G1a"]


def canonical_name(m: str) -> str:
    return CANONICAL.get(m, m)


def friendly_name(m: str) -> str:
    return FRIENDLY.get(m, m)


@lru_cache(maxsize=None)
def _graphs() -> tuple[nx.DiGraph, nx.DiGraph, nx.DiGraph, nx.DiGraph]:
    anomalies = nx.DiGraph()
    for a, bs in IMPLIED_ANOMALIES.items():
        anomalies.add_node(a)
        anomalies.add_edges_from((a, b) for b in bs)
    models = nx.DiGraph()
    for a, bs in MODELS.items():
        models.add_node(canonical_name(a))
        models.add_edges_from((canonical_name(a), canonical_name(b)) for b in bs)
    proscribed = nx.DiGraph()  # model -> anomaly
    for m, ans in DIRECT_PROSCRIBED.items():
        proscribed.add_edges_from((("m", canonical_name(m)), ("a", a)) for a in ans)
    severity = nx.compose(anomalies, nx.DiGraph([(a, b) for a, bs in SEVERITY.items()
                                                 for b in bs]))
    return anomalies, models, proscribed, severity


def all_models() -> list[str]:
    _, models, proscribed, _ = _graphs()
    names = set(models.nodes) | set(CANONICAL) | set(CANONICAL.values())
    names |= {n[1] for n in proscribed.nodes if n[0] == "m"}
    return sorted(names)


def canonical(models: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Canonical names; InputError naming the known models for an unknown one."""
    known = set(all_models())
    out = []
    for m in models:
        m = m.strip()
        if not m:
            continue
        if m not in known:
            friendly = sorted({friendly_name(x) for x in known})
            raise InputError(f"--consistency-model: unknown model {m!r}; known: "
                             f"{', '.join(friendly)}")
        out.append(canonical_name(m))
    return tuple(out)


def implied_models(models) -> set[str]:
    _, g, _, _ = _graphs()
    out = set()
    for m in models:
        m = canonical_name(m)
        out.add(m)
        if m in g:
            out |= nx.descendants(g, m)
    return out


def anomalies_implying(types) -> set[str]:
    g = _graphs()[0]
    out = set()
    for a in types:
        out.add(a)
        if a in g:
            out |= nx.ancestors(g, a)
    return out


def implied_anomalies(types) -> set[str]:
    g = _graphs()[0]
    out = set()
    for a in types:
        out.add(a)
        if a in g:
            out |= nx.descendants(g, a)
    return out


@lru_cache(maxsize=None)
def _prohibited(models: tuple[str, ...]) -> frozenset[str]:
    proscribed = _graphs()[2]
    direct = set()
    for m in implied_models(models):
        node = ("m", m)
        if node in proscribed:
            direct |= {a for _, a in proscribed.successors(node)}
    return frozenset(anomalies_implying(direct))


def prohibited(models) -> frozenset[str]:
    """Every anomaly type that cannot be present if all of `models` hold."""
    return _prohibited(tuple(sorted(canonical_name(m) for m in models)))


def impossible_models(types) -> set[str]:
    _, g, proscribed, _ = _graphs()
    direct = set()
    for a in implied_anomalies(types):
        node = ("a", a)
        if node in proscribed:
            direct |= {p[1] for p in proscribed.predecessors(node)}
    out = set()
    for m in direct:
        out.add(m)
        if m in g:
            out |= nx.ancestors(g, m)
    return out


def boundary(types) -> dict[str, list[str]]:
    """{"not": weakest ruled-out models, "also_not": the rest}, friendly names, sorted."""
    _, g, _, _ = _graphs()
    imp = impossible_models(types)
    weakest = set()
    for m in imp:
        below = nx.descendants(g, m) if m in g else set()
        if not (below & (imp - {m})):
            weakest.add(m)
    return {"not": sorted({friendly_name(m) for m in weakest}),
            "also_not": sorted({friendly_name(m) for m in imp - weakest}
                               - {friendly_name(m) for m in weakest})}


@lru_cache(maxsize=None)
def _depths() -> dict[str, int]:
    sev = _graphs()[3]
    depth: dict[str, int] = {}
    for n in nx.topological_sort(sev):
        preds = list(sev.predecessors(n))
        depth[n] = max((depth[p] + 1 for p in preds), default=0)
    return depth


def search_order(classes) -> list[str]:
    """Cycle classes most severe first: depth in implication+severity, ties by name."""
    d = _depths()
    return sorted(classes, key=lambda c: (d.get(c, 0), c))
