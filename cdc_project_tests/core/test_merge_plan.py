"""Scope: core/merge_plan.py and core/unavailable.py - folding a batch to the last event per key, dropping
already-applied offsets and tombstoned upserts, and filling unchanged-TOAST placeholders inside a batch.
Pure pyarrow, no lake."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdc_project.core.columns import OFFSET, OP, PARTITION, POSITION, UNAVAILABLE
from cdc_project.core.errors import KeyColumnsError, MixedTopicsError
from cdc_project.core.merge_plan import (
    advance_to,
    drop_applied,
    drop_redelivered,
    drop_tombstoned,
    fold_latest,
    last_offsets,
    lowest_streamed_position,
    validate_batch,
)
from cdc_project.core.unavailable import keep_stored_column
from cdc_project_tests.change_rows import Event, make_rows

def by_id(table: pa.Table) -> dict[int, tuple[str, str | None]]:
    return {r["id"]: (r[OP], r["name"]) for r in table.to_pylist()}


@pytest.mark.parametrize(
    ("events", "upserts", "deletes", "superseded"),
    [
        # a burst on one key, delivered out of order: the highest position wins
        (
            [("u", 1, "b", "03", 0, 2), ("c", 1, "a", "01", 0, 0), ("u", 1, "c", "05", 1, 0)],
            {1: ("u", "c")},
            {},
            2,
        ),
        # same position twice (a redelivery): the later offset is the newer copy
        ([("u", 1, "old", "07", 0, 4), ("u", 1, "new", "07", 0, 9)], {1: ("u", "new")}, {}, 1),
        # insert then delete: only the delete survives
        ([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1)], {}, {1: ("d", None)}, 1),
        # delete then re-insert: the row is back
        ([("d", 1, None, "02", 0, 1), ("c", 1, "again", "03", 0, 2)], {1: ("c", "again")}, {}, 1),
        # independent keys each keep their own latest; snapshot reads count as upserts
        ([("r", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 1, 0), ("d", 3, None, "03", 2, 0)],
         {1: ("r", "a"), 2: ("c", "b")}, {3: ("d", None)}, 0),
    ],
)
def test_fold_latest_last_event_per_key_wins(
    events: list[Event],
    upserts: dict[int, tuple[str, str]],
    deletes: dict[int, tuple[str, str]],
    superseded: int,
) -> None:
    folded = fold_latest(make_rows(events), ["id"])
    assert by_id(folded.upserts) == upserts
    assert by_id(folded.deletes) == deletes
    assert folded.superseded == superseded


def test_fold_latest_leaves_truncates_out() -> None:
    rows = make_rows([("c", 1, "a", "01", 0, 0), ("t", None, None, "02", 0, 1)])
    folded = fold_latest(rows, ["id"])
    assert (folded.events, folded.truncates, by_id(folded.upserts)) == (1, 1, {1: ("c", "a")})


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        (["nope"], KeyColumnsError),  # a key column the events lack
        ([], ValueError),  # keyless tables are appended, never folded
    ],
)
def test_fold_latest_refuses_bad_keys(keys: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        fold_latest(make_rows([("c", 1, "a", "01", 0, 0)]), keys)


def test_fold_latest_refuses_unknown_op() -> None:
    with pytest.raises(ValueError, match="Valid values are"):
        fold_latest(make_rows([("x", 1, "a", "01", 0, 0)]), ["id"])


def test_fold_latest_is_fast_enough_for_100k_rows() -> None:
    n = 100_000
    rows = make_rows([("u", i % 5_000, f"v{i}", f"{i:012d}", i % 3, i) for i in range(n)])
    folded = fold_latest(rows, ["id"])
    assert folded.upserts.num_rows == 5_000
    assert by_id(folded.upserts)[0] == ("u", f"v{n - 5_000}")


@pytest.mark.parametrize(
    ("committed", "kept_offsets"),
    [
        ({}, [(0, 5), (0, 6), (1, 1)]),  # nothing applied yet
        ({0: 5}, [(0, 6), (1, 1)]),  # offset == committed counts as applied
        ({0: 6, 1: 1}, []),  # everything applied: a replay
        ({2: 100}, [(0, 5), (0, 6), (1, 1)]),  # another partition's progress changes nothing here
    ],
)
def test_drop_applied_removes_offsets_at_or_below_committed(
    committed: dict[int, int], kept_offsets: list[tuple[int, int]]
) -> None:
    rows = make_rows([("c", 1, "a", "01", 0, 5), ("c", 2, "b", "02", 0, 6), ("c", 3, "c", "03", 1, 1)])
    kept = drop_applied(rows, committed)
    assert list(zip(kept[PARTITION].to_pylist(), kept[OFFSET].to_pylist(), strict=True)) == kept_offsets


def test_last_offsets_per_partition() -> None:
    rows = make_rows([("c", 1, "a", "01", 0, 5), ("c", 2, "b", "02", 0, 3), ("c", 3, "c", "03", 1, 8)])
    assert last_offsets(rows) == {0: 5, 1: 8}
    assert last_offsets(rows.slice(0, 0)) == {}


@pytest.mark.parametrize(
    ("tombstone_position", "kept"),
    [
        ("05", []),  # the upsert is older than the delete: a late event must not resurrect the row
        ("03", []),  # same position: not newer than the delete, so dropped too (the guard is <=)
        ("02", [1]),  # the upsert is newer than the delete: a genuine re-insert
    ],
)
def test_drop_tombstoned_compares_positions(tombstone_position: str, kept: list[int]) -> None:
    upserts = make_rows([("c", 1, "a", "03", 0, 0), ("c", 2, "b", "04", 0, 1)])
    tombstones = pa.table({"id": pa.array([1], pa.int64()), POSITION: [tombstone_position]})
    result, dropped = drop_tombstoned(upserts, tombstones, ["id"])
    assert sorted(result["id"].to_pylist()) == sorted([*kept, 2])
    assert dropped == 1 - len(kept)


def test_fold_fills_unavailable_from_the_keys_earlier_event() -> None:
    rows = make_rows(
        [
            ("c", 1, "full", "01", 0, 0),  # key 1: insert with the value...
            ("u", 1, None, "02", 0, 1),  # ...then an update that did not send it
            ("u", 2, None, "03", 0, 2),  # key 2: only the placeholder in this batch
            ("u", 3, None, "04", 0, 3),  # key 3: a genuine null, not a placeholder
        ],
        unavailable=[None, ["name"], ["name"], []],
    )
    upserts = fold_latest(rows, ["id"]).upserts
    got = {r["id"]: (r["name"], r[keep_stored_column("name")]) for r in upserts.to_pylist()}
    assert got == {1: ("full", False), 2: (None, True), 3: (None, False)}
    assert UNAVAILABLE not in upserts.column_names


@pytest.mark.parametrize(
    ("applied", "consumed", "expected"),
    [
        ({}, {}, {0: 6, 1: 1}),  # a new table: every partition's last row offset
        ({0: 6}, {}, {1: 1}),  # partition 0 is already there: not re-recorded
        ({0: 6, 1: 1}, {}, {}),  # a replay: nothing moves, so nothing is committed
        ({0: 6, 1: 1}, {0: 9}, {0: 9}),  # messages past the last row (null tombstones) still move partition 0
    ],
)
def test_advance_to(applied: dict[int, int], consumed: dict[int, int], expected: dict[int, int]) -> None:
    rows = drop_applied(make_rows([("c", 1, "a", "01", 0, 6), ("c", 2, "b", "02", 1, 1)]), applied)
    assert advance_to(rows, applied, consumed) == expected


@pytest.mark.parametrize(
    ("rows", "consumed", "error"),
    [
        (make_rows([("c", 1, "a", "01", 0, 0)], topic="shop.public.other"), {}, "given to the sink"),
        (make_rows([("c", 1, "a", "01", 0, 0)]).drop_columns([OFFSET]), {}, "lack meta columns"),
        (make_rows([("c", 1, "a", "01", 0, 5)]), {0: 4}, "behind"),  # a caller bug: rows past what it read
    ],
)
def test_validate_batch_refuses(rows: pa.Table, consumed: dict[int, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        validate_batch(rows, "shop.public.customers", consumed)


def test_validate_batch_refuses_mixed_topics() -> None:
    rows = pa.concat_tables(
        [make_rows([("c", 1, "a", "01", 0, 0)]), make_rows([("c", 2, "b", "02", 0, 1)], topic="x")]
    )
    with pytest.raises(MixedTopicsError):
        validate_batch(rows, "shop.public.customers", {})


@pytest.mark.parametrize(
    ("events", "stored", "kept_offsets", "lowest"),
    [
        # snapshot reads share the snapshot's position: every one is a row of its own
        ([("r", None, "a", "01", 0, 0), ("r", None, "b", "01", 0, 1)], set(), [0, 1], None),
        # a streamed event delivered again within the batch, under a new offset: appended once
        ([("c", None, "a", "05", 0, 3), ("c", None, "a", "05", 0, 7), ("c", None, "b", "06", 0, 8)], set(), [3, 8], "05"),
        # an event the table already holds (delivered before the capture crashed) is not appended again
        ([("c", None, "a", "05", 0, 9), ("c", None, "b", "06", 0, 10)], {"05"}, [10], "05"),
        # a stored snapshot position does not hide a new snapshot row
        ([("r", None, "a", "01", 0, 0), ("c", None, "b", "02", 0, 1)], {"01"}, [0, 1], "02"),
    ],
)
def test_drop_redelivered_keeps_each_streamed_event_once_and_every_snapshot_row(
    events: list[Event], stored: set[str], kept_offsets: list[int], lowest: str | None
) -> None:
    rows = make_rows(events)
    assert lowest_streamed_position(rows) == lowest
    assert drop_redelivered(rows, stored)[OFFSET].to_pylist() == kept_offsets
