"""Report panel for queue runs: offsets per key over time (reports/html.py).

`offsets_figure(history, windows)` plots, per key (stream / partition), every ok send at
its completion time and log position, and every ok poll's last position on that key at
its completion time, with the fault windows behind. Positions are the dense index of the
offset among all offsets seen for the key (Kafka ints and Redis "ms-seq" IDs alike), so a
gap means a skipped position and a falling poll line a consumer going back. Returns
None when the history has no queue send or poll with an offset. Bounded: at most
MAX_KEYS keys and BUDGET points per series (stride-sampled, the sampling noted).
"""

from __future__ import annotations

from typing import Any

from splitbrain.harness.history import History

NS = 1e9
MAX_KEYS = 12
BUDGET = 4000


def _offset_sort_key(off: Any) -> tuple:
    if type(off) is int:
        return (off,)
    a, _, b = str(off).partition("-")
    try:
        return (int(a), int(b or 0))
    except ValueError:
        return (float("inf"), str(off))


def _sample(points: list, budget: int) -> tuple[list, bool]:
    if len(points) <= budget:
        return points, False
    step = len(points) / budget
    return [points[int(i * step)] for i in range(budget)], True


def offsets_figure(history: History, windows: list, layout_fn) -> dict | None:
    sends: dict[str, list] = {}
    polls: dict[str, list] = {}
    seen: dict[str, set] = {}
    for op in history.ops:
        if op.type != "ok" or op.f not in ("send", "poll"):
            continue
        t = op.t_ret_seen if op.t_ret_seen is not None else op.t_inv
        if op.f == "send" and op.key is not None:
            off = (op.extra or {}).get("offset")
            if off is not None:
                k = str(op.key)
                sends.setdefault(k, []).append((t, off))
                seen.setdefault(k, set()).add(off)
        elif op.f == "poll" and isinstance(op.value, dict) and not op.final:
            for k, items in op.value.items():
                offs = [it[0] for it in items if isinstance(it, (list, tuple)) and it
                        and it[0] is not None]
                if offs:
                    k = str(k)
                    polls.setdefault(k, []).append((t, offs[-1]))
                    seen.setdefault(k, set()).update(offs)
    if not seen:
        return None
    keys = sorted(seen, key=lambda k: (-len(seen[k]), k))[:MAX_KEYS]
    data, sampled = [], False
    for n, k in enumerate(sorted(keys, key=_offset_sort_key)):
        try:
            order = sorted(seen[k], key=_offset_sort_key)
        except TypeError:
            continue
        index = {o: i for i, o in enumerate(order)}
        color = f"hsl({(n * 67) % 360},60%,45%)"
        for name, pts, mode in (("send", sends.get(k, []), "markers"),
                                ("poll", polls.get(k, []), "lines")):
            pts, cut = _sample([(t, index[o]) for t, o in pts if o in index], BUDGET)
            sampled |= cut
            if not pts:
                continue
            tr = {"type": "scattergl", "mode": mode, "name": f"key {k} {name}",
                  "legendgroup": k, "x": [round(t / NS, 4) for t, _ in pts],
                  "y": [i for _, i in pts]}
            tr["marker" if mode == "markers" else "line"] = (
                {"color": color, "size": 4} if mode == "markers" else {"color": color, "width": 1})
            data.append(tr)
    title = "Offsets per key: sends (dots) and each poll's last position (lines)"
    if sampled:
        title += f" — sampled to {BUDGET} points per series"
    if len(seen) > MAX_KEYS:
        title += f" — the {MAX_KEYS} busiest of {len(seen)} keys"
    layout = layout_fn(title, windows, height=380,
                       yaxis={"title": {"text": "log position (dense index)"}})
    return {"data": data, "layout": layout}
