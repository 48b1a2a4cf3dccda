"""A validating client at the seam between the runner and a datastore (Jepsen's
`client/Validate`): a completion of the wrong shape is a clear error naming the client.

    client = ValidatingClient(db.client(node, spec, process), spec, name="redis n1")
    comp = client.invoke({"f": "read", "key": 3})

A client that breaks its contract (harness/dbs/base.py Client) — no dict, a `type` other
than ok/fail/info, a changed `f`, an ok read without a value, a read value of the wrong
shape for its model — would otherwise produce quietly odd histories. Such a completion is
recorded as `info` (the op's effect is unknown) with an error saying which client broke
which rule, and logged once per client.
"""

from __future__ import annotations

import logging
from typing import Any

from splitbrain.harness.models import OpSpec

log = logging.getLogger("splitbrain")

# What an ok read returns, per model (harness/models.py).
_READ_TYPES: dict[str, tuple[type, ...]] = {
    "list": (list,),
    "set": (list,),
    "counter": (int,),
}


def contract_violation(op: dict, comp: Any, spec: OpSpec | None) -> str | None:
    """Why `comp` is not a valid completion of `op` for `spec` (None when it is)."""
    if not isinstance(comp, dict):
        return f"returned {type(comp).__name__}, not a completion dict"
    typ = comp.get("type")
    if typ not in ("ok", "fail", "info"):
        return f"completion type {typ!r} (must be ok, fail or info)"
    if "f" in comp and comp["f"] != op.get("f"):
        return f"completion f {comp['f']!r} for an op with f {op.get('f')!r}"
    if typ == "ok" and op.get("f") == "read":
        if "value" not in comp:
            return "an ok read without a value"
        want = _READ_TYPES.get(spec.model) if spec is not None else None
        v = comp["value"]
        if want and (not isinstance(v, want) or isinstance(v, bool)):
            return (f"an ok {spec.model} read returned {type(v).__name__} "
                    f"(expected {' or '.join(t.__name__ for t in want)})")
    return None


class ValidatingClient:
    """Wraps a Client; see the module docstring. Never raises for a bad completion."""

    def __init__(self, client, spec: OpSpec | None, *, name: str):
        self.client = client
        self.spec = spec
        self.name = name
        self._warned = False

    def invoke(self, op: dict) -> dict:
        comp = self.client.invoke(op)
        why = contract_violation(op, comp, self.spec)
        if why is None:
            return comp
        msg = f"client {type(self.client).__name__} ({self.name}) broke its contract: {why}"
        if not self._warned:
            log.error("%s", msg)
            self._warned = True
        return {"type": "info", "error": msg}

    def close(self) -> None:
        self.client.close()
