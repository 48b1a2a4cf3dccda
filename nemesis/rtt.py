"""Round-trip times between nodes, measured from inside the source node, so a packet
fault's completion can say what it really did (p50/p99 before and during).

A probe is a TCP connect to a closed port on the peer (port 9): the SYN goes out through
whatever the fault does to target→peer traffic and the RST comes straight back, so the
time to ECONNREFUSED is one round trip; no server is needed on the peer. A probe that gets
no answer within its timeout counts as lost (loss, corruption, partitions); after three
losses in a row the rest count as lost unsent, so a dead link costs ~3 timeouts, not n.

    rtt(n1, n2, count=15)          # {"n": 15, "lost": 0, "p50_ms": 0.05, "p99_ms": 0.09}
    added(before, during)          # {"added_p50_ms": 49.9, "added_p99_ms": 61.2}
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

PROBE_PORT = 9
PROBE = (
    "import json, socket, sys, time\n"
    "host, port, n, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])\n"
    "rtts, lost, streak = [], 0, 0\n"
    "for i in range(n):\n"
    "    if streak >= 3:\n"
    "        lost += n - i; break\n"
    "    s = socket.socket(); s.settimeout(to); t = time.monotonic()\n"
    "    try:\n"
    "        s.connect((host, port)); rtts.append((time.monotonic() - t) * 1000); streak = 0\n"
    "    except ConnectionRefusedError:\n"
    "        rtts.append((time.monotonic() - t) * 1000); streak = 0\n"
    "    except OSError:\n"
    "        lost += 1; streak += 1\n"
    "    finally:\n"
    "        s.close()\n"
    "print(json.dumps({'rtts': rtts, 'lost': lost}))\n")


def percentile(sorted_vals: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of an ascending list; None if empty."""
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def rtt(src, dst, *, count: int = 15, timeout: float = 0.5) -> dict:
    """`count` probes src→dst, one after another; p50/p99 in ms over those answered."""
    python = "python3" if not hasattr(src.remote, "netns") else sys.executable
    res = src.remote.exec([python, "-c", PROBE, dst.address, str(PROBE_PORT), str(count),
                           str(timeout)], timeout=count * (timeout + 0.5) + 10, check=False)
    if res.exit_code != 0:
        return {"n": count, "error": (res.stderr or "probe failed").strip()[-200:]}
    got = json.loads(res.stdout)
    vals = sorted(got["rtts"])
    return {"n": count, "lost": got["lost"],
            "p50_ms": _r(percentile(vals, 0.5)), "p99_ms": _r(percentile(vals, 0.99))}


def rtt_pairs(pairs, *, count: int = 15, timeout: float = 0.5) -> dict[str, dict]:
    """rtt() for each (src, dst) in parallel, keyed "src->dst"; never raises."""
    def one(pair):
        src, dst = pair
        try:
            return f"{src.name}->{dst.name}", rtt(src, dst, count=count, timeout=timeout)
        except Exception as e:
            return f"{src.name}->{dst.name}", {"n": count, "error": f"{type(e).__name__}: {e}"}

    pairs = list(pairs)
    if not pairs:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as ex:
        return dict(ex.map(one, pairs))


def added(before: dict, during: dict) -> dict:
    """The latency a fault added: during minus before, at p50 and p99 (ms)."""
    out = {}
    for q in ("p50_ms", "p99_ms"):
        if before.get(q) is not None and during.get(q) is not None:
            out[f"added_{q}"] = _r(during[q] - before[q])
    return out


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
