"""Hostile inputs for `splitbrain check`: histories mutated, truncated, deep, huge,
non-UTF-8 and of wrong types, in JSONL and EDN. Seeded, so a failing case is replayable:
`cases(n, seed)` yields (name, file name, bytes, extra argv).

Used by tests/fuzz/test_fuzz_check.py (smoke size) and bench/fuzz.py (larger)."""

from __future__ import annotations

import json
import random
from typing import Iterator

from tests.checkers.sim import STORES, simulate
from tests.checkers.sim import WORKLOADS as SIM_WORKLOADS

WORKLOADS = ("register", "list-append", "set", "counter")


def _deep_json(n: int, leaf: str = "1") -> str:
    return "[" * n + leaf + "]" * n


HOSTILE_JSON = [  # raw JSON texts substituted for a field's value
    "null", "true", "false", "0", "-1", "1.5", "1e308", "-0.0", str(2 ** 70), '""',
    json.dumps("x" * 5000), json.dumps("\u0000\u2028é"), "[]", "{}", "[[[]]]",
    '{"a": [1, {"b": 2}]}', '[1, "a", null, 2.5, true]', '{"1": 1, "2": [2]}',
    _deep_json(40), _deep_json(1000), '{"a":' * 600 + "1" + "}" * 600,
    json.dumps(list(range(3000))), '[{"k": 1}]', '["r", "x", 1]', '[["r", "x", null]]',
]
FIELDS = ["index", "process", "type", "f", "key", "value", "time", "node", "version",
          "error", "final", "op_id", "extra"]


def _events(rng: random.Random, size: int) -> tuple[str, list[dict]]:
    w = rng.choice(SIM_WORKLOADS)
    run = simulate(w, rng.choice(STORES), seed=rng.randrange(10 ** 6),
                   processes=rng.randint(1, 4), keys=rng.randint(1, 3),
                   ops=rng.randint(5, size), nodes=rng.randint(1, 4),
                   versions=rng.random() < 0.3, final_reads=rng.random() < 0.7)
    return w, [dict(e) for e in run.events]


def _jsonl(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def _set_raw(line: str, field: str, raw: str) -> str:
    """Put raw JSON text as `field` of one JSONL line (without parsing the deep value)."""
    ev = json.loads(line)
    ev[field] = "@@RAW@@"
    return json.dumps(ev).replace('"@@RAW@@"', raw, 1)


def _edn_atom(v) -> str:
    if v is None:
        return "nil"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return ":" + v if v.replace("-", "").isalnum() and not v[0].isdigit() else json.dumps(v)
    if isinstance(v, list):
        return "[" + " ".join(_edn_atom(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + " ".join(f"{_edn_atom(k)} {_edn_atom(x)}" for k, x in v.items()) + "}"
    return json.dumps(v)


def _edn(events: list[dict]) -> bytes:
    out = []
    for e in events:
        out.append("{" + ", ".join(f":{k} {_edn_atom(v)}" for k, v in e.items()) + "}")
    return ("[" + "\n ".join(out) + "]\n").encode()


def _mutate_events(rng: random.Random, events: list[dict]) -> tuple[str, list[dict]]:
    events = [dict(e) for e in events]
    kind = rng.choice(["drop", "dup", "swap", "delfield", "type", "extra", "readtype",
                       "keytype", "none"])
    if not events:
        return "empty", events
    i = rng.randrange(len(events))
    if kind == "drop":
        del events[i]
    elif kind == "dup":
        events.insert(i, dict(events[i]))
    elif kind == "swap":
        j = rng.randrange(len(events))
        events[i], events[j] = events[j], events[i]
    elif kind == "delfield":
        events[i].pop(rng.choice(list(events[i])), None)
    elif kind == "type":
        events[i]["type"] = rng.choice(["ok", "fail", "info", "invoke", "begin", ""])
    elif kind == "extra":
        events[i][rng.choice(["trace", "op_id", "final", "node"])] = rng.choice(
            [1, "a", None, True, [1], {"x": 1}])
    elif kind == "readtype":
        reads = [e for e in events if e.get("f") == "read" and e.get("type") == "ok"] or events
        rng.choice(reads)["value"] = rng.choice([{"a": 1}, "str", 1.5, [1, [2]], True,
                                                 [None], -5, {"1": [1, 2]}])
    elif kind == "keytype":
        events[i]["key"] = rng.choice([1.5, True, [1, 2], None, "", "k" * 300])
    return kind, events


def cases(n: int, seed: int = 0, size: int = 60) -> Iterator[tuple[str, str, bytes, list]]:
    """`n` hostile cases. `size` scales op counts and the huge cases."""
    rng = random.Random(seed)
    fixed: list[tuple[str, str, bytes, list]] = [
        ("empty", "h.jsonl", b"", []),
        ("blank", "h.jsonl", b"\n \n\t\n", []),
        ("nul", "h.jsonl", b"\x00" * 64, []),
        ("non-utf8", "h.jsonl", b'{"index": 0, "process": 0, "type": "invoke", "f": "\xff\xfe"}\n', []),
        ("latin1-edn", "h.edn", "[{:type :invoke :f :read :process 0 :value \"\xe9\"}]".encode("latin-1"), []),
        ("deep-raw", "h.jsonl", _deep_json(100000).encode() + b"\n", []),
        ("deep-edn", "h.edn", ("[{:type :invoke :f :write :process 0 :value " + _deep_json(5000)
                               + "}]").encode(), []),
        ("deep-edn-map", "h.edn", ("[" + "{:a " * 3000 + "1" + "}" * 3000 + "]").encode(), []),
        ("not-a-list-edn", "h.edn", b"{:type :invoke}", []),
        ("edn-garbage", "h.edn", b"[{:type :invoke :f #foo/bar 1 :process 0}]", []),
        ("json-array", "h.jsonl", b"[1, 2, 3]\n", []),
        ("huge-line", "h.jsonl", b'{"index": 0, "process": 0, "type": "invoke", "f": "read", "key": "'
         + b"k" * (200 * size) + b'"}\n', []),
    ]
    for c in fixed[:n]:
        yield c
    for k in range(max(0, n - len(fixed))):
        w, events = _events(rng, size)
        argv = ["--workload", rng.choice(WORKLOADS)] if rng.random() < 0.3 else []
        mode = rng.choice(["events", "events", "raw", "truncate", "bytes", "edn", "edn-trunc",
                           "huge"])
        name = f"{k}-{w}-{mode}"
        if mode == "events":
            kind, evs = _mutate_events(rng, events)
            for _ in range(rng.randint(0, 2)):
                kind2, evs = _mutate_events(rng, evs)
            yield name + "-" + kind, "h.jsonl", _jsonl(evs), argv
        elif mode == "raw":
            lines = _jsonl(events).decode().splitlines()
            if not lines:
                continue
            i = rng.randrange(len(lines))
            lines[i] = _set_raw(lines[i], rng.choice(FIELDS), rng.choice(HOSTILE_JSON))
            yield name, "h.jsonl", ("\n".join(lines) + "\n").encode(), argv
        elif mode == "truncate":
            b = _jsonl(events)
            yield name, "h.jsonl", b[: rng.randrange(len(b) + 1)], argv
        elif mode == "bytes":
            b = bytearray(_jsonl(events))
            for _ in range(rng.randint(1, 5)):
                if b:
                    b[rng.randrange(len(b))] = rng.choice(b"\xff\x00{}[]\",:\n0a")
            yield name, "h.jsonl", bytes(b), argv
        elif mode == "edn":
            _, evs = _mutate_events(rng, events)
            for e in evs:
                e.pop("index", None) if rng.random() < 0.5 else None
            yield name, "h.edn", _edn(evs), argv
        elif mode == "edn-trunc":
            b = _edn(events)
            yield name, "h.edn", b[: rng.randrange(len(b) + 1)], argv
        else:  # huge: one read returning many never-written elements, many keys
            big = list(range(10 ** 6, 10 ** 6 + 5 * size))
            evs = events + [
                {"index": 10 ** 7, "process": 99, "type": "invoke", "f": "read", "key": "k0",
                 "time": 10 ** 12},
                {"index": 10 ** 7 + 1, "process": 99, "type": "ok", "f": "read", "key": "k0",
                 "value": big if w != "register" and w != "counter" else 5,
                 "time": 10 ** 12 + 1}]
            yield name, "h.jsonl", _jsonl(evs), argv
