"""Percentile summaries of measured durations and counts (nearest-rank, no numpy)."""

from __future__ import annotations

import math
from typing import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in [0, 100]); 0 when empty."""
    n = len(sorted_values)
    if n == 0:
        return 0
    rank = max(1, math.ceil(q / 100.0 * n))
    return sorted_values[min(rank, n) - 1]


def ms_summary(values_ns: list[float], prefix: str = "") -> dict:
    """{p50_ms, p90_ms, p99_ms, max_ms} of nanosecond durations (sorted in place)."""
    values_ns.sort()
    return {f"{prefix}p50_ms": _ms(percentile(values_ns, 50)),
            f"{prefix}p90_ms": _ms(percentile(values_ns, 90)),
            f"{prefix}p99_ms": _ms(percentile(values_ns, 99)),
            f"{prefix}max_ms": _ms(values_ns[-1] if values_ns else 0)}


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)
