"""Network partitions: grudges applied as iptables DROP rules inside each node.

A *grudge* maps a node name to the set of node names it drops traffic FROM
(`{"n1": {"n3"}, "n3": {"n1"}}` cuts n1 and n3 apart). Grudges may be asymmetric.
Note that with TCP a one-way drop still breaks connections in both directions (the
handshake needs both); the asymmetry is visible to UDP and to half-open connections.

    nem = PartitionNemesis(nodes, prefix="sb1a2b3c", rng=random.Random(7),
                           primaries_fn=db.primaries)
    nem.setup()
    nem.invoke({"f": "start-partition", "value": "majorities-ring"})
    # -> {"type": "info", "value": {"shape": "majorities-ring",
    #                               "grudge": {"n1": ["n3", "n4"], ...}}}
    nem.invoke({"f": "stop-partition"})      # heal
    nem.teardown()

Shapes (the fault's `value`; a string, or {"shape": str} / {"grudge": {node: [nodes]}}):
  halves            first ⌊n/2⌋ nodes | the rest (in node order)
  random-halves     the same after a shuffle
  one               one random node isolated from all others
  primaries         every current primary (from `primaries_fn()`) isolated on its own
  one-primary       one random current primary isolated, every other node together (a
                    sharded store, e.g. Redis Cluster: the other primaries are a majority
                    and promote its replica); not in the default random pool
  majority|minority a random strict minority (⌊(n-1)/2⌋ nodes, ≥1) cut off from the rest
  minority-third    a random ⌊(n-1)/3⌋ nodes (≥1) cut off (Jepsen's :minority-third)
  majorities-ring   every node sees a majority, no two see the same one (Jepsen's ring)
  bridge            two halves, one node of the second half sees both sides
  one-way           random halves; the second half drops traffic from the first
  "n1,n2|n3,n4,n5"  explicit components; listed nodes in different components are cut
                    apart, nodes not listed keep talking to everyone
  "n1,n2>n3;n4>n5"  one-way: traffic FROM the left nodes TO the right nodes is dropped
                    (the right nodes drop from the left); clauses separated by ';'

Mechanics: `setup()` creates, in every node's namespace, a chain `<prefix>-part` jumped
to from the top of INPUT; each rule there is `-s <peer>/32 -j DROP` with comment
`<prefix>`. A new partition replaces the chain's contents atomically per node
(`iptables-restore --noflush`), heal flushes only that chain, and `teardown()` removes
the jump and the chain, so rules that are not ours are never touched. Faults are never
applied to the controller's own network stack.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping, Sequence

from splitbrain.harness.cluster.base import Node
from splitbrain.harness.errors import InputError
from splitbrain.nemesis.base import FaultFamily

Grudge = dict[str, frozenset[str]]

NAMED_SHAPES = ("halves", "random-halves", "one", "primaries", "majority", "minority",
                "minority-third", "majorities-ring", "bridge", "one-way")
# Valid but not drawn by a plain `--nemesis partition` (that pool, and so every seeded
# schedule, stays as it was): only `partition-one-primary` or `shapes = [...]` choose it.
EXTRA_SHAPES = ("one-primary",)
SHAPES = NAMED_SHAPES + EXTRA_SHAPES
PRIMARY_SHAPES = ("primaries", "one-primary")


# -- pure grudge builders ----------------------------------------------------------------

def complete_grudge(components: Iterable[Iterable[str]]) -> Grudge:
    """Every node drops traffic from every node of every other component."""
    comps = [list(c) for c in components]
    listed = [n for c in comps for n in c]
    grudge: Grudge = {}
    for comp in comps:
        others = frozenset(n for n in listed if n not in comp)
        for n in comp:
            if others:
                grudge[n] = others
    return grudge


def bisect(nodes: Sequence[str]) -> list[list[str]]:
    """[first ⌊n/2⌋ nodes, the rest]."""
    k = len(nodes) // 2
    return [list(nodes[:k]), list(nodes[k:])]


def _shuffled(nodes: Sequence[str], rng: random.Random) -> list[str]:
    out = list(nodes)
    rng.shuffle(out)
    return out


def grudge_halves(nodes: Sequence[str]) -> Grudge:
    return complete_grudge(bisect(nodes))


def grudge_random_halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    return complete_grudge(bisect(_shuffled(nodes, rng)))


def grudge_one(nodes: Sequence[str], rng: random.Random) -> Grudge:
    if not nodes:
        return {}
    loner = rng.choice(list(nodes))
    return complete_grudge([[loner], [n for n in nodes if n != loner]])


def grudge_primaries(nodes: Sequence[str], primaries: Iterable[str]) -> Grudge:
    """Each primary alone; the other nodes together."""
    ps = [p for p in nodes if p in set(primaries)]
    return complete_grudge([[p] for p in ps] + [[n for n in nodes if n not in ps]])


def grudge_one_primary(nodes: Sequence[str], primaries: Iterable[str],
                       rng: random.Random) -> Grudge:
    """One random primary alone; every other node together."""
    ps = [p for p in nodes if p in set(primaries)]
    loner = rng.choice(ps)
    return complete_grudge([[loner], [n for n in nodes if n != loner]])


def _split_off(nodes: Sequence[str], k: int, rng: random.Random) -> Grudge:
    s = _shuffled(nodes, rng)
    return complete_grudge([s[:k], s[k:]])


def grudge_minority(nodes: Sequence[str], rng: random.Random) -> Grudge:
    n = len(nodes)
    return _split_off(nodes, max(1, (n - 1) // 2), rng) if n >= 2 else {}


def grudge_minority_third(nodes: Sequence[str], rng: random.Random) -> Grudge:
    n = len(nodes)
    return _split_off(nodes, max(1, (n - 1) // 3), rng) if n >= 2 else {}


def grudge_majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Jepsen's majorities-ring: nodes on a shuffled ring; each sees the majority-sized
    window of the ring centred on itself and drops everyone else."""
    ring = _shuffled(nodes, rng)
    n = len(ring)
    if n < 3:
        return {}
    m = n // 2 + 1
    universe = frozenset(ring)
    grudge: Grudge = {}
    for j in range(n):
        window = frozenset(ring[(j + k) % n] for k in range(m))
        centre = ring[(j + m // 2) % n]
        grudge[centre] = universe - window
    return {k: v for k, v in grudge.items() if v}


def grudge_bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves; the first node of the second half (the bridge) talks to both."""
    comps = bisect(_shuffled(nodes, rng))
    if not comps[0] or not comps[1]:
        return {}
    bridge = comps[1][0]
    grudge = complete_grudge(comps)
    return {n: s - {bridge} for n, s in grudge.items() if n != bridge and s - {bridge}}


def grudge_random_one_way(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Random halves; the second half drops traffic from the first (not vice versa)."""
    a, b = bisect(_shuffled(nodes, rng))
    return {n: frozenset(a) for n in b} if a and b else {}


def _names(part: str, nodes: Sequence[str], spec: str) -> list[str]:
    names = [x.strip() for x in part.split(",") if x.strip()]
    if not names:
        raise InputError(f"partition {spec!r}: empty group (expected e.g. 'n1,n2|n3,n4,n5')")
    unknown = [x for x in names if x not in nodes]
    if unknown:
        raise InputError(f"partition {spec!r}: unknown node(s) {', '.join(unknown)}; "
                         f"the nodes are {', '.join(nodes)}")
    return names


def parse_components(spec: str, nodes: Sequence[str]) -> list[list[str]]:
    """Parse "n1,n2|n3,n4,n5" into components (validated against `nodes`)."""
    comps = [_names(p, nodes, spec) for p in spec.split("|")]
    if len(comps) < 2:
        raise InputError(f"partition {spec!r}: needs at least two groups separated by '|'")
    seen: set[str] = set()
    for c in comps:
        dup = seen.intersection(c) or {x for x in c if c.count(x) > 1}
        if dup:
            raise InputError(f"partition {spec!r}: node(s) {', '.join(sorted(dup))} "
                             "listed more than once")
        seen.update(c)
    return comps


def grudge_explicit(spec: str, nodes: Sequence[str]) -> Grudge:
    return complete_grudge(parse_components(spec, nodes))


def grudge_one_way(spec: str, nodes: Sequence[str]) -> Grudge:
    """Parse "n1,n2>n3;n4>n5": traffic from the left to the right side is dropped."""
    grudge: dict[str, set[str]] = {}
    for clause in (c.strip() for c in spec.split(";")):
        if clause.count(">") != 1:
            raise InputError(f"partition {spec!r}: each clause must look like 'n1,n2>n3'")
        left, right = clause.split(">")
        srcs, dsts = _names(left, nodes, spec), _names(right, nodes, spec)
        both = set(srcs) & set(dsts)
        if both:
            raise InputError(f"partition {spec!r}: node(s) {', '.join(sorted(both))} on both "
                             "sides of '>'")
        for d in dsts:
            grudge.setdefault(d, set()).update(srcs)
    return {k: frozenset(v) for k, v in grudge.items()}


def grudge_from_mapping(mapping: Mapping[str, Iterable[str]], nodes: Sequence[str]) -> Grudge:
    out: Grudge = {}
    for k, vs in mapping.items():
        vs = list(vs)
        bad = [x for x in [k, *vs] if x not in nodes]
        if bad:
            raise InputError(f"grudge names unknown node(s) {', '.join(map(str, bad))}; "
                             f"the nodes are {', '.join(nodes)}")
        if set(vs) - {k}:
            out[k] = frozenset(vs) - {k}
    return out


def build_grudge(shape: Any, nodes: Sequence[str], rng: random.Random,
                 primaries: Iterable[str] | None = None) -> tuple[Grudge, str]:
    """(grudge, shape label) for a fault value; InputError if it makes no sense."""
    if isinstance(shape, Mapping):
        if "grudge" in shape:
            return grudge_from_mapping(shape["grudge"], nodes), "explicit-grudge"
        shape = shape.get("shape")
    if not isinstance(shape, str) or not shape.strip():
        raise InputError(f"partition shape {shape!r} is not one of {', '.join(NAMED_SHAPES)}, "
                         "'n1,n2|n3' or 'n1>n2'")
    shape = shape.strip()
    if "|" in shape:
        return grudge_explicit(shape, nodes), shape
    if ">" in shape:
        return grudge_one_way(shape, nodes), shape
    builders: dict[str, Callable[[], Grudge]] = {
        "halves": lambda: grudge_halves(nodes),
        "random-halves": lambda: grudge_random_halves(nodes, rng),
        "one": lambda: grudge_one(nodes, rng),
        "majority": lambda: grudge_minority(nodes, rng),
        "minority": lambda: grudge_minority(nodes, rng),
        "minority-third": lambda: grudge_minority_third(nodes, rng),
        "majorities-ring": lambda: grudge_majorities_ring(nodes, rng),
        "bridge": lambda: grudge_bridge(nodes, rng),
        "one-way": lambda: grudge_random_one_way(nodes, rng),
    }
    if shape in PRIMARY_SHAPES:
        if primaries is None:
            raise InputError(f"partition {shape!r} needs a DB that reports its primaries")
        ps = [p for p in primaries if p in set(nodes)]
        if not ps:
            raise InputError(f"partition {shape!r}: the DB reports no primary right now")
        if shape == "one-primary":
            return grudge_one_primary(nodes, ps, rng), shape
        return grudge_primaries(nodes, ps), shape
    if shape not in builders:
        raise InputError(f"partition shape {shape!r} is not one of {', '.join(NAMED_SHAPES)}, "
                         "'n1,n2|n3' or 'n1>n2'")
    return builders[shape](), shape


def validate_fault(fault: Mapping[str, Any], node_names: Sequence[str]) -> None:
    """Config-time check of a partition fault (raises InputError); no randomness consumed
    that matters, no network touched."""
    f = fault.get("f")
    if f == "stop-partition":
        return
    if f != "start-partition":
        raise InputError(f"partition nemesis has no fault {f!r} "
                         "(expected start-partition or stop-partition)")
    value = fault.get("value")
    if _wants_primaries(value):
        return
    build_grudge(value, node_names, random.Random(0))


def grudge_json(grudge: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in sorted(grudge.items()) if v}


# -- the nemesis -----------------------------------------------------------------------

class PartitionNemesis:
    """Partitions between the given nodes (Nemesis protocol, nemesis/base.py).

    `primaries_fn()` (optional) returns the current primaries as node names, Nodes or
    addresses; it backs the "primaries" shape.
    """

    name = "partition"
    faults = ("start-partition", "stop-partition")

    def __init__(self, nodes: list[Node], prefix: str, rng: random.Random | None = None,
                 primaries_fn: Callable[[], Iterable[Any]] | None = None):
        self.nodes = list(nodes)
        self.by_name = {n.name: n for n in self.nodes}
        self.prefix = prefix
        self.chain = f"{prefix}-part"
        self.rng = rng or random.Random()
        self.primaries_fn = primaries_fn
        self.grudge: Grudge = {}  # what is really in force (per node, after partial failures)
        self.last_applied: list[str] = []  # nodes that took the last apply()
        self._ready = False

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    # -- protocol ------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the run's chain in every node and jump to it from the top of INPUT."""
        self._each(self._setup_node)
        self._ready = True

    def invoke(self, fault: dict[str, Any]) -> dict[str, Any]:
        f = fault.get("f")
        try:
            if f == "stop-partition":
                return self.heal_all()
            if f != "start-partition":
                return _info({"fault": f}, f"partition nemesis has no fault {f!r}")
            primaries = None
            if self.primaries_fn is not None and _wants_primaries(fault.get("value")):
                primaries = self._primary_names()
            grudge, shape = build_grudge(fault.get("value"), self.node_names, self.rng,
                                         primaries)
            value = {"shape": shape, "grudge": grudge_json(grudge)}
            self.apply(grudge)
            return _info(value)
        except Exception as e:  # the run must go on; the history records what went wrong
            return _info({"fault": f, "requested": fault.get("value"),
                          "grudge": grudge_json(self.grudge)}, f"{type(e).__name__}: {e}")

    def heal_all(self) -> dict[str, Any]:
        try:
            self.apply({})
            return _info({"healed": self.node_names, "grudge": {}})
        except Exception as e:
            # what really happened: the nodes that took the heal, the grudge still in force
            return _info({"healed": list(self.last_applied), "grudge": grudge_json(self.grudge)},
                         f"{type(e).__name__}: {e}")

    def teardown(self) -> None:
        """Remove the jump and the chain from every node (idempotent, best effort)."""
        self._each(self._teardown_node, raise_errors=False)
        self.grudge = {}
        self._ready = False

    # -- mechanics -----------------------------------------------------------------------
    def apply(self, grudge: Grudge) -> None:
        """Make `grudge` the current partition (replacing the previous one) on every node."""
        if not self._ready:
            self.setup()
        addr = {n.name: n.address for n in self.nodes}

        def one(node: Node) -> None:
            lines = ["*filter", f":{self.chain} - [0:0]"]  # declaring flushes our chain only
            for src in sorted(grudge.get(node.name, ())):
                lines.append(f"-A {self.chain} -s {addr[src]}/32 -m comment "
                             f"--comment {self.prefix} -j DROP")
            lines.append("COMMIT")
            node.remote.exec(["iptables-restore", "-w", "5", "--noflush"],
                             stdin=("\n".join(lines) + "\n").encode(), timeout=20)

        # iptables-restore is atomic per node: a node that failed keeps its old rules, so
        # the grudge in force is the new one on nodes that took it and the old elsewhere
        old = dict(self.grudge)
        failed = self._each_failures(one)
        self.last_applied = [n.name for n in self.nodes if n.name not in failed]
        now: Grudge = {}
        for n in self.nodes:
            src = old if n.name in failed else grudge
            if src.get(n.name):
                now[n.name] = frozenset(src[n.name])
        self.grudge = now
        if failed:
            raise RuntimeError("; ".join(f"{k}: {v}" for k, v in failed.items()))

    def _jump(self) -> list[str]:
        return ["INPUT", "-m", "comment", "--comment", self.prefix, "-j", self.chain]

    def _setup_node(self, node: Node) -> None:
        r = node.remote
        if r.exec(["iptables", "-w", "5", "-S", self.chain], check=False, timeout=20).exit_code:
            r.exec(["iptables", "-w", "5", "-N", self.chain], timeout=20)
        else:
            r.exec(["iptables", "-w", "5", "-F", self.chain], timeout=20)
        if r.exec(["iptables", "-w", "5", "-C", *self._jump()], check=False,
                  timeout=20).exit_code:
            r.exec(["iptables", "-w", "5", "-I", *self._jump()[:1], "1", *self._jump()[1:]],
                   timeout=20)

    def _teardown_node(self, node: Node) -> None:
        r = node.remote
        while r.exec(["iptables", "-w", "5", "-D", *self._jump()], check=False,
                     timeout=20).exit_code == 0:
            pass
        r.exec(["iptables", "-w", "5", "-F", self.chain], check=False, timeout=20)
        r.exec(["iptables", "-w", "5", "-X", self.chain], check=False, timeout=20)

    def _each_failures(self, fn: Callable[[Node], None]) -> dict[str, BaseException]:
        """Run fn on every node in parallel; {node name: exception} of those that failed."""
        if not self.nodes:
            return {}
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            futures = [(n, pool.submit(fn, n)) for n in self.nodes]
        return {n.name: fut.exception() for n, fut in futures if fut.exception()}

    def _each(self, fn: Callable[[Node], None], raise_errors: bool = True) -> None:
        if not self.nodes:
            return
        # In parallel so a partition starts (nearly) at once on every node.
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            futures = [(n, pool.submit(fn, n)) for n in self.nodes]
        errors = [f"{n.name}: {fut.exception()}" for n, fut in futures if fut.exception()]
        if errors and raise_errors:
            raise RuntimeError("; ".join(errors))

    def _primary_names(self) -> list[str]:
        by_addr = {n.address: n.name for n in self.nodes}
        out = []
        for p in self.primaries_fn() or ():
            name = getattr(p, "name", p)
            name = by_addr.get(name, name)
            if name in self.by_name and name not in out:
                out.append(name)
        return out


def _wants_primaries(value: Any) -> bool:
    return value in PRIMARY_SHAPES or (isinstance(value, Mapping)
                                       and value.get("shape") in PRIMARY_SHAPES)


def _info(value: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "info", "value": value}
    if error:
        out["error"] = error
    return out


# -- the family package (nemesis/base.py) ---------------------------------------------

PARTITION_ALIASES = {"primary": "primaries", "halves": "random-halves"}


def is_explicit_grudge(shape: Any) -> bool:
    return isinstance(shape, str) and ("|" in shape or ">" in shape)


def _check_options(opts: Mapping[str, Any]) -> None:
    if "shapes" in opts and (not isinstance(opts["shapes"], list) or not opts["shapes"]
                             or not all(isinstance(x, str) for x in opts["shapes"])):
        raise InputError(f"nemesis option partition.shapes: a non-empty list of shape names "
                         f"or grudges, not {opts['shapes']!r}")
    if "shapes" in opts:
        # explicit grudges ("n1,n2|n3", "n1>n2") are checked against node names by the
        # config (harness/config.py) and by PartitionNemesis itself
        bad = {x for x in opts["shapes"] if not is_explicit_grudge(x)} - set(SHAPES)
        if bad:
            raise InputError(f"nemesis option partition.shapes: unknown {sorted(bad)}; "
                             f"allowed: {', '.join(SHAPES)}")


def _start(ctx, variants, opts) -> dict[str, Any]:
    shapes = variants or tuple(opts.get("shapes") or NAMED_SHAPES)
    return {"f": "start-partition", "value": ctx.rng.choice(sorted(shapes))}


def _build(ctx) -> "PartitionNemesis":
    from splitbrain.harness.dbs.base import HasPrimaries

    primaries = ctx.db.primaries if isinstance(ctx.db, HasPrimaries) else None
    return PartitionNemesis(list(ctx.nodes), ctx.prefix, ctx.rng, primaries)


FAMILIES = (FaultFamily(
    name="partition", nemesis="partition", starts=("start-partition",),
    stop="stop-partition", start_template=_start, build=_build,
    variants=SHAPES, aliases=PARTITION_ALIASES, option_keys=frozenset({"shapes"}),
    validate_options=_check_options, heal_rank=30,
    summary="network partitions (iptables DROP inside each node)"),)
