"""Models for the linearizability checker: vocabulary, selection, encoding, steps.

linearizability.md §2–§3. A model turns a partition's ops into *encoded ops* the engines
search over and gives the sequential step function. Obligations:

* every op is classified exactly once: required (ok, observed cas mismatch), optional
  (info / never completed) or dropped (fail, info reads and info observers, final reads),
  and the cause of each drop is counted;
* an `f` outside the model's vocabulary is an InputError naming the op (exit 254);
* the register family (register, cas-register, mutex) encodes to small integers
  `(code, a, b)` that the Rust core understands; every other model keeps hashable Python
  states and is searched by the Python engine;
* `step(state, payload)` returns the next state or None (illegal); an observer's step
  never changes the state (§3.1) — that is a static property of the payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Callable

from splitbrain.harness.errors import InputError
from splitbrain.harness.history import INF, Op, freeze

# Register-family op codes (shared with native/src/lib.rs; keep in sync).
WRITE, READ, CAS, CAS_INFO, MISMATCH = 0, 1, 2, 3, 4
ABSENT = 0  # value id of ⊥ (absent / nil / free mutex)
ANY = 1  # read argument "unconstrained" (Knossos' nil read)
HELD = 2  # mutex: the lock is held (ids >= 2 are values otherwise)

NIL_READS = ("absent", "unconstrained")
CAS_FAILS = ("observe-mismatch", "drop", "observe-all")
PROFILES = {
    "splitbrain": {"nil_read": "absent", "cas_fail": "observe-mismatch"},
    "knossos": {"nil_read": "unconstrained", "cas_fail": "drop"},
    "porcupine-etcd": {"nil_read": "absent", "cas_fail": "observe-all"},
}


@dataclass
class Partition:
    """One independently checked sub-history (§3.3), ops numbered by rank (§4.2).

    Ranks 0..R-1 are the required ops in completion order, R.. the optional ones in
    invocation order. `inv`/`ret` are history event indices (`ret` INF for optional).
    """

    key: Any
    ops: list[Op] = field(default_factory=list)
    inv: list[int] = field(default_factory=list)
    ret: list[float] = field(default_factory=list)
    payload: list[Any] = field(default_factory=list)
    observer: list[bool] = field(default_factory=list)
    required: int = 0
    initial: Any = None
    values: list[Any] = field(default_factory=list)  # register family: id -> value
    crashed: int = 0
    has_mismatch: bool = False

    def __len__(self) -> int:
        return len(self.ops)


class Model:
    """Base class: `fs` is the vocabulary; subclasses implement the rest."""

    name = "?"
    fs: tuple[str, ...] = ()
    native = False  # the Rust core can search it

    def __init__(self, nil_read: str = "absent", cas_fail: str = "observe-mismatch",
                 initial: Any = None, has_initial: bool = False):
        self.nil_read = nil_read
        self.cas_fail = cas_fail
        self.initial_value = initial
        self.has_initial = has_initial

    # -- selection ----------------------------------------------------------------------
    def role(self, op: Op) -> str:
        """'required' | 'optional' | a drop cause ('fail', 'info_read', 'final')."""
        if op.f not in self.fs:
            raise InputError(
                f"op {op.index} ({op.f!r}) is not an operation of the {self.name} model "
                f"(allowed: {', '.join(self.fs)}); choose another with --lin-model")
        if op.final:
            return "final"
        if op.type == "ok":
            return "required"
        if op.type == "fail":
            return "fail"
        return "optional"

    def partition_keys(self, op: Op) -> list:
        return [op.key]

    # -- encoding and steps ---------------------------------------------------------------
    def start(self, part: Partition) -> None:
        """Per-partition setup before ops are encoded (interning tables...)."""

    def encode(self, part: Partition, op: Op, role: str) -> tuple[Any, bool] | None:
        """(payload, observer) for the engine; None drops the op (an info observer)."""
        raise NotImplementedError

    def initial(self, part: Partition) -> Any:
        raise NotImplementedError

    step: Callable[[Any, Any], Any]

    def describe_state(self, part: Partition, state: Any) -> str:
        return repr(state)

    def why_illegal(self, part: Partition, state: Any, payload: Any) -> str:
        return f"illegal in state {self.describe_state(part, state)}"


def _is_nil(v: Any) -> bool:
    return v is None


# ---------------------------------------------------------------------------------------
# Register family


def reg_step(s: int, p: tuple) -> int | None:
    """The register-family step on value ids (same as the Rust `step`)."""
    c, a, b = p
    if c == WRITE:
        return a
    if c == READ:
        return s if (a == s or a == ANY) else None
    if c == CAS:
        return b if s == a else None
    if c == CAS_INFO:
        return b if s == a else s
    # MISMATCH: the cas found something other than its expected value
    return s if s != a else None


class CasRegister(Model):
    name = "cas-register"
    fs = ("read", "write", "cas")
    native = True
    step = staticmethod(reg_step)

    def start(self, part: Partition) -> None:
        part.values = [None, "<any>"]
        part._ids = {}  # type: ignore[attr-defined]

    def vid(self, part: Partition, v: Any) -> int:
        if v is None:
            return ABSENT
        fv = freeze(v)
        ids = part._ids  # type: ignore[attr-defined]
        i = ids.get(fv)
        if i is None:
            i = ids[fv] = len(part.values)
            part.values.append(v)
        return i

    def role(self, op: Op) -> str:
        r = super().role(op)
        if r == "fail" and op.f == "cas":
            if op.extra and "observed" in op.extra and self.cas_fail != "drop":
                return "required"
            if self.cas_fail == "observe-all" or (
                    self.cas_fail == "observe-mismatch" and op.error == "cas-mismatch"):
                return "required"
        if r == "optional" and op.f == "read":
            return "info_read"
        return r

    def _cas_args(self, op: Op) -> tuple[Any, Any]:
        v = op.value
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            raise InputError(f"op {op.index}: cas value must be [expected, new], got {v!r}")
        return v[0], v[1]

    def encode(self, part: Partition, op: Op, role: str):
        f = op.f
        if f == "write":
            return (WRITE, self.vid(part, op.value), 0), False
        if f == "read":
            v = op.value
            if v is None and self.nil_read == "unconstrained":
                return (READ, ANY, 0), True
            return (READ, self.vid(part, v), 0), True
        e, n = self._cas_args(op)
        if op.type == "fail":
            part.has_mismatch = True
            if op.extra and "observed" in op.extra:
                obs = op.extra["observed"]
                if freeze(obs) == freeze(e):
                    raise InputError(f"op {op.index}: a failed cas cannot observe its "
                                     f"expected value {e!r}")
                return (READ, self.vid(part, obs), 0), True
            return (MISMATCH, self.vid(part, e), 0), True
        code = CAS if role == "required" else CAS_INFO
        return (code, self.vid(part, e), self.vid(part, n)), False

    def initial(self, part: Partition) -> int:
        return self.vid(part, self.initial_value)

    def describe_value(self, part: Partition, vid: int) -> str:
        if vid == ABSENT:
            return "absent"
        return _fmt(part.values[vid])

    def describe_state(self, part: Partition, state: int) -> str:
        return self.describe_value(part, state)

    def describe_payload(self, part: Partition, p: tuple) -> str:
        c, a, b = p
        dv = lambda i: self.describe_value(part, i)  # noqa: E731
        if c == WRITE:
            return f"write {dv(a)}"
        if c == READ:
            return "read (any)" if a == ANY else f"read {dv(a)}"
        if c in (CAS, CAS_INFO):
            return f"cas [{dv(a)}→{dv(b)}]"
        return f"cas expecting {dv(a)} rejected"

    def why_illegal(self, part: Partition, state: int, p: tuple) -> str:
        c, a, _ = p
        here = self.describe_value(part, state)
        if c == READ:
            return f"read {self.describe_value(part, a)}, the register " + ("is absent" if state == ABSENT else f"holds {here}")
        if c == CAS:
            return f"cas expects {self.describe_value(part, a)}, the register holds {here}"
        if c == MISMATCH:
            return f"rejected as a mismatch, but the register holds its expected value {here}"
        return f"illegal with the register at {here}"


class Register(CasRegister):
    name = "register"
    fs = ("read", "write")


class Mutex(CasRegister):
    """Ownerless lock (Knossos' mutex): acquire legal iff free, release iff held."""

    name = "mutex"
    fs = ("acquire", "release")

    def start(self, part: Partition) -> None:
        part.values = [None, "<any>", "held"]

    def role(self, op: Op) -> str:
        return Model.role(self, op)

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "acquire":
            return (CAS, ABSENT, HELD), False
        return (CAS, HELD, ABSENT), False

    def initial(self, part: Partition) -> int:
        return HELD if self.initial_value in ("held", True) else ABSENT

    def describe_value(self, part: Partition, vid: int) -> str:
        return "held" if vid == HELD else "free"

    def describe_payload(self, part: Partition, p: tuple) -> str:
        return "acquire" if p[1] == ABSENT else "release"

    def why_illegal(self, part: Partition, state: int, p: tuple) -> str:
        return ("acquire while the lock is held" if p[1] == ABSENT
                else "release while the lock is free")


# ---------------------------------------------------------------------------------------
# Multi-register: transactions of reads and writes across keys (Python engine)

_MR = {"r": "r", "read": "r", "w": "w", "write": "w"}


class _Unset:
    """A register's value once known to be absent, in a state whose missing keys mean
    "initial value not known yet" (MultiRegister.unknown_initial)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"

    def __reduce__(self):
        return "ABSENT_KNOWN"


ABSENT_KNOWN = _Unset()


class MultiRegister(Model):
    """State: tuple of (key, value) pairs sorted by key (missing = absent).

    `unknown_initial` (set by the checker when the history does not give the initial
    state): a key missing from the state has an initial value not yet observed; the
    first read of it fixes it (ABSENT_KNOWN for a nil read). A history that fails under
    this model fails from every initial state; one that passes passes from *some*
    initial state, which the checker must not report as valid on its own."""

    name = "multi-register"
    fs = ("txn", "read", "write")
    unknown_initial = False

    def _mops(self, op: Op) -> list[tuple[str, Any, Any]]:
        if op.f != "txn":
            return [(_MR[op.f], op.key, op.value)]
        out = []
        for m in op.value or ():
            if not (isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in _MR):
                raise InputError(f"op {op.index}: txn micro-op must be [r|w, key, value], "
                                 f"got {m!r}")
            out.append((_MR[m[0]], freeze(m[1]), m[2]))
        return out

    def role(self, op: Op) -> str:
        r = super().role(op)
        if r == "optional" and all(m[0] == "r" for m in self._mops(op)):
            return "info_read"
        return r

    def partition_keys(self, op: Op) -> list:
        return sorted({m[1] for m in self._mops(op)}, key=repr)

    def encode(self, part: Partition, op: Op, role: str):
        mops = []
        for f, k, v in self._mops(op):
            if f == "r":
                if role != "required":
                    continue  # an info txn's reads are placeholders
                if v is None and self.nil_read == "unconstrained":
                    continue
                mops.append(("r", k, freeze(v)))
            else:
                mops.append(("w", k, freeze(v)))
        # with an unknown initial state a read may fix a register's value: not an observer
        observer = all(m[0] == "r" for m in mops) and not (
            self.unknown_initial and role == "required" and mops)
        return tuple(mops), observer

    def initial(self, part: Partition) -> Any:
        init = self.initial_value
        if init is None:
            return ()
        if not isinstance(init, dict):
            raise InputError(f"--lin-initial for multi-register must be a JSON object, "
                             f"got {init!r}")
        return tuple(sorted(((freeze(k), freeze(v)) for k, v in init.items()
                             if v is not None), key=repr))

    def set_unknown_initial(self) -> None:
        self.unknown_initial = True
        self.step = self.lazy_step  # type: ignore[method-assign]

    @staticmethod
    def lazy_step(s: Any, p: Any) -> Any:
        """`step` with unknown initial values: a key missing from `s` takes the value
        its first read sees; a nil write / nil read makes it ABSENT_KNOWN."""
        d = dict(s)
        changed = False
        for f, k, v in p:
            if f == "r":
                want = ABSENT_KNOWN if v is None else v
                have = d.get(k)
                if have is None:
                    d[k] = want
                    changed = True
                elif have != want:
                    return None
            else:
                d[k] = ABSENT_KNOWN if v is None else v
                changed = True
        if not changed:
            return s
        return tuple(sorted(d.items(), key=repr))

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        d = dict(s)
        changed = False
        for f, k, v in p:
            if f == "r":
                if d.get(k) != v:
                    return None
            else:
                if v is None:
                    d.pop(k, None)
                else:
                    d[k] = v
                changed = True
        if not changed:
            return s
        return tuple(sorted(d.items(), key=repr))

    def describe_state(self, part: Partition, state: Any) -> str:
        body = ", ".join(f"{k}={_fmt(None if v is ABSENT_KNOWN else v)}" for k, v in state)
        if self.unknown_initial:
            return "{" + body + (", others not yet read}" if body else "nothing read yet}")
        return "{" + body + "}" if state else "{}"

    def describe_payload(self, part: Partition, p: Any) -> str:
        return "txn [" + ", ".join(f"{f} {k} {_fmt(v)}" for f, k, v in p) + "]"

    def why_illegal(self, part: Partition, state: Any, p: Any) -> str:
        d = dict(state)
        for f, k, v in p:
            if f == "r":
                want = v
                if self.unknown_initial:
                    want = ABSENT_KNOWN if v is None else v
                    if k not in d:
                        d[k] = want
                        continue
                if d.get(k) != want:
                    return f"read {k}={_fmt(v)}, the registers hold {self.describe_state(part, state)}"
            if f == "w":
                d[k] = (ABSENT_KNOWN if v is None else v) if self.unknown_initial else v
        return "illegal"


# ---------------------------------------------------------------------------------------
# Collections and counters (Python engine)


class SetModel(Model):
    name = "set"
    fs = ("add", "read")

    def role(self, op: Op) -> str:
        r = super().role(op)
        return "info_read" if r == "optional" and op.f == "read" else r

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "add":
            return ("add", freeze(op.value)), False
        xs = op.value if isinstance(op.value, (list, tuple)) else []
        fx = [freeze(x) for x in xs]
        # a read with duplicates can never match a set: keep it as an impossible read
        return ("read", frozenset(fx) if len(set(fx)) == len(fx) else None), True

    def initial(self, part: Partition) -> Any:
        return frozenset(freeze(x) for x in (self.initial_value or ()))

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        if p[0] == "add":
            return s | {p[1]}
        return s if p[1] == s else None

    def describe_state(self, part: Partition, state: Any) -> str:
        return "{" + ", ".join(sorted(map(_fmt, state))) + "}"

    def describe_payload(self, part: Partition, p: Any) -> str:
        if p[0] == "add":
            return f"add {_fmt(p[1])}"
        return "read " + ("(duplicates)" if p[1] is None else self.describe_state(part, p[1]))


class ListAppend(Model):
    name = "list-append"
    fs = ("append", "read")

    def role(self, op: Op) -> str:
        r = super().role(op)
        return "info_read" if r == "optional" and op.f == "read" else r

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "append":
            return ("append", freeze(op.value)), False
        v = op.value if op.value is not None else []
        return ("read", tuple(freeze(x) for x in v)), True

    def initial(self, part: Partition) -> Any:
        return tuple(freeze(x) for x in (self.initial_value or ()))

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        if p[0] == "append":
            return s + (p[1],)
        return s if p[1] == s else None

    def describe_state(self, part: Partition, state: Any) -> str:
        return "[" + ", ".join(map(_fmt, state)) + "]"

    def describe_payload(self, part: Partition, p: Any) -> str:
        return f"append {_fmt(p[1])}" if p[0] == "append" else "read " + self.describe_state(part, p[1])


class Counter(Model):
    name = "counter"
    fs = ("add", "incr", "read")

    def role(self, op: Op) -> str:
        r = super().role(op)
        return "info_read" if r == "optional" and op.f == "read" else r

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "read":
            return ("read", op.value), True
        d = 1 if op.value is None and op.f == "incr" else op.value
        if not isinstance(d, int) or isinstance(d, bool):
            raise InputError(f"op {op.index}: counter {op.f} needs an integer, got {op.value!r}")
        return ("add", d), d == 0

    def initial(self, part: Partition) -> Any:
        return self.initial_value or 0

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        if p[0] == "add":
            return s + p[1]
        return s if p[1] == s else None

    def describe_payload(self, part: Partition, p: Any) -> str:
        return f"add {p[1]}" if p[0] == "add" else f"read {p[1]}"


class FifoQueue(Model):
    name = "fifo-queue"
    fs = ("enqueue", "dequeue")

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "enqueue":
            return ("enq", freeze(op.value)), False
        if role != "required":
            return ("deq?", None), False
        if op.value is None:
            return ("empty", None), True
        return ("deq", freeze(op.value)), False

    def initial(self, part: Partition) -> Any:
        return tuple(freeze(x) for x in (self.initial_value or ()))

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        c = p[0]
        if c == "enq":
            return s + (p[1],)
        if c == "deq":
            return s[1:] if s and s[0] == p[1] else None
        if c == "empty":
            return s if not s else None
        return s[1:] if s else s  # info dequeue: removes the head if there is one

    def describe_state(self, part: Partition, state: Any) -> str:
        return "[" + ", ".join(map(_fmt, state)) + "]"

    def describe_payload(self, part: Partition, p: Any) -> str:
        return {"enq": f"enqueue {_fmt(p[1])}", "deq": f"dequeue {_fmt(p[1])}",
                "empty": "dequeue (empty)", "deq?": "dequeue (unknown)"}[p[0]]


class UnorderedQueue(FifoQueue):
    """Multiset. An info dequeue removes an unknown element; it is dropped ("never
    happened" is always one of its outcomes, and extra elements never make a dequeue
    illegal). Only an empty observation could need it to have happened, so a partition
    that fails with both is reported unknown by check() (`part.approx`)."""

    name = "unordered-queue"

    def encode(self, part: Partition, op: Op, role: str):
        if op.f == "dequeue" and role != "required":
            part.approx = True  # type: ignore[attr-defined]
            return None
        return super().encode(part, op, role)

    def initial(self, part: Partition) -> Any:
        return tuple(sorted((freeze(x) for x in (self.initial_value or ())), key=repr))

    @staticmethod
    def step(s: Any, p: Any) -> Any:
        c = p[0]
        if c == "enq":
            return tuple(sorted(s + (p[1],), key=repr))
        if c == "deq":
            if p[1] not in s:
                return None
            lst = list(s)
            lst.remove(p[1])
            return tuple(lst)
        return s if not s else None  # empty observation


MODELS: dict[str, type[Model]] = {
    "register": Register,
    "cas-register": CasRegister,
    "multi-register": MultiRegister,
    "mutex": Mutex,
    "set": SetModel,
    "list-append": ListAppend,
    "counter": Counter,
    "fifo-queue": FifoQueue,
    "unordered-queue": UnorderedQueue,
}


def _fmt(v: Any) -> str:
    if v is None:
        return "absent"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(_fmt, v)) + "]"
    if isinstance(v, str):
        return v
    return repr(v)


def build_partitions(ops: list[Op], model: Model) -> tuple[list[Partition], dict[str, int]]:
    """Select, drop and partition (§2.2, §3.3); partitions ordered by first invocation."""
    if type(model) in (CasRegister, Register):
        return _register_partitions(ops, model)
    dropped = {"fail": 0, "info_read": 0, "final": 0}
    groups: dict[Any, list[tuple[Op, str]]] = {}
    multi = isinstance(model, MultiRegister)
    parent: dict[Any, Any] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    selected: list[tuple[Op, str, Any]] = []
    for op in ops:
        role = model.role(op)
        if role not in ("required", "optional"):
            dropped[role] = dropped.get(role, 0) + 1
            continue
        if multi:
            keys = model.partition_keys(op)
            if not keys:
                dropped["info_read"] += 1
                continue
            r0 = find(keys[0])
            for k in keys[1:]:
                rk = find(k)
                if rk != r0:
                    parent[rk] = r0
            selected.append((op, role, keys[0]))
        else:
            g = groups.get(op.key)
            if g is None:
                g = groups[op.key] = []
            g.append((op, role))
    if multi:
        members: dict[Any, list] = {}
        for k in list(parent):
            members.setdefault(find(k), []).append(k)
        for op, role, k0 in selected:
            groups.setdefault(find(k0), []).append((op, role))
        named = {}
        for root, g in groups.items():
            ks = sorted(members.get(root, [root]), key=repr)
            named[ks[0] if len(ks) == 1 else tuple(ks)] = g
        groups = named
    parts = []
    for key, g in groups.items():
        part = encode_partition(key, g, model, dropped)
        if part is not None:
            parts.append(part)
    parts.sort(key=lambda p: min(p.inv))
    return parts, dropped


def encode_partition(key: Any, g: list[tuple[Op, str]], model: Model,
                     dropped: dict[str, int]) -> Partition | None:
    part = Partition(key=key)
    model.start(part)
    req: list[tuple[float, Op, Any, bool]] = []
    opt: list[tuple[float, Op, Any, bool]] = []
    for op, role in g:
        enc = model.encode(part, op, role)
        if enc is None:
            dropped["info_read"] = dropped.get("info_read", 0) + 1
            continue
        payload, observer = enc
        if role == "required":
            ret = op.ret_index
            if ret == INF:  # a required op must have a completion
                ret = op.index
            req.append((ret, op, payload, observer))
        else:
            if observer:  # an info observer constrains nothing (§2.2)
                dropped["info_read"] = dropped.get("info_read", 0) + 1
                continue
            opt.append((op.inv_index, op, payload, observer))
    if not req and not opt:
        return None
    req.sort(key=lambda t: t[0])
    opt.sort(key=lambda t: t[0])
    for ret, op, payload, observer in req:
        part.ops.append(op)
        part.inv.append(op.inv_index)
        part.ret.append(ret)
        part.payload.append(payload)
        part.observer.append(observer)
    part.required = len(req)
    for _, op, payload, observer in opt:
        part.ops.append(op)
        part.inv.append(op.inv_index)
        part.ret.append(INF)
        part.payload.append(payload)
        part.observer.append(observer)
    part.crashed = len(opt)
    part.initial = model.initial(part)
    return part


def _register_partitions(ops: list[Op], model: CasRegister) -> tuple[list[Partition], dict[str, int]]:
    """The register fast path: the same selection and encoding as `Model.role` +
    `CasRegister.encode` in one loop (a 1,000,000-op history has no time for a method
    call per op); value ids are shared by all partitions."""
    fs = frozenset(model.fs)
    nil_any = model.nil_read == "unconstrained"
    cas_fail = model.cas_fail
    ids: dict = {}
    values: list = [None, "<any>"]
    dropped = {"fail": 0, "info_read": 0, "final": 0}
    groups: dict[Any, tuple[list, list]] = {}
    atoms = (int, str)

    def vid(v: Any) -> int:
        if v is None:
            return ABSENT
        fv = v if type(v) in atoms else freeze(v)
        i = ids.get(fv)
        if i is None:
            i = ids[fv] = len(values)
            values.append(v)
        return i

    for op in ops:
        f = op.f
        if f not in fs:
            model.role(op)  # raises the InputError naming the op
        if op.final:
            dropped["final"] += 1
            continue
        typ = op.type
        if typ == "ok":
            req = True
        elif typ == "fail":
            if f == "cas" and cas_fail != "drop" and (
                    cas_fail == "observe-all" or op.error == "cas-mismatch"
                    or (op.extra and "observed" in op.extra)):
                req = True
            else:
                dropped["fail"] += 1
                continue
        else:
            if f == "read":
                dropped["info_read"] += 1
                continue
            req = False
        if f == "read":
            v = op.value
            enc = (READ, ANY if (v is None and nil_any) else vid(v), 0)
            obs = True
        elif f == "write":
            enc = (WRITE, vid(op.value), 0)
            obs = False
        else:
            e, n = model._cas_args(op)
            if typ == "fail":
                if op.extra and "observed" in op.extra:
                    ob = op.extra["observed"]
                    if freeze(ob) == freeze(e):
                        raise InputError(f"op {op.index}: a failed cas cannot observe its "
                                         f"expected value {e!r}")
                    enc = (READ, vid(ob), 0)
                else:
                    enc = (MISMATCH, vid(e), 0)
                obs = True
            else:
                enc = (CAS if req else CAS_INFO, vid(e), vid(n))
                obs = False
        g = groups.get(op.key)
        if g is None:
            g = groups[op.key] = ([], [])
        if req:
            ret = op.ret_index
            g[0].append((op.index if ret == INF else ret, op, enc, obs))
        else:
            g[1].append((op.inv_index, op, enc, obs))
    init = vid(model.initial_value)
    parts = []
    first = itemgetter(0)
    for key, (req_l, opt_l) in groups.items():
        req_l.sort(key=first)
        opt_l.sort(key=first)
        part = Partition(key=key)
        part.values = values
        allv = req_l + opt_l
        part.ops = [t[1] for t in allv]
        part.inv = [o.inv_index for o in part.ops]
        part.ret = [t[0] for t in req_l] + [INF] * len(opt_l)
        part.payload = [t[2] for t in allv]
        part.observer = [t[3] for t in allv]
        part.required = len(req_l)
        part.crashed = len(opt_l)
        part.has_mismatch = any(t[2][0] == MISMATCH for t in req_l)
        part.initial = init
        parts.append(part)
    parts.sort(key=lambda p: min(p.inv))
    return parts, dropped
