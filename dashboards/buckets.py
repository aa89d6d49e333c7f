"""Durations in fixed buckets, so that median and p90 times come from summed counts.

A bucket is a range [EDGES[i-1], EDGES[i]) of whole seconds: one second wide below
EXACT_BELOW seconds (exact there), then each RATIO times the one before, with 86,401
seconds (more than a day, what the funnel's leak sentence counts) as an edge of its own.
A bucket's value is the geometric middle of its range, rounded to the second: within
PRECISION (5 %) of any duration in it. The rollups store (bucket number, count) per day
and dimensions; `percentile` reads the bucket holding the rank that percentile_disc
would pick, so a percentile from buckets is within PRECISION of the exact one.

The edges are part of the stored data: changing them needs a rebuild of the rollups
(delete the RollupState row; the next run rebuilds).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable

EXACT_BELOW = 100
RATIO = 1.08
LONGEST = 20 * 366 * 86_400  # the last edge; longer durations share the last bucket
PRECISION = 0.05
MORE_THAN_A_DAY = 86_401


def _edges() -> tuple[int, ...]:
    edges = list(range(1, EXACT_BELOW + 1))
    while edges[-1] < LONGEST:
        edges.append(max(edges[-1] + 1, math.ceil(edges[-1] * RATIO)))
    return tuple(sorted({*edges, MORE_THAN_A_DAY}))


EDGES = _edges()
# SQL: the bucket of a duration in seconds (width_bucket over the edges: how many are ≤ it).
SQL_EDGES = "'{" + ",".join(map(str, EDGES)) + "}'::bigint[]"


def bucket(seconds: int) -> int:
    """The bucket number of a duration (0: under a second)."""
    return bisect_right(EDGES, seconds)


def value(number: int) -> int:
    """A bucket's value: the geometric middle of its whole seconds."""
    if number == 0:
        return 0
    low = EDGES[number - 1]
    high = EDGES[number] - 1 if number < len(EDGES) else low
    return round(math.sqrt(low * high))


def percentile(counts: Iterable[tuple[int, int]], q: float) -> int | None:
    """percentile_disc(q) over (bucket, count) pairs, as its bucket's value."""
    ordered = sorted((b, n) for b, n in counts if n)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for number, n in ordered:
        seen += n
        if seen >= rank:
            return value(number)
    return value(ordered[-1][0])  # pragma: no cover - the loop always reaches the rank
