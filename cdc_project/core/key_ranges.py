"""Key ranges: half-open intervals [lo, hi) over a table's key tuple, the unit reconciliation hashes.

A bound is a tuple of key values in the source's order (None: unbounded). Every level of the bisection
covers exactly the key space of the ranges it refines, so a key present on either side falls into exactly
one range of each level, whichever side it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Bound = tuple[Any, ...]


@dataclass(frozen=True)
class KeyRange:
    lo: Bound | None = None  # inclusive; None: from the smallest key
    hi: Bound | None = None  # exclusive; None: to the largest key

    def describe(self) -> str:
        lo = "-inf" if self.lo is None else ",".join(map(str, self.lo))
        hi = "+inf" if self.hi is None else ",".join(map(str, self.hi))
        return f"[{lo}, {hi})"


WHOLE = KeyRange()


def subranges(parent: KeyRange, points: Sequence[Bound]) -> list[KeyRange]:
    """`parent` cut at `points` (keys inside it, ascending); points equal to a bound are ignored."""
    inner = [
        p
        for i, p in enumerate(points)
        if p != parent.lo and p != parent.hi and (i == 0 or p != points[i - 1])
    ]
    bounds: list[Bound | None] = [parent.lo, *inner, parent.hi]
    return [KeyRange(lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False)]


def spans(ranges: Sequence[KeyRange]) -> list[KeyRange]:
    """Adjacent ranges (one's hi is the next one's lo) merged: the same key space in fewer predicates."""
    merged: list[KeyRange] = []
    for current in ranges:
        if merged and merged[-1].hi is not None and merged[-1].hi == current.lo:
            merged[-1] = KeyRange(merged[-1].lo, current.hi)
        else:
            merged.append(current)
    return merged
