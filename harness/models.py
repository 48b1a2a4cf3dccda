"""Data models: the one vocabulary of "what kind of data" that workloads, clients and
checkers share (Jepsen: "a client which can understand operations of the form …").

A workload declares its model and the ops it emits; a datastore client implements the
ops of a model — never a workload's name — so a new workload on an existing model needs no
datastore change; checkers are told the model's history shape.

    m = MODELS["register"]          # ops read / write / cas, history shape "register"
    spec = OpSpec("register", linearizable=True, namespace="cas-register")
    as_spec("list-append")          # OpSpec(model="list", ...) — history names also work

A new kind of data (a bank, a graph) is one entry here plus the checkers that judge its
history shape.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataModel:
    """One kind of data. `ops`: the `f`s a client of the model must understand;
    `history`: the shape name the checkers and `results.json["workload"]` use;
    `read`: what an ok read returns."""

    name: str
    ops: frozenset[str]
    history: str
    read: str


MODELS: dict[str, DataModel] = {m.name: m for m in (
    DataModel("register", frozenset({"read", "write", "cas"}), "register",
              "the current value (None before the first write)"),
    DataModel("list", frozenset({"read", "append"}), "list-append",
              "the whole list, in append order"),
    DataModel("set", frozenset({"read", "add"}), "set", "every element, sorted"),
    DataModel("counter", frozenset({"read", "add"}), "counter", "the count (0 when unset)"),
    # transactions: {"f": "txn", "value": [[f, key, value], ...]}; plain reads are the
    # final phase's (micro-ops r/append over lists, r/w over registers)
    DataModel("txn-list", frozenset({"txn", "read"}), "txn-list-append",
              "each micro-op's result: [r, k, list] for reads"),
    DataModel("txn-register", frozenset({"txn", "read"}), "txn-rw-register",
              "each micro-op's result: [r, k, value] for reads"),
    # queues and logs: send to a key (topic/stream), consumers assign, poll, drain
    DataModel("queue", frozenset({"send", "assign", "poll", "drain", "dequeue", "ack"}), "queue",
              "the messages polled, per key, in offset order"),
    # event propagation (outbox / dual write): a source write, its derived state read
    # back on any node, and the final check that the event queue has drained
    DataModel("propagation", frozenset({"write-source", "read-source", "read-derived",
                                        "queue-backlog", "read-dlq"}), "propagation",
              "the source or derived value (None when unset)"),
)}

# history shape name -> model (the checkers' names, also accepted wherever a model is)
BY_HISTORY = {m.history: m for m in MODELS.values()}


@dataclass(frozen=True)
class OpSpec:
    """What a client is asked to speak: a model, and what the workload requires of it.

    linearizable: writes (and reads) must be linearizable where the store can offer it
      (Cassandra: every op a lightweight transaction, reads SERIAL); stores that always
      are ignore it.
    namespace: the key prefix / table choice, so several workloads can share a cluster.
    """

    model: str
    linearizable: bool = False
    namespace: str | None = None

    @property
    def ops(self) -> frozenset[str]:
        return MODELS[self.model].ops

    @property
    def key_space(self) -> str:
        return self.namespace or MODELS[self.model].history


def model(name: str) -> DataModel:
    """The model called `name` (or whose history shape is `name`); KeyError otherwise."""
    if name in MODELS:
        return MODELS[name]
    return BY_HISTORY[name]


def as_spec(x: "OpSpec | str") -> OpSpec:
    """An OpSpec from an OpSpec, a model name or a history shape name (ValueError else)."""
    if isinstance(x, OpSpec):
        return x
    try:
        m = model(x)
    except (KeyError, TypeError):
        raise ValueError(f"no data model {x!r}; models: {', '.join(MODELS)}") from None
    return OpSpec(m.name, namespace=x if x != m.name else None)
