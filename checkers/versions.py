"""Per-key version orders and the integrity facts found while building them.

checker-spec §2.3 (sources A/B/C) and §2.4 (interface). Staleness, lost updates,
convergence, integrity and the session checkers all read the same indexes, built once
per `run_checks` in its analysis context (checkers/analysis.py `Analysis.indexes`); nothing
is cached in `History.meta`.

API (what other checkers call)
------------------------------

    from splitbrain.checkers.versions import build_indexes, BOTTOM

    indexes = build_indexes(history, workload)      # dict[key, VersionIndex], built afresh
    indexes = analysis.indexes                      # run_checks' shared, built once
    ix = indexes[key]
    ix.kind            # "list" (A), "versioned" (B), "plain" (C) or "set"
    ix.total           # True for "list" and "versioned": ranks are a total order
    ix.writer(value)   # the op that wrote `value` (register value / list or set element);
                       #   None for ⊥, garbage, or a value several ops wrote (P1)
    ix.ver(op)         # the op's version: total kinds -> int dense rank (⊥ = 0);
                       #   "plain" -> a node token (the frozen value, BOTTOM for ⊥);
                       #   "set" -> None. None = unknown (unverifiable, corrupt, garbage)
                       #   for a read: the version it observed; for a write/cas/append/add:
                       #   the version it created. Multi-key snapshot reads: per-key
                       #   observed value (each key's index knows its own component).
    ix.ver_observed(op)# for reads and cas: the version the op *read* (cas: its expected)
    ix.rank(op)        # == ver(op) on total kinds, None otherwise
    ix.cmp(x, y)       # compare two versions (from ver): '<' '=' '>' or None (unknown)
    ix.max_rank        # highest dense rank on total kinds (0 if none)
    ix.writer_at(rank) # the write op that created that rank (total kinds), or None
    ix.evidence(rank)  # an op whose data shows that rank exists (shortest list read
                       #   containing it, or the op that carried the version number)
    ix.members(op)     # frozenset of elements a list/set read observed (None if not a read)
    ix.observed(op)    # the raw value a read observed on this key (snapshot-aware)
    ix.read_versions   # {op index: ver_observed} ┐ the tables behind ver / ver_observed /
    ix.write_versions  # {op index: ver}          │ observed / cmp / writer, read-only, for
    ix.snapshot_values # {op index: component}    │ hot loops that must not pay a method
    ix.data_successors # plain: {a: [b...]} (cas) │ call per op
    ix.sole_writers    # {frozen value: op}       ┘
    ix.ops             # every single-key op on this key (any f/type), inv order
    ix.writes          # write-like ops on this key (ok, info and fail), inv order
    ix.reads           # ok reads (and ok cas) observing this key, inv order
    ix.corrupt         # set of op indices whose observation is corrupt (P17): skip them
    ix.duplicates      # [(value, [ops...])]: values written by more than one op (P1)
    ix.anomalies       # integrity Anomaly objects (garbage-read, aborted-read, ...)
    ix.order           # list kind: the element order (longest compatible read)
    ix.ties            # versioned + a store tie-break: [(version, ops of different values)]

    single_key_ops(history)  # history.ops with each txn replaced by its write micro-ops
    txn_count(history)       # how many f == "txn" ops the history holds

Keyless histories (no op names a key: Knossos data, many Jepsen histories) are one
register with key None. With a tie-break (`CheckOptions.version_tiebreak`, passed as
`build_indexes(..., tiebreak)`), versions become (version, tie-break key): equal
versions of different values are ordered by the store's own rule (Cassandra: the greater
serialised value wins) instead of being a version-conflict.

Values are compared after `freeze` (lists -> tuples) so they can key dicts. `⊥` is
`None` for registers and `[]` for lists and sets; it has version 0.

Ops that count: writes are `write`, `cas` (writes its new value), `append`, `add`
(sets); reads are `ok` `read`s (info/fail reads carry no value, §1.2 step 5) plus the
expected value of an `ok` cas. Fail writes never get a version (§1.4); an observed info
write does.
"""

from __future__ import annotations

import bisect
import gc
from contextlib import contextmanager
from itertools import accumulate, compress, repeat
from operator import attrgetter, gt, itemgetter
from typing import Any, Iterable

from splitbrain.checkers import registers_native, set_native
from splitbrain.checkers.result import Anomaly
from splitbrain.harness.history import History, Op, _short, freeze

WRITE_FS = frozenset(("write", "cas", "append", "add"))
_SIMPLE = (int, str, float, bool, type(None))
_SIMPLE_T = frozenset(_SIMPLE)  # `type(v) in _SIMPLE_T`: one hash lookup


class _Bottom:
    """The initial version ⊥ of every key (§1.3)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "⊥"

    def __reduce__(self):
        return "BOTTOM"


BOTTOM = _Bottom()


def frozen(v: Any) -> Any:
    """`freeze(v)` (lists -> tuples, hashable), skipping the call for atoms: how values
    and elements key the index's tables."""
    return v if type(v) in _SIMPLE_T else freeze(v)


_fz = frozen
_NOT_READ = object()


def _snapshot_component(value: Any, key: Any) -> tuple[bool, Any]:
    """(present, observed) for `key` in a multi-key snapshot read's dict value."""
    if not isinstance(value, dict):
        return False, None
    if key in value:
        return True, value[key]
    sk = str(key)
    if sk in value:
        return True, value[sk]
    return False, None


def workload_kind(workload: str | None, ops: list[Op]) -> str:
    """Which version source applies to one key's ops (§2.3)."""
    if workload == "list-append":
        return "list"
    if workload == "set":
        return "set"
    if workload != "register":
        fs = {op.f for op in ops}
        if "append" in fs:
            return "list"
        if "add" in fs:
            return "set"
    for op in ops:  # any ok op carrying a version number (usually the first write)
        if op.version is not None and op.type == "ok":
            return "versioned"
    return "plain"


def _anomaly(type_: str, explanation: str, ops: Iterable[int], key: Any, **details: Any) -> Anomaly:
    return Anomaly(type=type_, explanation=explanation, ops=list(ops), key=key,
                   details=details)


class VersionIndex:
    """The version order of one key and what building it revealed. See the module doc."""

    def __init__(self, key: Any, kind: str):
        self.key = key
        self.kind = kind
        self.total = kind in ("list", "versioned")
        self.ops: list[Op] = []        # every single-key op on this key, invocation order
        self.writes: list[Op] = []
        self.reads: list[Op] = []
        self.corrupt: set[int] = set()
        self.duplicates: list[tuple[Any, list[Op]]] = []
        self.anomalies: list[Anomaly] = []
        self.order: list = []
        self.max_rank = 0
        self.unverifiable_writes = 0
        self._writer: dict[Any, Op] = {}          # frozen value/element -> sole writer
        self._wvals: list = []                     # frozen written value, parallel to writes
        self._wver: dict[int, Any] = {}            # write op index -> version it created
        self._rver: dict[int, Any] = {}            # read/cas op index -> version observed
        self._obs: dict[int, Any] = {}             # snapshot read index -> component value
        self._by_rank: list[Op | None] = [None]    # rank -> writer (total kinds)
        self._evidence: list[int | None] = [None]  # rank -> op index showing it
        self._succ: dict[Any, list] = {}           # plain: data edges a -> [b...]
        self._reach_cache: dict[Any, set] = {}
        self._cyclic: set = set()                  # plain: nodes on a data cycle
        self.tiebreak: str | None = None           # the store's rule for equal versions
        self.ties: list[tuple[Any, list[Op]]] = []  # (version, ops of different values)
        self.append_counts: dict[Any, list[int]] = {}  # list kind: element -> inv indices
        # set kind: read index -> members(read), computed once while building (the session,
        # lost-updates and convergence passes all ask for the same frozensets)
        self._members: dict[int, frozenset | None] | None = None
        # set kind: what the Rust scan kept of the reads (set_native.SCAN_OPS), or None
        self._set_reads = None
        # set keys the Rust core built (set_native.INDEX): every write an add of its own
        # distinct int, and their counts (set_native.SetFacts), or None
        self.set_facts = None
        # False when no op on this key is a cas (build_index knows it for free): lets the
        # register passes skip a scan of every op looking for one
        self.has_cas = True
        # versioned keys the Rust core built: what the other families need of the key's
        # ops (registers_native.Facts), so they need not walk them again
        self.native = None

    # -- the index's tables, read-only (what session, staleness and lost-updates walk
    # in their hot loops; the same dicts, so reading them costs nothing extra)

    @property
    def read_versions(self) -> dict[int, Any]:
        """op index -> the version a read (or ok cas) observed; absent = unknown."""
        return self._rver

    @property
    def write_versions(self) -> dict[int, Any]:
        """op index -> the version a write-like op created; absent = unknown."""
        return self._wver

    @property
    def snapshot_values(self) -> dict[int, Any]:
        """op index of a multi-key snapshot read -> this key's component of its value."""
        return self._obs

    @property
    def data_successors(self) -> dict[Any, list]:
        """plain kind: version -> the versions an ok cas replaced it by (data edges)."""
        return self._succ

    @property
    def sole_writers(self) -> dict[Any, Op]:
        """frozen value/element -> the one op that wrote it (values written twice: absent)."""
        return self._writer

    # -- queries -------------------------------------------------------------------

    def writer(self, value: Any) -> Op | None:
        if value is None:
            return None
        return self._writer.get(_fz(value))

    def observed(self, op: Op) -> Any:
        if op.index in self._obs:
            return self._obs[op.index]
        if op.f == "cas":
            v = op.value
            return v[0] if isinstance(v, (list, tuple)) and len(v) == 2 else None
        return op.value

    def ver(self, op: Op) -> Any:
        if op.f == "read":
            return self._rver.get(op.index)
        return self._wver.get(op.index)

    def ver_observed(self, op: Op) -> Any:
        return self._rver.get(op.index)

    def rank(self, op: Op) -> int | None:
        return self.ver(op) if self.total else None

    def writer_at(self, rank: int) -> Op | None:
        if not self.total or rank <= 0 or rank >= len(self._by_rank):
            return None
        return self._by_rank[rank]

    def evidence(self, rank: int) -> int | None:
        if not self.total or rank <= 0 or rank >= len(self._evidence):
            return None
        return self._evidence[rank]

    def members(self, op: Op) -> frozenset | None:
        """The read's elements as a frozenset (None: not a list/set read, or corrupt).
        `_members` may omit a set read the scan cleared (`_SET_LAZY`): built here."""
        known = self._members
        if known is not None:
            got = known.get(op.index, _NOT_READ)
            if got is not _NOT_READ:
                return got
        if self.kind not in ("list", "set"):
            return None
        v = self.observed(op)
        if v is None:
            return frozenset()
        if not isinstance(v, (list, tuple)):
            return None
        if _SIMPLE_T.issuperset(map(type, v)):
            return frozenset(v)  # nothing to freeze: built in C
        return frozenset(_fz(e) for e in v)

    def cmp(self, x: Any, y: Any) -> str | None:
        if x is None or y is None:
            return None
        if self.total:
            return "<" if x < y else (">" if x > y else "=")
        if self.kind != "plain":
            return None
        if x is y or x == y:
            return "="
        if x is BOTTOM:
            return "<"
        if y is BOTTOM:
            return ">"
        if not self._succ or x in self._cyclic or y in self._cyclic:
            return None
        if y in self._reach(x):
            return "<"
        if x in self._reach(y):
            return ">"
        return None

    def _reach(self, x: Any) -> set:
        got = self._reach_cache.get(x)
        if got is None:
            got, stack = set(), [x]
            while stack:
                for n in self._succ.get(stack.pop(), ()):
                    if n not in got:
                        got.add(n)
                        stack.append(n)
            self._reach_cache[x] = got
        return got

    def __repr__(self) -> str:
        return (f"VersionIndex(key={self.key!r}, kind={self.kind}, writes={len(self.writes)}, "
                f"reads={len(self.reads)}, max_rank={self.max_rank})")


# ------------------------------------------------------------------------------------
# Building


def build_indexes(history: History, workload: str | None = None, tiebreak: str | None = None,
                  *, analysis: Any = None) -> dict[Any, VersionIndex]:
    """Per-key VersionIndex for every single key the history touches, built afresh (the
    shared, built-once copy is `Analysis.indexes`; `analysis` lends its op groups).

    Multi-key snapshot reads (key = tuple, value = dict) feed each component key's index.
    """
    with gc_paused():
        groups = analysis.groups if analysis is not None else group_by_key(single_key_ops(history))
        return _build_all(groups, workload, tiebreak)


TXN_WRITE_FS = {"w": "write", "write": "write", "append": "append", "add": "add"}


def txn_count(history: History) -> int:
    """How many multi-micro-op transactions (`f == "txn"`) the history holds."""
    return sum(map("txn".__eq__, map(attrgetter("f"), history.ops)))  # counted in C


def single_key_ops(history: History, n_txn: int | None = None) -> list[Op]:
    """The history's ops with every transaction replaced by its *write* micro-ops.

    Issue 10 item 4: until a transactional checker judges them, what transactions wrote
    still counts as written (a value a transaction wrote is never garbage, unexpected or
    lost-by-omission); their reads are left out (a read inside a transaction may see the
    transaction's own uncommitted writes, so it is no observation of a committed state).
    A synthetic op keeps the transaction's index, type and times, its micro-op's f, key
    and value, and `extra["txn_of"]` = the transaction's index. Read-only (without
    transactions it is `history.ops` itself); `Analysis.single_key_ops` keeps one.
    `n_txn`: `txn_count(history)` when the caller knows it.
    """
    if not (txn_count(history) if n_txn is None else n_txn):
        return history.ops
    out = []
    for op in history.ops:
        if op.f != "txn":
            out.append(op)
            continue
        mops = op.value if isinstance(op.value, (list, tuple)) else ()
        for m in mops:
            if not (isinstance(m, (list, tuple)) and len(m) == 3):
                continue
            f = TXN_WRITE_FS.get(m[0])
            if f is None:
                continue
            k = m[1]
            out.append(op._replace(f=f, key=tuple(k) if type(k) is list else k,
                                   value=m[2], version=None,
                                   extra={**(op.extra or {}), "txn_of": op.index}))
    return out


def group_by_key(ops: list[Op]) -> tuple[dict[Any, list[Op]], list[Op], int]:
    """(key -> its ops in the given order, the keyless key None included; the ok reads of
    multi-key snapshots, whose tuple keys are no group; how many ops name a tuple key).
    Read-only once returned. By the Rust core when it is there (registers_native.GROUP,
    the same dict operations in the same order)."""
    if registers_native.GROUP is not None and type(ops) is list:
        groups, snapshots, multi = registers_native.GROUP(ops)
        return groups, snapshots, multi
    groups: dict[Any, list[Op]] = {}
    snapshots: list[Op] = []
    multi = 0
    get = groups.get
    for op in ops:
        k = op.key
        if type(k) is tuple:
            multi += 1
            if op.f == "read" and op.type == "ok":
                snapshots.append(op)
            continue
        g = get(k)
        if g is None:
            groups[k] = [op]
        else:
            g.append(op)
    return groups, snapshots, multi


def keyless(ops: Iterable[Op]) -> bool:
    """True when no op names a key: the single-register form of Knossos data and many
    Jepsen histories (`{:f :read :value 3}`), checked as one key (issue 10 item 6)."""
    seen = False
    for op in ops:
        if op.key is not None:
            return False
        seen = True
    return seen


@contextmanager
def gc_paused():
    """Pause the cyclic GC while building many small acyclic containers.

    Collections triggered by allocation would rescan every live Op of a big history
    over and over (roughly halving build speed for 10^6 ops); nothing built here is cyclic.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _build_all(grouped: tuple[dict[Any, list[Op]], list[Op], int], workload: str | None,
               tiebreak: str | None = None) -> dict[Any, VersionIndex]:
    groups, snapshots, multi = grouped
    # keyless (`keyless`): no op names a key, so every op is in the None key's group
    one_register = not multi and len(groups) == 1 and None in groups
    extra: dict[Any, list[tuple[Op, Any]]] = {}
    for op in snapshots:
        for k in op.key:
            present, v = _snapshot_component(op.value, k)
            if present:
                extra.setdefault(k, []).append((op, v))
    out: dict[Any, VersionIndex] = {}
    for k, ops in groups.items():
        if k is None and not one_register:
            continue  # keyless ops inside a keyed history name no object
        out[k] = build_index(k, ops, workload, extra.get(k, ()), tiebreak)
    for k, comps in extra.items():  # keys only snapshot reads name
        if k not in groups:
            out[k] = build_index(k, [], workload, comps, tiebreak)
    return out


def build_index(key: Any, ops: list[Op], workload: str | None = None,
                snapshot_reads: Iterable[tuple[Op, Any]] = (),
                tiebreak: str | None = None) -> VersionIndex:
    """One key's index from its ops (in invocation order)."""
    kind = workload_kind(workload, ops)
    ix = VersionIndex(key, kind)
    if kind == "versioned" and tiebreak:
        ops = _extend_versions(ix, ops, tiebreak)
    ix.tiebreak = tiebreak
    ix.ops = ops
    if kind == "versioned" and not tiebreak and not snapshot_reads and _native_versioned(ix):
        return ix
    if kind == "list" and not snapshot_reads and _native_list(ix):
        return ix
    if kind == "set" and not snapshot_reads and _native_set(ix):
        return ix
    writes_append = ix.writes.append
    reads = ix.reads
    reads_append = reads.append
    wvals_append = ix._wvals.append  # frozen written value per write (None: no value)
    simple = _SIMPLE_T
    write_fs = WRITE_FS
    fs = list(map(_F, ops))
    ix.has_cas = "cas" in set(fs)
    if not ix.has_cas:
        # the loop below without cas, as comprehensions (same lists, same order)
        reads.extend([op for op, f in zip(ops, fs) if f == "read" and op.type == "ok"])
        ix.writes = [op for op, f in zip(ops, fs) if f in write_fs]
        wv = list(map(_VALUE, ix.writes))
        ix._wvals = wv if simple.issuperset(map(type, wv)) else [
            v if type(v) in simple else freeze(v) for v in wv]
        ops = ()
    for op in ops:
        f = op.f
        if f == "read":
            if op.type == "ok":
                reads_append(op)
        elif f in write_fs:
            writes_append(op)
            v = op.value
            if f == "cas":
                v = v[1] if isinstance(v, (list, tuple)) and len(v) == 2 else None
                if op.type == "ok":
                    reads_append(op)
            wvals_append(v if type(v) in simple else freeze(v))
    for op, v in snapshot_reads:
        ix._obs[op.index] = v
        reads.append(op)
    if snapshot_reads:
        reads.sort(key=lambda o: o.inv_index)
    _index_writers(ix)
    if kind == "list":
        _build_list(ix)
    elif kind == "set":
        _build_set(ix)
    elif kind == "versioned":
        _build_versioned(ix)
    else:
        _build_plain(ix)
    return ix


# -- equal versions: the store's own tie-break (issue 10 item 1) -------------------------

TIEBREAKS = ("cassandra",)


def cassandra_value_bytes(v: Any) -> bytes:
    """The cell value as Cassandra serialises it, for its equal-timestamp rule.

    Cassandra 5.0 `Cells.resolveRegular` (cassandra-all 5.0.8): when two live cells have
    the same timestamp (and neither is a tombstone or expiring), `compareValues(left,
    right) >= 0 ? left : right`, i.e. the cell whose value bytes are greater under
    *unsigned* lexicographic comparison (`ByteBufferUtil.compareUnsigned` via
    `ByteBufferAccessor`) wins. Python's `bytes` ordering is exactly that comparison.
    Encodings of the CQL types our workloads use: `int` 4-byte big-endian two's
    complement (`bigint` beyond 32 bits), `boolean` one byte, `double` 8 bytes, `text`
    UTF-8.
    """
    import struct

    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, int):
        if -(1 << 31) <= v < (1 << 31):
            return struct.pack(">i", v)
        return struct.pack(">q", v) if -(1 << 63) <= v < (1 << 63) else str(v).encode()
    if isinstance(v, float):
        return struct.pack(">d", v)
    if isinstance(v, str):
        return v.encode("utf-8")
    return repr(v).encode("utf-8")


def _extend_versions(ix: VersionIndex, ops: list[Op], rule: str) -> list[Op]:
    """Versions become (version, tie-break key): equal versions of different values are
    ordered exactly as the store reconciles them, and recorded in `ix.ties` (a statistic
    and a notice, never an integrity anomaly on their own)."""
    if rule != "cassandra":
        raise ValueError(f"unknown version tie-break {rule!r}; known: {', '.join(TIEBREAKS)}")
    out: list[Op] = []
    by_ver: dict[int, dict[Any, Op]] = {}
    for op in ops:
        if op.version is None or op.type != "ok" or op.f not in ("read", "write"):
            out.append(op)
            continue
        v = op.value
        if v is None:
            out.append(op)
            continue
        vals = by_ver.setdefault(op.version, {})
        fv = _fz(v)
        if fv not in vals:
            vals[fv] = op
        out.append(op._replace(version=(op.version, cassandra_value_bytes(v))))
    for ver, vals in by_ver.items():
        if len(vals) > 1:
            ix.ties.append((ver, list(vals.values())))
    return out


def _index_writers(ix: VersionIndex) -> None:
    """value -> sole writer; values written twice are duplicates (P1, §2.1).

    A client retry re-sending the same value (`retry_of` in the op) is not a duplicate
    (P11): the retry chain is one logical write, represented by its ok/info member.
    """
    writer = ix._writer
    if not writer:
        # distinct values, none None (the common key): the loop below stores each value's
        # one writer in order, i.e. this dict, built in C
        fast = dict(zip(ix._wvals, ix.writes))
        if len(fast) == len(ix._wvals) and None not in fast:
            writer.update(fast)
            return
    get = writer.get
    dups: dict[Any, list[Op]] = {}
    for op, v in zip(ix.writes, ix._wvals):
        if v is None:
            continue
        prev = get(v)
        if prev is None:
            writer[v] = op
            continue
        if _is_retry(prev, op):
            # keep the one that may have taken effect (ok beats info beats fail)
            if _strength(op) > _strength(prev):
                writer[v] = op
            continue
        dups.setdefault(v, [prev]).append(op)
    for v, ops in dups.items():
        del writer[v]
        ix.duplicates.append((v, ops))


def _is_retry(a: Op, b: Op) -> bool:
    ea, eb = a.extra or {}, b.extra or {}
    return "retry_of" in eb or "retry_of" in ea


def _strength(op: Op) -> int:
    return {"ok": 2, "info": 1}.get(op.type, 0)


def _dup_values(ix: VersionIndex) -> set:
    return {v for v, _ in ix.duplicates}


# -- integrity of single observations (shared by all kinds) -----------------------------


class _ValueAudit:
    """Reports garbage / aborted / future reads once per value, with a read count."""

    def __init__(self, ix: VersionIndex):
        self.ix = ix
        self.garbage: dict[Any, list[Op]] = {}
        self.aborted: dict[Any, list[Op]] = {}
        self.future: dict[tuple, list] = {}
        self.dups = _dup_values(ix)

    def check(self, read: Op, v: Any) -> bool:
        """True if the observed (frozen) value/element `v` is usable."""
        w = self.ix._writer.get(v)
        if w is None:
            if v in self.dups:
                return True  # ambiguous, reported as duplicate (P1)
            self.garbage.setdefault(v, []).append(read)
            return False
        if w.type == "fail":
            self.aborted.setdefault(v, []).append(read)
            return False
        if read.ret_index < w.inv_index and w is not read:
            self.future.setdefault((v, w.index), []).append(read)
            return False
        return True

    def flush(self) -> None:
        # explanations are built lazily: only the anomalies a result keeps are rendered
        ix, key = self.ix, self.ix.key
        for v, rs in self.garbage.items():
            r = rs[0]
            ix.anomalies.append(_anomaly(
                "garbage-read",
                lambda r=r, v=v, n=len(rs): (
                    f"read {r.describe()} returned {_short(v)} for "
                    f"{'the register' if key is None else _short(key)}, a value no "
                    f"operation ever wrote" + (f" ({n} reads saw it)" if n > 1 else "")),
                [r.index], key, roles={"read": r.index}, value=v, reads=len(rs)))
        for v, rs in self.aborted.items():
            r, w = rs[0], ix._writer[v]
            ix.anomalies.append(_anomaly(
                "aborted-read",
                lambda r=r, w=w, v=v, n=len(rs): (
                    f"read {r.describe()} observed {_short(v)}, written only by "
                    f"{w.describe()}, which failed and so never took effect"
                    + (f" ({n} reads saw it)" if n > 1 else "")),
                [r.index, w.index], key, roles={"read": r.index, "write": w.index}, value=v,
                reads=len(rs)))
        for (v, widx), rs in self.future.items():
            r, w = rs[0], ix._writer[v]
            ix.anomalies.append(_anomaly(
                "future-read",
                lambda r=r, w=w, v=v: (
                    f"read {r.describe()} returned {_short(v)}, but its write {w.describe()} "
                    f"was only invoked (index {w.inv_index}) after the read completed (index "
                    f"{r.ret_index})"),
                [r.index, w.index], key, roles={"read": r.index, "write": w.index}, value=v,
                reads=len(rs)))


# -- A: list-append ----------------------------------------------------------------------


def _read_elements(ix: VersionIndex, r: Op, simple: frozenset, snap) -> tuple | None:
    """The elements a list/set read observed, or None (read marked corrupt) when the value
    is not a collection or holds an element twice (duplicate-element, §2.2)."""
    v = r.value if r.f == "read" and r.index not in snap else ix.observed(r)
    if v is None:
        return ()
    if not isinstance(v, (list, tuple)):
        ix.corrupt.add(r.index)
        return None
    elems = tuple(v) if simple.issuperset(map(type, v)) else tuple(_fz(e) for e in v)
    if len(set(elems)) != len(elems):
        dup, copies, could = _excess_copy(ix, r, elems)
        if dup is None:
            return elems  # each copy has its own append (issue 10 item 3)
        ix.anomalies.append(_anomaly(
            "duplicate-element",
            lambda r=r, dup=dup, copies=copies, could=could: (
                f"read {r.describe()} contains element {_short(dup)} {copies} times, but "
                + (f"only {could} append(s) of it could have taken effect by then"
                   if could else "no operation could have added it more than once")),
            [r.index], ix.key, roles={"read": r.index}, element=dup, copies=copies,
            appends_possible=could))
        ix.corrupt.add(r.index)
        return None
    return elems


def _excess_copy(ix: VersionIndex, r: Op, elems: tuple) -> tuple[Any, int, int]:
    """(element, copies, appends that could have produced them) for the first element
    a read holds more often than it could (sets: more than once; lists: more copies than
    non-failed appends of it invoked before the read completed), else (None, 0, 0)."""
    from collections import Counter

    counts = ix.append_counts
    for e, c in Counter(elems).items():
        if c < 2:
            continue
        if ix.kind != "list":
            return e, c, 1
        invs = counts.get(e, ())
        could = bisect.bisect_left(invs, r.ret_index) if invs else 0
        if c > could:
            return e, c, could
    return None, 0, 0


def _elements_audit(audit, winv_get, r: Op, elems: tuple) -> None:
    """Report garbage/aborted/future elements; the fast C-level test first (every element
    has a non-failed writer invoked no later than the read completed: the common case)."""
    if elems:
        invs = list(map(winv_get, elems))
        if None in invs or max(invs) > r.ret_index:
            for e in elems:
                audit.check(r, e)  # reported; the read stays usable


# The fast scan of `_build_list` (False: every key takes the per-read reference path;
# the differential tests flip it to compare the two)
_LIST_FAST = True


def _build_list(ix: VersionIndex) -> None:
    """§2.3-A: the order is the longest read, every other read must be its prefix.

    The fast scan decides the common key (every read a clean prefix of one growing list)
    with C-level prefix comparisons, each element looked at once; any key it declines
    goes through the per-read reference path, which decides and reports exactly."""
    scan = (_list_reads_native(ix) or _list_reads_fast(ix)) if _LIST_FAST else None
    if scan is None:
        longest, shortest_for_len = _list_reads(ix)
        evidence = _list_evidence(len(longest), shortest_for_len)
    else:
        longest, evidence, lens = scan
        ix._rver.update(zip(map(_INDEX, ix.reads), lens))
    pos = _list_ranks(ix, longest, evidence, clean=scan is not None)
    if scan is None:  # the fast scan saw no failed append in the order: none to find
        _dirty_updates(ix, pos)


def _list_reads_native(ix: VersionIndex) -> tuple[tuple, list[int | None], list[int]] | None:
    """`_list_reads_fast` by the Rust core (native/src/lists.rs) for keys of plain int
    elements; None when it is not available or declines."""
    from splitbrain.checkers import lists_native

    if lists_native.SCAN is None or ix.duplicates or ix._obs:
        return None
    reads = ix.reads
    got = lists_native.SCAN(reads, ix._writer)
    if got is None:
        return None
    lens, at, evidence = got
    longest = () if at is None else _read_elements(ix, reads[at], _SIMPLE_T, {})
    return longest, evidence, lens


def _list_reads_fast(ix: VersionIndex) -> tuple[tuple, list[int | None], list[int]] | None:
    """(longest read's elements, each rank's evidence (`_list_evidence`), each read's
    length) when every read of the key is a clean prefix of one growing list, else None
    (nothing changed).

    Clean: a plain `read` whose value is a list of atoms (or None), with no element
    twice, each element appended by one non-failed op invoked before the read
    completed, no snapshot component and no element appended twice in the key: exactly
    the reads on which the reference path reports nothing, marks nothing corrupt and
    finds every read compatible. One reference list grows by each longer read; a read
    is checked against it by a C-level slice comparison, and a new suffix's elements
    once each (prefix maxima of the writers' invocation indices stand for the per-read
    `max(invs) <= ret_index` test)."""
    if ix.duplicates or ix._obs:
        return None
    winv_get = {e: w.inv_index for e, w in ix._writer.items() if w.type != "fail"}.get
    simple = _SIMPLE_T
    ref: list = []
    seen: set = set()
    pmax = [-1]  # pmax[i]: the latest writer invocation among ref[:i]
    shortest_for_len: dict[int, Op] = {}
    longest_op = None
    lens: list[int] = []
    for r in ix.reads:
        if r.f != "read":
            return None
        v = r.value
        if v is None:
            m = 0
        elif type(v) is not list:
            return None
        else:
            m = len(v)
            n = len(ref)
            if m <= n:
                if v != ref[:m]:
                    return None
            else:
                if n and v[:n] != ref:
                    return None
                new = v[n:]
                if not simple.issuperset(map(type, new)):
                    return None
                seen.update(new)
                invs = list(map(winv_get, new))
                if len(seen) != m or None in invs:
                    return None
                pmax.extend(accumulate(invs, max, initial=pmax[-1]))
                del pmax[n + 1]  # accumulate repeats its initial value
                ref = v
                longest_op = r
            if pmax[m] > r.ret_index:
                return None
        lens.append(m)
        if m not in shortest_for_len:
            shortest_for_len[m] = r
    longest = () if longest_op is None else _read_elements(ix, longest_op, simple, {})
    return longest, _list_evidence(len(longest), shortest_for_len), lens


def _list_reads(ix: VersionIndex) -> tuple[tuple, dict[int, Op]]:
    """The reference path of `_build_list`: every read's elements audited and compared
    with the longest; (longest read's elements, length -> first compatible read)."""
    audit = _ValueAudit(ix)
    if ix.duplicates:
        # elements appended more than once: how many copies a read may hold (item 3)
        counts = ix.append_counts
        for w, e in zip(ix.writes, ix._wvals):
            if e is not None and w.type != "fail" and w.f == "append":
                counts.setdefault(e, []).append(w.inv_index)
    key = ix.key
    usable: list[tuple[tuple, Op]] = []
    # element -> invocation index of its sole writer when that writer did not fail: a
    # read whose elements all have one, invoked no later than the read completed, passes
    # every `audit.check` (the common case), verified here with C-level map/max
    winv = {e: w.inv_index for e, w in ix._writer.items() if w.type != "fail"}
    winv_get = winv.get
    simple = _SIMPLE_T
    snap = ix._obs
    for r in ix.reads:
        lst = _read_elements(ix, r, simple, snap)
        if lst is None:
            continue
        _elements_audit(audit, winv_get, r, lst)
        usable.append((lst, r))
    audit.flush()
    # §2.3-A: distinct lists by length; the longest is the order, all must be its prefixes.
    longest: tuple = ()
    longest_op: Op | None = None
    for lst, r in usable:
        if len(lst) > len(longest):
            longest, longest_op = lst, r
    # the longest may itself be the odd one out: prefer the longest list that the
    # most reads agree with is overkill; Elle takes the longest. Reads that disagree
    # with it are incompatible and get no version.
    n = len(longest)
    shortest_for_len: dict[int, Op] = {}
    reported_pairs: set = set()
    for lst, r in usable:
        m = len(lst)
        if m and longest[:m] != lst:
            ix.corrupt.add(r.index)
            div = next(i for i in range(m) if lst[i] != longest[i])
            pair = (lst, longest)
            if pair not in reported_pairs:
                reported_pairs.add(pair)
                ix.anomalies.append(_anomaly(
                    "incompatible-order",
                    f"reads {r.describe()} and {longest_op.describe()} disagree on the order "
                    f"of {key!r}: at position {div} one has {lst[div]!r}, the other "
                    f"{longest[div]!r}, so neither list is a prefix of the other",
                    sorted((r.index, longest_op.index)), key,
                    roles={"read": r.index, "other_read": longest_op.index},
                    divergence_index=div))
            continue
        ix._rver[r.index] = m
        if m not in shortest_for_len:
            shortest_for_len[m] = r
    return longest, shortest_for_len


def _list_ranks(ix: VersionIndex, longest: tuple, evidence: list[int | None],
                clean: bool = False) -> dict:
    """Ranks and writers from the order (`longest`), and the evidence of each rank
    (`_list_evidence`); returns element -> rank. clean: a fast scan accepted the reads
    (every element of the order has a sole writer that did not fail)."""
    n = len(longest)
    ix.order = list(longest)
    ix.max_rank = n
    pos = dict(zip(longest, range(1, n + 1)))
    ix._evidence = evidence
    writes = ix.writes
    if clean and len(ix._writer) == len(writes) == n:
        ps = list(map(pos.get, ix._wvals))
        if None not in ps:
            # each write the sole writer of its own element and the order exactly the
            # written elements (none of whose writers failed, or the scan would not be
            # clean): the loop below would verify every write, in this order
            ix._wver.update(zip(map(_INDEX, writes), ps))
            ix._by_rank = [None, *map(itemgetter(1), sorted(zip(ps, writes)))]
            return pos
    by_rank: list[Op | None] = [None] * (n + 1)
    wver = ix._wver
    writer_get = ix._writer.get
    pos_get = pos.get
    unverifiable = 0
    for w, e in zip(ix.writes, ix._wvals):
        if e is None:
            continue
        p = pos_get(e)
        if p is not None and writer_get(e) is w and w.type != "fail":
            wver[w.index] = p
            by_rank[p] = w
        elif w.type == "ok":
            unverifiable += 1
    ix.unverifiable_writes += unverifiable
    if None in by_rank[1:]:
        for e, p in pos.items():
            if by_rank[p] is None:
                by_rank[p] = writer_get(e)
    ix._by_rank = by_rank
    return pos


def _list_evidence(n: int, shortest_for_len: dict[int, Op]) -> list[int | None]:
    """evidence(rank) for ranks 0..n: the shortest compatible read of length >= rank
    (rank 0: None); runs of ranks share one read, so each run is one C-level extend."""
    ev: list[int | None] = [None]
    done = 0  # ranks 1..done are filled
    for m in sorted(shortest_for_len):
        if m > done:
            ev.extend(repeat(shortest_for_len[m].index, m - done))
            done = m
    ev.extend(repeat(None, n - done))
    return ev


def _dirty_updates(ix: VersionIndex, pos: dict) -> None:
    """§2.2 dirty-update: a failed append followed in the order by an ok append."""
    order = ix.order
    for i, e in enumerate(order):
        w = ix._writer.get(e)
        if w is None or w.type != "fail":
            continue
        for e2 in order[i + 1:]:
            w2 = ix._writer.get(e2)
            if w2 is not None and w2.type == "ok":
                rd = ix.evidence(pos[e2])
                ops = [w.index, w2.index] + ([rd] if rd is not None else [])
                ix.anomalies.append(_anomaly(
                    "dirty-update",
                    f"the failed append of {e!r} ({w.describe()}) sits in the order of "
                    f"{ix.key!r} before the acknowledged append of {e2!r} "
                    f"({w2.describe()}), which was built on an aborted state",
                    ops, ix.key, roles={"failed_write": w.index, "write": w2.index,
                                        "read": rd}))
                break


# -- sets --------------------------------------------------------------------------------


def _build_set(ix: VersionIndex, scanned: tuple[dict, list] | None = None) -> None:
    """Audit every read's elements and keep its members (`ix.members`, built once here).

    Same findings as `_read_elements` + `_elements_audit` per read, with the frozenset
    (what `members` returns) as the duplicate test and the fast C-level audit; the
    element-order paths only for the rare read that needs them. `scanned`: what
    `_set_scan` would return, already computed (`_native_set`)."""
    audit = _ValueAudit(ix)
    reads = ix.reads
    # see _build_list: the C-level test that every `audit.check` would pass
    if scanned is None:
        winv = _live_invocations(ix)
        mem, todo = _set_scan(ix, reads, winv)
    else:
        mem, todo = scanned
        winv = _live_invocations(ix) if todo else {}
    winv_get = winv.get
    simple = _SIMPLE_T
    snap = ix._obs
    empty = frozenset()
    # the members of the last read the fast test cleared, and when that read completed:
    # its elements all have a live writer invoked by then, so a read completing no
    # earlier need only test the elements it adds (usually none or one)
    cleared, cleared_ret = empty, -1
    for r in (reads if todo is None else map(reads.__getitem__, todo)):
        i = r.index
        v = r.value if r.f == "read" and i not in snap else ix.observed(r)
        if v is None:
            mem[i] = empty
            continue
        if not isinstance(v, (list, tuple)):
            mem[i] = None
            ix.corrupt.add(i)
            continue
        m = mem[i] = _frozen_set(v)
        if len(m) != len(v):  # an element twice: _read_elements reports and marks it
            elems = _read_elements(ix, r, simple, snap)
            if elems is not None:
                _elements_audit(audit, winv_get, r, elems)
            continue
        ret = r.ret_index
        new = m.difference(cleared) if cleared_ret <= ret else m
        if new:
            invs = list(map(winv_get, new))
            if None in invs or max(invs) > ret:
                for e in map(_fz, v):
                    audit.check(r, e)  # reported; the read stays usable
                continue
        cleared, cleared_ret = m, ret
    ix._members = mem
    audit.flush()


def _live_invocations(ix: VersionIndex) -> dict:
    """element -> the invocation index of its sole writer, unless that write failed."""
    return {e: w.inv_index for e, w in ix._writer.items() if w.type != "fail"}


def _native_set(ix: VersionIndex) -> bool:
    """`build_index` of a set key with the Rust core's `set_index` (set_native.INDEX)
    doing everything before `_build_set`'s per-read loop, when it takes the key's shape
    (plain reads and adds of distinct exact ints); False: nothing changed."""
    build = set_native.INDEX
    if build is None or set_native.SCAN is None or type(ix.ops) is not list:
        return False
    got = build(ix.ops, _SET_LAZY)
    if got is None:
        return False
    ix.reads, ix.writes, ix._wvals, ix._writer, members, todo, ix._set_reads, facts = got
    ix.set_facts = set_native.SetFacts(*facts)
    ix.has_cas = False
    reads = ix.reads
    if not reads:
        mem, todo = {}, None  # as _set_scan: the loop has nothing to visit
    elif _SET_LAZY:
        mem = dict(zip(map(_INDEX, map(reads.__getitem__, todo)), members))
    else:
        mem = dict(zip(map(_INDEX, reads), members))
    _build_set(ix, (mem, todo))
    return True


def _set_scan(ix: VersionIndex, reads: list[Op], winv: dict) -> tuple[dict, list | None]:
    """(read index -> members, the positions in `reads` the Python loop must still visit,
    None = all) from the Rust core's `set_scan`: it builds every read's frozenset and
    clears the reads its audit proves silent; only for plain reads (no snapshot or cas
    observations, whose observed value is not `op.value`)."""
    scan = set_native.SCAN
    if scan is None or ix._obs or not reads or set(map(_F, reads)) != {"read"}:
        return {}, None
    if set_native.SCAN_OPS is not None and type(reads) is list:
        got = set_native.SCAN_OPS(reads, winv, _SET_LAZY)
        if got is not None:
            ix._set_reads = got[2]
            got = got[:2]
    else:
        got = None
    if got is None:
        got = scan(list(map(_VALUE, reads)), list(map(_RET, reads)), winv, _SET_LAZY)
    if got is None:
        return {}, None
    members, todo = got
    if _SET_LAZY:  # members of the `todo` reads only: `ix.members` builds the others'
        return dict(zip(map(_INDEX, map(reads.__getitem__, todo)), members)), todo
    return dict(zip(map(_INDEX, reads), members)), todo


# True: the reads set_scan clears keep no frozenset in `ix._members` (a list of distinct
# exact ints: `ix.members` builds it on demand, the Rust session pass reads the list)
_SET_LAZY = True


def _frozen_set(v: list | tuple) -> frozenset:
    """frozenset(map(frozen, v)), built in C when every element is hashable as it is:
    `freeze` only rewrites lists and dicts, which are exactly the unhashable elements
    (a tuple holding one raises in both forms alike)."""
    try:
        return frozenset(v)
    except TypeError:
        return frozenset(map(_fz, v))


# -- B: version numbers -----------------------------------------------------------------


def _build_versioned(ix: VersionIndex) -> None:
    """§2.3-B: ranks from version numbers. Every step has a C-level fast path for the
    common history (each read's value has a live writer invoked before the read ended;
    each value carries one version and each version one value); the per-op Python loop
    of each step runs only when its fast test fails, and decides exactly as before."""
    audit = _ValueAudit(ix)
    key = ix.key
    # observations: (frozen value, version, op) from ok ops that carry a version
    val_vers: dict[Any, dict[int, Op]] = {}
    ver_vals: dict[int, dict[Any, Op]] = {}
    writer_get = ix._writer.get
    snap = ix._obs
    rver = ix._rver
    simple = _SIMPLE_T
    reads = ix.reads
    good = None
    if not snap and (not ix.has_cas or "cas" not in set(map(_F, reads))):
        good = _versioned_reads_fast(ix, reads, rver)
    if good is not None:
        good_reads, good_fvs = good
        # one pass over the reads' versions (an Op is a cache miss each time it is touched)
        obs_ver = list(map(_VERSION, good_reads))
        if None in obs_ver:
            carries = [ver is not None for ver in obs_ver]
            obs_fv = list(compress(good_fvs, carries))
            obs_op = list(compress(good_reads, carries))
            obs_ver = list(compress(obs_ver, carries))
        else:
            obs_fv, obs_op = list(good_fvs), list(good_reads)
    else:
        good_reads, good_fvs = [], []
        obs_fv, obs_ver, obs_op = [], [], []
        for r in reads:
            # ix.observed(r), inlined: plain reads are by far the most common
            if r.f == "read" and r.index not in snap:
                v = r.value
            else:
                v = ix.observed(r)
            if v is None:
                rver[r.index] = 0
                continue
            fv = v if type(v) in simple else freeze(v)
            w = writer_get(fv)
            if not (w is not None and w.type != "fail" and not r.ret_index < w.inv_index) \
                    and not audit.check(r, fv):
                ix.corrupt.add(r.index)
                continue
            good_reads.append(r)
            good_fvs.append(fv)
            if r.version is not None and r.f == "read" and r.index not in snap:
                obs_fv.append(fv)
                obs_ver.append(r.version)
                obs_op.append(r)
    audit.flush()
    wobs = [(w, fv) for w, fv in zip(ix.writes, ix._wvals)
            if w.type == "ok" and w.version is not None and fv is not None]
    obs_fv.extend([fv for _, fv in wobs])
    obs_ver.extend([w.version for w, _ in wobs])
    obs_op.extend([w for w, _ in wobs])
    dups = _dup_values(ix)
    bad_vals: set = set()
    if _one_to_one(obs_fv, obs_ver):
        # one version per value and one value per version: no conflict, no mismatch
        first_op = dict(zip(reversed(obs_fv), reversed(obs_op)))  # value -> first op
        value_ver = {val: ver for val, ver in zip(obs_fv, obs_ver)
                     if val not in dups and val in ix._writer}
        evidence_of = first_op.__getitem__
    else:
        first_ver: dict = {}
        first_val: dict = {}
        # value -> {version: first op}, version -> {value: first op}; second entries rare
        for fv, ver, op in zip(obs_fv, obs_ver, obs_op):
            got = first_ver.get(fv)
            if got is None:
                first_ver[fv] = (ver, op)
                val_vers[fv] = None
            elif got[0] != ver:
                d = val_vers[fv] or {got[0]: got[1]}
                d.setdefault(ver, op)
                val_vers[fv] = d
            got = first_val.get(ver)
            if got is None:
                first_val[ver] = (fv, op)
            elif got[0] != fv:
                d = ver_vals.get(ver) or {got[0]: got[1]}
                d.setdefault(fv, op)
                ver_vals[ver] = d
        for ver, vals in ver_vals.items():
            if len(vals) > 1:
                items = list(vals.items())[:2]
                (a, oa), (b, ob) = items
                bad_vals.update(vals)
                ix.anomalies.append(_anomaly(
                    "version-conflict",
                    f"{key!r} version {ver} was observed with two different values: {a!r} "
                    f"({oa.describe()}) and {b!r} ({ob.describe()}), the signature of two "
                    f"leaders assigning the same version",
                    sorted((oa.index, ob.index)), key, version=ver, values=[a, b]))
        for val, vers in val_vers.items():
            if vers is not None and len(vers) > 1:
                items = sorted(vers.items())[:2]
                (va, oa), (vb, ob) = items
                bad_vals.add(val)
                ix.anomalies.append(_anomaly(
                    "version-mismatch",
                    f"value {val!r} of {key!r} was observed with version {va} "
                    f"({oa.describe()}) and version {vb} ({ob.describe()}): the write was "
                    f"applied twice",
                    sorted((oa.index, ob.index)), key, value=val, versions=[va, vb]))
        value_ver = {}
        for val, (ver, _) in first_ver.items():
            if val not in bad_vals and val not in dups and val in ix._writer:
                value_ver[val] = ver
        evidence_of = lambda val: first_ver[val][1]  # noqa: E731
    distinct = sorted(set(value_ver.values()))
    dense = {v: i + 1 for i, v in enumerate(distinct)}
    ix.max_rank = len(distinct)
    by_rank: list[Op | None] = [None] * (len(distinct) + 1)
    ev: list[int | None] = [None] * (len(distinct) + 1)
    rank_of: dict = {}  # value -> dense rank
    for val, v in value_ver.items():
        rk = rank_of[val] = dense[v]
        by_rank[rk] = ix._writer[val]
        ev[rk] = evidence_of(val).index
    ix._by_rank, ix._evidence = by_rank, ev
    rks = list(map(rank_of.get, good_fvs))
    if not bad_vals:
        rver.update((r.index, rk) for r, rk in zip(good_reads, rks) if rk is not None)
    else:
        corrupt_add = ix.corrupt.add
        for r, fv, rk in zip(good_reads, good_fvs, rks):
            if rk is None:
                if fv in bad_vals:
                    corrupt_add(r.index)
                continue
            rver[r.index] = rk
    wver = ix._wver
    # per write: its rank when it is its value's sole writer (C-level lookups first)
    wvals = ix._wvals
    ranked = [(w, rk) for w, fv, rk, sole in zip(ix.writes, wvals, map(rank_of.get, wvals),
                                                map(writer_get, wvals))
              if rk is not None and sole is w and fv is not None and w.type != "fail"]
    wver.update([(w.index, rk) for w, rk in ranked])
    if len(ranked) != len(ix.writes):
        done = {id(w) for w, _ in ranked}
        for w, fv in zip(ix.writes, wvals):
            if w.type == "ok" and fv is not None and id(w) not in done:
                ix.unverifiable_writes += 1
                if fv in bad_vals:
                    ix.corrupt.add(w.index)


def _native_versioned(ix: VersionIndex) -> bool:
    """`build_index` of a versioned key by the Rust core (native/src/registers.rs) when it
    takes the key's shape (plain reads and writes of int/str values, each written once,
    every read explained, one version per value and one value per version: where the
    Python build reports nothing and marks nothing corrupt); False: nothing changed."""
    build = registers_native.INDEX
    if build is None or type(ix.ops) is not list:
        return False
    got = build(ix.ops)
    if got is None:
        return False
    (ix.reads, ix.writes, ix._wvals, ix._writer, ix._rver, ix._wver, ix._by_rank,
     ix._evidence, ix.max_rank, ix.unverifiable_writes, facts) = got
    ix.native = registers_native.Facts(*facts)
    ix.has_cas = False
    return True


def _native_list(ix: VersionIndex) -> bool:
    """`build_index` of a list key by the Rust core (native/src/list_index.rs) when it
    takes the key's shape (plain reads and appends of exact ints, each appended once,
    every read a clean prefix of one growing list: where the Python build reports
    nothing and marks nothing corrupt); False: nothing changed."""
    from splitbrain.checkers import lists_native

    build = lists_native.INDEX
    if build is None or not _LIST_FAST or type(ix.ops) is not list:
        return False
    got = build(ix.ops)
    if got is None:
        return False
    (ix.reads, ix.writes, ix._wvals, ix._writer, ix._rver, ix._wver, ix._by_rank,
     ix._evidence, ix.order, ix.max_rank, ix.unverifiable_writes, facts) = got
    ix.native = lists_native.ListFacts(*facts)
    ix.has_cas = False
    return True


def _one_to_one(values: list, versions: list) -> bool:
    """One version per value and one value per version (no conflict, no mismatch)."""
    n_pairs = len(set(zip(values, versions)))
    return n_pairs == len(set(values)) == len(set(versions))


def _versioned_reads_fast(ix: VersionIndex, reads: list[Op], rver: dict):
    """(good reads, their frozen values) when every plain read (no snapshot, no cas)
    with a value has a non-failed sole writer invoked no later than the read completed,
    so no `audit.check` would run; ⊥ reads get version 0 in `rver` (read order, as the
    per-read loop does). None: some read needs the per-read loop (nothing written)."""
    vals = list(map(_VALUE, reads))
    simple = _SIMPLE_T
    fvs = vals if simple.issuperset(map(type, vals)) else [
        v if type(v) in simple else freeze(v) for v in vals]
    winv = {e: w.inv_index for e, w in ix._writer.items() if w.type != "fail"}
    keep = None
    if None in fvs:
        keep = [v is not None for v in fvs]
        good_reads = list(compress(reads, keep))
        fvs = list(compress(fvs, keep))
    else:
        good_reads = reads
    if any(map(gt, map(winv.get, fvs, repeat(_INF)), map(_RET, good_reads))):
        return None
    if keep is not None:
        for r, k in zip(reads, keep):
            if not k:
                rver[r.index] = 0
    return good_reads, fvs


_F, _VALUE, _VERSION, _RET, _INDEX = (
    attrgetter(a) for a in ("f", "value", "version", "ret_index", "index"))
_INF = float("inf")


# -- C: plain unique-value registers ---------------------------------------------------


def _build_plain(ix: VersionIndex) -> None:
    """Data-only partial order: ⊥ < v, ok cas(a, b) => a < b (§2.3-C)."""
    audit = _ValueAudit(ix)
    rver = ix._rver
    writer_get = ix._writer.get
    obs = ix._obs
    simple = _SIMPLE_T
    for r in ix.reads:
        i = r.index
        if r.f == "read" and i not in obs:
            v = r.value
        else:
            v = ix.observed(r)
        if v is None:
            rver[i] = BOTTOM
            continue
        fv = v if type(v) in simple else freeze(v)
        w = writer_get(fv)
        # fast path: the sole writer is not failed and was invoked before the read ended
        if w is not None and w.type != "fail" and not r.ret_index < w.inv_index:
            rver[i] = fv
        elif audit.check(r, fv):
            rver[i] = fv
        else:
            ix.corrupt.add(i)
    audit.flush()
    succ = ix._succ
    wver = ix._wver
    cas_edge_op: dict[tuple, Op] = {}
    # A value written more than once names several versions: an edge from or to it is
    # no order between versions (cas a->b then cas b->a is legal, issue 10 item 2).
    dups = _dup_values(ix)
    for w, fv in zip(ix.writes, ix._wvals):
        if fv is None or w.type == "fail":
            continue
        if writer_get(fv) is w:
            wver[w.index] = fv
        if w.f == "cas" and w.type == "ok" and w.index not in ix.corrupt:
            a = rver.get(w.index)
            if a is not None and a is not BOTTOM and a != fv and a not in dups \
                    and fv not in dups:
                succ.setdefault(a, []).append(fv)
                cas_edge_op[(a, fv)] = w
    if succ:
        _cyclic_versions(ix, cas_edge_op)


def _cyclic_versions(ix: VersionIndex, edge_op: dict) -> None:
    from splitbrain.checkers.cycles import shortest_cycle, strongly_connected

    for comp in strongly_connected(ix._succ):
        cyc = shortest_cycle(ix._succ, comp)
        if not cyc:
            continue
        ix._cyclic.update(comp)
        steps, ops = [], []
        for a, b in zip(cyc, cyc[1:] + cyc[:1]):
            o = edge_op[(a, b)]
            ops.append(o.index)
            steps.append(f"{a!r} < {b!r} because {o.describe()} replaced {a!r} by {b!r}")
        ix.anomalies.append(_anomaly(
            "cyclic-versions",
            f"the compare-and-set chain of {ix.key!r} is cyclic: " + "; ".join(steps),
            ops, ix.key, cycle=list(cyc)))
        for o in ix.writes:
            if ix._wver.get(o.index) in comp:
                ix.corrupt.add(o.index)
        for r in ix.reads:
            if ix._rver.get(r.index) in comp:
                ix.corrupt.add(r.index)
    for i in list(ix._wver):
        if ix._wver[i] in ix._cyclic:
            del ix._wver[i]
    for i in list(ix._rver):
        if ix._rver[i] in ix._cyclic:
            del ix._rver[i]
