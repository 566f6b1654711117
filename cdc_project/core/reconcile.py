"""Bisection over hashed key ranges, and the classification of the keys it finds (pure, no I/O).

Both sides (the source, the lake) answer the same questions about the same key ranges, each computed
where its data lives (adapters/reconcile_sql_side.py): count and checksum per range, keys that cut a range
into parts, key + row hash per row of small ranges, and canonical column texts of given keys.

Algorithm (after data-diff): compare the whole table's count and checksum; split every range whose
(count, checksum) differ into up to `max_parts` parts of about `leaf_rows` rows, cut at keys of the side
holding more rows there (so a range full of extra lake rows still splits); repeat until a differing range
holds at most `leaf_rows` rows on either side, then list its keys and row hashes on both sides. Keys whose
hashes differ are compared column by column with the exact normalization (core/canonical.normalize): a
difference of representation only (JSON key order, float spelling) is not drift. Equal ranges are never
read again, so a table in sync costs one aggregate per side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cdc_project.core.canonical import CanonicalColumn, normalize
from cdc_project.core.key_ranges import WHOLE, Bound, KeyRange, subranges

Key = tuple[str | None, ...]  # a key's canonical texts: equal across engines for equal keys
DiffKind = Literal["missing", "extra", "mismatched"]  # missing: in the source only; extra: in the lake only


@dataclass(frozen=True)
class RangeStats:
    count: int
    checksum: int


@dataclass(frozen=True)
class KeyedHash:
    key: Key
    values: Bound  # the key as this side's engine returned it (to query either side by key)
    row_hash: int


@dataclass(frozen=True)
class RowDigest:
    values: Bound
    row_hash: int
    texts: tuple[str | None, ...]  # canonical text per compared column, as the engine rendered it
    copies: int = 1  # rows holding this key (more than one only in a lake written to directly)


class Side(Protocol):
    def range_stats(self, ranges: Sequence[KeyRange]) -> list[RangeStats]: ...

    def split_points(self, ranges: Sequence[KeyRange], parts: int) -> list[list[Bound]]: ...

    def row_hashes(self, ranges: Sequence[KeyRange]) -> list[KeyedHash]: ...


class EmptySide:
    """The side of a table that does not exist yet: no rows in any range."""

    def range_stats(self, ranges: Sequence[KeyRange]) -> list[RangeStats]:
        return [RangeStats(0, 0) for _ in ranges]

    def split_points(self, ranges: Sequence[KeyRange], parts: int) -> list[list[Bound]]:
        return [[] for _ in ranges]

    def row_hashes(self, ranges: Sequence[KeyRange]) -> list[KeyedHash]:
        return []


EMPTY = EmptySide()


@dataclass(frozen=True)
class BisectionSettings:
    max_parts: int = 1024
    leaf_rows: int = 1024

    def __post_init__(self) -> None:
        if self.max_parts < 2 or self.leaf_rows < 1:
            raise ValueError(f"max_parts={self.max_parts} must be >= 2 and leaf_rows={self.leaf_rows} >= 1")


DEFAULT_SETTINGS = BisectionSettings()


@dataclass(frozen=True)
class Bisection:
    source_rows: int
    lake_rows: int
    ranges_compared: int
    candidates: dict[Key, Bound] = field(default_factory=dict)  # keys whose row hashes differ


@dataclass(frozen=True)
class KeyDiff:
    key: Key
    values: Bound
    kind: DiffKind
    columns: tuple[str, ...]  # the differing columns (mismatched only)
    source_hash: int | None
    lake_hash: int | None
    rows: int = 1  # rows this difference stands for (keyless tables: copies of one row)


def bisect(source: Side, lake: Side, settings: BisectionSettings = DEFAULT_SETTINGS) -> Bisection:
    ranges = [WHOLE]
    compared = 0
    totals: tuple[int, int] | None = None
    candidates: dict[Key, Bound] = {}
    while ranges:
        pairs = list(zip(ranges, source.range_stats(ranges), lake.range_stats(ranges), strict=True))
        compared += len(ranges)
        if totals is None:
            totals = (pairs[0][1].count, pairs[0][2].count)
        differing = [(r, s, k) for r, s, k in pairs if s != k]
        leaves = [r for r, s, k in differing if max(s.count, k.count) <= settings.leaf_rows]
        wide = [(r, s, k) for r, s, k in differing if max(s.count, k.count) > settings.leaf_rows]
        ranges = []
        if wide:
            largest = max(max(s.count, k.count) for _, s, k in wide)
            parts = min(settings.max_parts, max(2, math.ceil(largest / settings.leaf_rows)))
            by_source = [r for r, s, k in wide if s.count >= k.count]
            by_lake = [r for r, s, k in wide if s.count < k.count]
            points = dict(
                zip(by_source, source.split_points(by_source, parts) if by_source else [], strict=True)
            )
            points |= dict(zip(by_lake, lake.split_points(by_lake, parts) if by_lake else [], strict=True))
            for parent, _, _ in wide:
                children = subranges(parent, points[parent])
                if len(children) > 1:
                    ranges.extend(children)
                else:  # cannot be cut: one key holds all its rows (duplicates in the lake)
                    leaves.append(parent)
        if leaves:
            candidates |= differing_keys(source.row_hashes(leaves), lake.row_hashes(leaves))
    assert totals is not None
    return Bisection(totals[0], totals[1], compared, candidates)


def differing_keys(source: Sequence[KeyedHash], lake: Sequence[KeyedHash]) -> dict[Key, Bound]:
    """Keys on one side only, with different row hashes, or held by more than one lake row."""
    theirs: dict[Key, list[int]] = {}
    values: dict[Key, Bound] = {}
    for row in lake:
        theirs.setdefault(row.key, []).append(row.row_hash)
        values[row.key] = row.values
    found: dict[Key, Bound] = {}
    for row in source:
        if theirs.pop(row.key, None) != [row.row_hash]:
            found[row.key] = row.values
    found |= {key: values[key] for key in theirs}  # in the lake only
    return found


def classify(
    keys: Mapping[Key, Bound],
    source: Mapping[Key, RowDigest],
    lake: Mapping[Key, RowDigest],
    columns: Sequence[CanonicalColumn],
) -> list[KeyDiff]:
    """The differences among `keys`; a key whose rows differ only in representation is not one."""
    diffs: list[KeyDiff] = []
    for key in keys:
        mine, theirs = source.get(key), lake.get(key)
        if mine is None and theirs is None:
            continue
        if mine is None or theirs is None:
            kind: DiffKind = "missing" if theirs is None else "extra"
            present = mine or theirs
            assert present is not None
            diffs.append(KeyDiff(key, present.values, kind, (), _hash(mine), _hash(theirs)))
            continue
        if theirs.copies > 1:  # the key is in the lake more than once: the extra copies are drift
            diffs.append(KeyDiff(key, theirs.values, "extra", (), mine.row_hash, theirs.row_hash))
            continue
        changed = tuple(
            c.name
            for c, a, b in zip(columns, mine.texts, theirs.texts, strict=True)
            if normalize(a, c) != normalize(b, c)
        )
        if changed:
            diffs.append(KeyDiff(key, mine.values, "mismatched", changed, mine.row_hash, theirs.row_hash))
    return diffs


def split_settled(
    candidates: Mapping[Key, Bound], before: Mapping[Key, str | None], after: Mapping[Key, str | None]
) -> tuple[dict[Key, Bound], dict[Key, Bound]]:
    """(settled, in flight): a key is settled when the lake's state for it (LakeSide.key_states) did not
    change between the read before the source snapshot and the read after the sink caught up with it.

    Invariant (docs/DESIGN.md "Reconciliation"): the before-read precedes the snapshot, so it holds only
    events committed before it; the after-read follows the sink applying everything committed up to the
    snapshot; every applied event moves the key's state (a newer position). Unchanged therefore means the
    before-read is exactly the key's state as of the snapshot, and a difference from the snapshot is drift.
    """
    settled = {k: v for k, v in candidates.items() if before.get(k) == after.get(k)}
    moving = {k: v for k, v in candidates.items() if k not in settled}
    return settled, moving


def _hash(digest: RowDigest | None) -> int | None:
    return None if digest is None else digest.row_hash


def key_of(texts: Sequence[str | None], key_columns: Sequence[CanonicalColumn]) -> Key:
    return tuple(normalize(t, c) for t, c in zip(texts, key_columns, strict=True))
