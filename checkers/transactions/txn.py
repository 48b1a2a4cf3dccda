"""Transactions as the checker sees them (transactions.md §1): the ok + info txns that are
graph vertices, the fail txns that are not, and the micro-op vocabulary.

Obligations: a txn op has `f == "txn"` and a tuple of `(f, key, value)` micro-ops with `f`
in r / append / w; a plain single-key op (`read`/`append`/`write`, e.g. a Jepsen history
whose every txn had one micro-op) is taken as a one-mop txn; info and pending txns carry no
reads (D1: their reads are forced to None here too, whatever the file said); anything
malformed raises `Precondition` (the checker answers unknown, never false).
"""

from __future__ import annotations

from typing import Any

_PLAIN = {"read": "r", "r": "r", "append": "append", "write": "w", "w": "w"}
_MOP_F = {"r": "r", "read": "r", "append": "append", "w": "w", "write": "w"}


class Precondition(Exception):
    """The history cannot be checked (unknown, with a reason)."""

    def __init__(self, reason: str, message: str, ops: list[int] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.ops = ops or []


def fmt_list(x: Any) -> str:
    if x is None:
        return "[]"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(map(str, x)) + "]"
    return str(x)


def fmt_mop(m: tuple) -> tuple:
    f, k, v = m
    return (f, k, list(v) if isinstance(v, tuple) else v)


def _bad_scalar(x: Any) -> bool:
    return isinstance(x, (bool, float)) or not isinstance(x, (int, str))


class Txns:
    """`vertices`: ok + info txn ops (as Ops whose value is a mop tuple), in history order;
    `ok[v]` 1 for ok vertices; `fails`: fail txns; `kinds`: the mop f's seen."""

    def __init__(self, history):
        self.vertices: list = []
        self.fails: list = []
        kinds: set = set()
        ok = bytearray()
        keys: set = set()
        vtypes: set = set()
        kinds_add, keys_add, vt_add = kinds.add, keys.add, vtypes.add
        vertices_append, fails_append, ok_append = (self.vertices.append, self.fails.append,
                                                    ok.append)
        for op in history.ops:
            v = op.value
            if op.f == "txn" and type(v) is tuple:
                mops = v  # harness.history normalised it (transactions.md §1.3)
            else:
                mops = self._mops(op)
                if mops is None:
                    continue
                op = op._replace(value=mops)
            for f, k, x in mops:
                kinds_add(f)
                keys_add(k)
                if f != "r":
                    vt_add(type(x))
            typ = op.type
            if typ == "ok":
                vertices_append(op)
                ok_append(1)
            elif typ == "fail":
                fails_append(op)
            else:
                if any(f == "r" and x is not None for f, _, x in mops):  # D1
                    op = op._replace(value=tuple((f, k, None if f == "r" else x)
                                                 for f, k, x in mops))
                vertices_append(op)
                ok_append(0)
        self.kinds = kinds
        self.ok = ok
        self._validate(history, keys, vtypes)

    def _validate(self, history, keys: set, vtypes: set) -> None:
        """P-T5: keys are str or int (never both spellings of one), values int or str."""
        bad_k = {k for k in keys if type(k) not in (int, str, tuple)}
        if len({str(k) for k in keys}) != len(keys) or bad_k or not vtypes <= {int, str}:
            for op in self.vertices + self.fails:
                for f, k, x in op.value:
                    if k in bad_k:
                        raise Precondition("bad-key", f"op {op.index}: key {k!r} must be a "
                                           "string or an integer", [op.index])
                    if f != "r" and _bad_scalar(x):
                        raise Precondition("bad-value", f"op {op.index}: {f} value {x!r} must "
                                           "be an integer or a string", [op.index])
            seen: dict = {}
            for op in self.vertices + self.fails:
                for f, k, x in op.value:
                    prev = seen.setdefault(str(k), (type(k), op.index))
                    if prev[0] is not type(k):
                        raise Precondition("mixed-key-types", f"op {op.index}: key {k!r} is "
                                           f"spelled both as an integer and as a string (op "
                                           f"{prev[1]})", [prev[1], op.index])

    @staticmethod
    def _mops(op) -> tuple | None:
        if op.f == "txn":
            v = op.value
            if v is None:
                return ()
            out = []
            for m in v:
                if not isinstance(m, (list, tuple)) or len(m) not in (2, 3):
                    raise Precondition("bad-micro-op", f"op {op.index}: micro-op {m!r} is not "
                                       "[f, key, value]", [op.index])
                f = _MOP_F.get(m[0])
                if f is None:
                    raise Precondition("unexpected-txn-micro-op-types",
                                       f"op {op.index}: unknown micro-op {m[0]!r}", [op.index])
                x = m[2] if len(m) == 3 else None
                if f == "r" and isinstance(x, list):
                    x = tuple(x)
                out.append((f, _key(m[1]), x))
            t = tuple(out)
            return v if t == v and type(v) is tuple else t
        f = _PLAIN.get(op.f)
        if f is None or op.key is None:
            return None
        x = op.value
        if f == "r" and isinstance(x, list):
            x = tuple(x)
        return ((f, op.key, x),)


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k
