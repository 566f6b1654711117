"""Scope: the pure reconciliation algorithm (core/reconcile.py, core/key_ranges.py) against hand-written
in-memory sides: bisection finds exactly the keys that differ (missing, extra, changed), also with composite
keys and a side full of extra rows, reads only differing ranges, and classification ignores differences of
representation; the in-flight split keeps keys whose lake state moved out of judgement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from cdc_project.core.canonical import CanonicalColumn
from cdc_project.core.key_ranges import Bound, KeyRange, spans, subranges
from cdc_project.core.reconcile import (
    EMPTY,
    BisectionSettings,
    KeyedHash,
    RangeStats,
    RowDigest,
    bisect,
    classify,
    split_settled,
)


@dataclass
class MemorySide:
    """A side over `rows` (key tuple -> row hash) that counts the rows each question made it read."""

    rows: dict[Bound, int]
    rows_read: int = 0
    questions: list[str] = field(default_factory=list)

    def _within(self, key: Bound, r: KeyRange) -> bool:
        return (r.lo is None or key >= r.lo) and (r.hi is None or key < r.hi)

    def _keys(self, r: KeyRange) -> list[Bound]:
        return sorted(k for k in self.rows if self._within(k, r))

    def range_stats(self, ranges: Sequence[KeyRange]) -> list[RangeStats]:
        self.questions.append(f"stats x{len(ranges)}")
        stats = []
        for r in ranges:
            keys = self._keys(r)
            self.rows_read += len(keys)
            stats.append(RangeStats(len(keys), sum(self.rows[k] for k in keys)))
        return stats

    def split_points(self, ranges: Sequence[KeyRange], parts: int) -> list[list[Bound]]:
        self.questions.append(f"split x{len(ranges)}")
        out = []
        for r in ranges:
            keys = self._keys(r)
            out.append([keys[i * len(keys) // parts] for i in range(1, parts) if i * len(keys) // parts > 0])
        return out

    def row_hashes(self, ranges: Sequence[KeyRange]) -> list[KeyedHash]:
        self.questions.append(f"rows x{len(ranges)}")
        found = [KeyedHash(tuple(map(str, k)), k, self.rows[k]) for r in ranges for k in self._keys(r)]
        self.rows_read += len(found)
        return found


def _table(n: int, composite: bool = False) -> dict[Bound, int]:
    if composite:
        return {(i // 10, i % 10): 1000 + i for i in range(n)}
    return {(i,): 1000 + i for i in range(n)}


SMALL = BisectionSettings(max_parts=4, leaf_rows=8)


@pytest.mark.parametrize(
    ("composite", "missing", "extra", "changed"),
    [
        (False, [(5,)], [(10_001,)], [(700,)]),  # one of each kind, far apart
        (False, [(0,), (999,)], [(-1,)], []),  # at both ends of the key space, and before the first key
        (True, [(3, 4)], [(3, 11)], [(50, 0)]),  # composite keys (order_id, line_no)
        (False, [], [], [(k,) for k in range(100, 140)]),  # a dense block of changes
    ],
)
def test_bisect_finds_exactly_the_differing_keys(
    composite: bool, missing: list[Bound], extra: list[Bound], changed: list[Bound]
) -> None:
    source_rows = _table(1000, composite)
    lake_rows = {k: v for k, v in source_rows.items() if k not in missing}
    lake_rows |= {k: 7 for k in extra}
    lake_rows |= {k: lake_rows[k] + 1 for k in changed}
    found = bisect(MemorySide(source_rows), MemorySide(lake_rows), SMALL)
    assert set(found.candidates.values()) == set(missing) | set(extra) | set(changed)
    assert (found.source_rows, found.lake_rows) == (len(source_rows), len(lake_rows))


def test_bisect_in_sync_reads_each_side_once() -> None:
    source, lake = MemorySide(_table(5000)), MemorySide(_table(5000))
    found = bisect(source, lake, SMALL)
    assert not found.candidates and found.ranges_compared == 1
    assert source.questions == lake.questions == ["stats x1"]


def test_bisect_reads_only_the_ranges_that_differ() -> None:
    rows = _table(20_000)
    lake_rows = dict(rows)
    lake_rows[(11_234,)] += 1
    source, lake = MemorySide(rows), MemorySide(lake_rows)
    found = bisect(source, lake, BisectionSettings(max_parts=16, leaf_rows=64))
    assert list(found.candidates) == [("11234",)]
    # the whole table twice (its checksum, then its 16 parts), then only the one differing part each level:
    # far less than the 4 full reads that re-reading the table at every level would cost
    assert source.rows_read < 2.2 * len(rows)
    assert all(int(q.split("x")[1]) <= 16 for q in source.questions)


def test_bisect_splits_a_range_by_the_side_holding_more_rows() -> None:
    source_rows = {(i,): i for i in range(0, 20)}
    lake_rows = dict(source_rows) | {
        (1000 + i,): i for i in range(500)
    }  # 500 extra rows past the source's end
    lake = MemorySide(lake_rows)
    found = bisect(MemorySide(source_rows), lake, SMALL)
    assert set(found.candidates.values()) == {(1000 + i,) for i in range(500)}
    assert any(q.startswith("split") for q in lake.questions)


def test_bisect_against_a_missing_lake_lists_every_source_row() -> None:
    found = bisect(MemorySide(_table(30)), EMPTY, SMALL)
    assert len(found.candidates) == 30 and found.lake_rows == 0


def test_bisect_reports_a_key_the_lake_holds_twice() -> None:
    class WithCopies(MemorySide):
        """The lake after a direct append of a row whose key it already holds."""

        def range_stats(self, ranges: Sequence[KeyRange]) -> list[RangeStats]:
            stats = super().range_stats(ranges)
            return [
                RangeStats(s.count + 1, s.checksum + self.rows[(3,)]) if self._within((3,), r) else s
                for s, r in zip(stats, ranges, strict=True)
            ]

        def row_hashes(self, ranges: Sequence[KeyRange]) -> list[KeyedHash]:
            rows = super().row_hashes(ranges)
            return rows + [h for h in rows if h.values == (3,)]

    found = bisect(MemorySide(_table(20)), WithCopies(_table(20)), SMALL)
    assert list(found.candidates) == [("3",)]


COLUMNS = (
    CanonicalColumn("id", "integer"),
    CanonicalColumn("amount", "decimal"),
    CanonicalColumn("doc", "json"),
)


def _digest(key: int, amount: str | None, doc: str | None, copies: int = 1) -> RowDigest:
    return RowDigest((key,), hash((key, amount, doc)), (str(key), amount, doc), copies)


@pytest.mark.parametrize(
    ("source", "lake", "expected"),
    [
        (
            _digest(1, "12.50", '{"a": 1, "b": 2}'),
            _digest(1, "12.5", '{"b":2,"a":1}'),
            None,
        ),  # representation
        (_digest(1, "12.50", "{}"), _digest(1, "12.51", "{}"), ("mismatched", ("amount",))),
        (_digest(1, "1", '{"a": 1}'), _digest(1, "2", '{"a": 2}'), ("mismatched", ("amount", "doc"))),
        (_digest(1, "1", None), None, ("missing", ())),
        (None, _digest(1, "1", None), ("extra", ())),
        (_digest(1, "1", None), _digest(1, "1", None, copies=2), ("extra", ())),  # the lake holds it twice
    ],
)
def test_classify_names_kind_and_columns(
    source: RowDigest | None, lake: RowDigest | None, expected: tuple[str, tuple[str, ...]] | None
) -> None:
    key = ("1",)
    diffs = classify({key: (1,)}, {key: source} if source else {}, {key: lake} if lake else {}, COLUMNS)
    assert [(d.kind, d.columns) for d in diffs] == ([expected] if expected else [])


def test_split_settled_judges_only_keys_whose_lake_state_did_not_move() -> None:
    candidates = {("1",): (1,), ("2",): (2,), ("3",): (3,), ("4",): (4,)}
    before = {("1",): "p1", ("2",): "p2", ("3",): None}
    after = {("1",): "p1", ("2",): "p9", ("3",): None, ("4",): "p4"}  # 2 updated, 4 inserted meanwhile
    settled, moving = split_settled(candidates, before, after)
    assert set(settled) == {("1",), ("3",)} and set(moving) == {("2",), ("4",)}


def test_subranges_and_spans_cover_the_parent_exactly() -> None:
    parent = KeyRange((10,), (50,))
    parts = subranges(parent, [(10,), (20,), (20,), (30,)])  # a bound and a repeat are ignored
    assert parts == [KeyRange((10,), (20,)), KeyRange((20,), (30,)), KeyRange((30,), (50,))]
    assert spans(parts) == [parent]
    assert spans([KeyRange(None, (5,)), KeyRange((7,), None)]) == [KeyRange(None, (5,)), KeyRange((7,), None)]
