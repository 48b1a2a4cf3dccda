"""Cycle diagrams for transactional anomalies (transactions.md §6.3).

`cycle_svg(anomaly)` draws one cycle (the `cycle`, `steps` and `txns` fields the
transactions checker returns) as inline SVG: txns on a circle, labelled arrows, ww black,
wr blue, rw dashed red, process green, realtime dotted grey, hover showing micro-ops.
Obligations: every string from a history is escaped; no graphviz, no numpy; cycles of more
than 12 txns (or malformed input) give None so the caller shows the text ring instead.
"""

from __future__ import annotations

import math
from typing import Any

from markupsafe import escape

STYLE = {
    "ww": ('#222', ""), "wr": ('#1f5fbf', ""), "rw": ('#c0392b', ' stroke-dasharray="6 4"'),
    "process": ('#2e8b57', ""), "realtime": ('#888', ' stroke-dasharray="2 3"'),
}
SHORT = {"realtime": "rt", "process": "process"}
MAX_TXNS = 12


def cycle_svg(a: dict) -> str | None:
    cyc = a.get("cycle")
    steps = a.get("steps")
    if not isinstance(cyc, list) or not isinstance(steps, list) or not cyc:
        return None
    n = len(cyc)
    if n > MAX_TXNS or len(steps) != n:
        return None
    txns = a.get("txns") or {}
    by_op = {v.get("op"): (name, v) for name, v in txns.items() if isinstance(v, dict)}
    r = 40 + 12 * n + 30
    w, h = 2 * r + 160, 2 * r + 60
    cx, cy = w / 2, h / 2 - 10
    pos = []
    for i in range(n):
        ang = -math.pi / 2 + 2 * math.pi * i / n
        pos.append((cx + r * math.cos(ang), cy + r * math.sin(ang)))
    out = [f'<svg class="cycle" xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" '
           f'height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
           f'aria-label="{escape(a.get("type", "cycle"))} cycle">',
           '<defs>']
    for lab, (color, _) in STYLE.items():
        out.append(f'<marker id="ah-{lab}" viewBox="0 0 10 10" refX="10" refY="5" '
                   f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>')
    out.append('</defs>')
    bw, bh = 120, 26
    for i, st in enumerate(steps):
        lab = st.get("label", "ww")
        color, dash = STYLE.get(lab, STYLE["ww"])
        (x1, y1), (x2, y2) = pos[i], pos[(i + 1) % n]
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1.0
        # start and end where the line leaves / meets the boxes
        ux, uy = abs(dx) / d, abs(dy) / d
        trim = min(bw / 2 / ux if ux > 1e-9 else math.inf,
                   bh / 2 / uy if uy > 1e-9 else math.inf) + 4
        trim = min(trim, 0.45 * d)
        sx, sy = x1 + dx / d * trim, y1 + dy / d * trim
        ex, ey = x2 - dx / d * trim, y2 - dy / d * trim
        # bend every arrow a little to the right, so a 2-cycle draws two opposite arcs
        bend = 0.25 * d if n == 2 else 0.08 * d
        mx, my = (sx + ex) / 2 + dy / d * bend, (sy + ey) / 2 - dx / d * bend
        key = st.get("key")
        text = SHORT.get(lab, lab) + ("" if key is None else f" {key}")
        out.append(f'<path d="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}" '
                   f'fill="none" stroke="{color}" stroke-width="1.8"{dash} '
                   f'marker-end="url(#ah-{lab})"/>')
        out.append(f'<text x="{mx:.1f}" y="{my:.1f}" font-size="12" text-anchor="middle" '
                   f'fill="{color}" paint-order="stroke" stroke="#fff" stroke-width="3">'
                   f'{escape(text)}</text>')
    for i, op in enumerate(cyc):
        x, y = pos[i]
        name, info = by_op.get(op, (f"T{i + 1}", {}))
        label = f"{name} · op {op}" + (f" · p{info['process']}" if "process" in info else "")
        mops = "; ".join(" ".join(str(p) for p in m) for m in info.get("value") or [])
        out.append(f'<g><title>{escape(label)}: {escape(mops)}</title>'
                   f'<rect x="{x - bw / 2:.1f}" y="{y - bh / 2:.1f}" width="{bw}" height="{bh}" '
                   f'rx="5" fill="#f7f7f7" stroke="#555"/>'
                   f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="12" text-anchor="middle">'
                   f'{escape(label)}</text></g>')
    scc = a.get("scc_size")
    if scc:
        out.append(f'<text x="{cx:.1f}" y="{h - 8:.1f}" font-size="11" text-anchor="middle" '
                   f'fill="#666">strongly connected component of {escape(scc)} txns</text>')
    out.append("</svg>")
    return "".join(out)


def ring(a: dict) -> str:
    """The one-line text form, e.g. `T1 ─rw x→ T2 ─wr z→ T1`."""
    return str(a.get("ring") or "")


def has_cycle(a: Any) -> bool:
    return isinstance(a, dict) and isinstance(a.get("cycle"), list) and bool(a.get("steps"))
