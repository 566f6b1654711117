"""Scope: core/upsert_plan.py, the pure copy-on-write merge plan: the order guard per key, hard and soft
deletes, keep-stored (TOAST) flags, which stored files are rewritten and what replaces them, and `align`.
Hand-built Arrow tables only; the sink using it is tested on real Iceberg tables in adapters/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.columns import DELETED, INGESTED_AT, OP, POSITION, SOURCE_TS
from cdc_project.core.unavailable import keep_stored_column
from cdc_project.core.upsert_plan import FILE_INDEX, align, plan_upsert

TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        (OP, pa.string()),
        (POSITION, pa.string()),
        (SOURCE_TS, TS),
        (INGESTED_AT, TS),
    ]
)
SOFT_SCHEMA = SCHEMA.append(pa.field(DELETED, pa.bool_()))
T0, T1 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
Row = tuple[int, str | None, str, str, int]  # id, name, op, position, file (stored) / ignored (latest)


def table(rows: list[Row], schema: pa.Schema, *, stored: bool, when: datetime = T0) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "id": [r[0] for r in rows],
        "name": [r[1] for r in rows],
        OP: [r[2] for r in rows],
        POSITION: [r[3] for r in rows],
        SOURCE_TS: [when] * len(rows),
        INGESTED_AT: [when] * len(rows),
    }
    if DELETED in schema.names:
        columns[DELETED] = [r[2] == "d" for r in rows]
    out = pa.Table.from_pydict(columns, schema=schema)
    return out.append_column(FILE_INDEX, pa.array([r[4] for r in rows], pa.int64())) if stored else out


STORED: list[Row] = [(1, "a", "c", "05", 0), (2, "b", "c", "05", 0), (3, "c", "c", "05", 1)]


@pytest.mark.parametrize(
    ("latest", "expected", "rewritten", "counts"),
    [
        # newer update of a key in file 0: file 0 rewritten with its other row, file 1 left alone
        ([(1, "a2", "u", "06", 0)], {1: "a2", 2: "b"}, (0,), (0, 1, 0)),
        # older and equal positions are stale: nothing rewritten
        ([(1, "old", "u", "04", 0), (3, "same", "u", "05", 0)], {}, (), (0, 0, 0)),
        # a new key is inserted without touching any stored file
        ([(9, "new", "c", "01", 0)], {9: "new"}, (), (1, 0, 0)),
        # a newer delete removes the row; its file keeps the other row
        ([(3, None, "d", "07", 0)], {}, (1,), (0, 0, 1)),
        # a delete of a key that was never stored changes nothing
        ([(8, None, "d", "07", 0)], {}, (), (0, 0, 0)),
        # keys in both files change: both rewritten
        ([(2, "b2", "u", "09", 0), (3, "c2", "u", "09", 0)], {1: "a", 2: "b2", 3: "c2"}, (0, 1), (0, 2, 0)),
    ],
)
def test_plan_upsert_applies_only_newer_events_and_rewrites_only_their_files(
    latest: list[Row], expected: dict[int, str], rewritten: tuple[int, ...], counts: tuple[int, int, int]
) -> None:
    plan = plan_upsert(
        table(STORED, SCHEMA, stored=True),
        table(latest, SCHEMA, stored=False),
        ["id"],
        SCHEMA,
        soft_deletes=False,
    )
    assert {r["id"]: r["name"] for r in plan.rows.to_pylist()} == expected
    assert plan.rewritten == rewritten
    assert (plan.inserted, plan.updated, plan.deleted) == counts
    assert plan.rows.schema == SCHEMA


def test_plan_upsert_soft_delete_keeps_the_stored_values_and_marks_the_row() -> None:
    stored = table([(1, "a", "c", "05", 0)], SOFT_SCHEMA, stored=True)
    latest = table([(1, None, "d", "06", 0)], SOFT_SCHEMA, stored=False, when=T1)
    plan = plan_upsert(stored, latest, ["id"], SOFT_SCHEMA, soft_deletes=True)
    (row,) = plan.rows.to_pylist()
    assert (row["name"], row[OP], row[POSITION], row[DELETED], row[INGESTED_AT]) == ("a", "d", "06", True, T1)
    assert (plan.updated, plan.deleted, plan.rewritten) == (1, 0, (0,))


def test_plan_upsert_keep_stored_flag_keeps_the_stored_value_for_matched_keys_only() -> None:
    stored = table([(1, "big document", "c", "05", 0)], SCHEMA, stored=True)
    latest = table([(1, None, "u", "06", 0), (2, None, "c", "07", 0)], SCHEMA, stored=False)
    latest = latest.append_column(keep_stored_column("name"), pa.array([True, True]))
    plan = plan_upsert(stored, latest, ["id"], SCHEMA, soft_deletes=False)
    assert {r["id"]: r["name"] for r in plan.rows.to_pylist()} == {1: "big document", 2: None}
    assert plan.rows.schema == SCHEMA  # the flags never reach the table


def test_plan_upsert_without_op_column_treats_every_row_as_an_upsert() -> None:
    """Tombstone rows: key + position, the newer position wins."""
    schema = pa.schema([("id", pa.int64()), (POSITION, pa.string())])
    stored = pa.table({"id": [1], POSITION: ["05"], FILE_INDEX: pa.array([0], pa.int64())})
    latest = pa.table({"id": [1, 2], POSITION: ["09", "01"]})
    plan = plan_upsert(stored, latest, ["id"], schema, soft_deletes=False)
    assert sorted(plan.rows.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, POSITION: "09"},
        {"id": 2, POSITION: "01"},
    ]


def test_plan_upsert_joins_keys_of_narrower_incoming_type() -> None:
    stored = table([(1, "a", "c", "05", 0)], SCHEMA, stored=True)
    latest = table([(1, "a2", "u", "06", 0)], SCHEMA, stored=False)
    latest = latest.set_column(0, pa.field("id", pa.int32()), latest["id"].cast(pa.int32()))
    plan = plan_upsert(stored, latest, ["id"], SCHEMA, soft_deletes=False)
    assert plan.rows.to_pylist()[0]["name"] == "a2" and plan.updated == 1


@pytest.mark.parametrize(
    ("rows", "schema", "expected"),
    [
        # a column the batch lacks is null; columns come in the schema's order
        (
            pa.table({"b": ["x"], "a": [1]}),
            pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())]),
            {"a": 1, "b": "x", "c": None},
        ),
        # a struct gains the fields the table has by name; ints widen
        (
            pa.table({"s": pa.array([{"zip": 1}], pa.struct([("zip", pa.int32())]))}),
            pa.schema([("s", pa.struct([("zip", pa.int64()), ("city", pa.string())]))]),
            {"s": {"zip": 1, "city": None}},
        ),
    ],
)
def test_align_fills_absent_columns_and_casts_to_the_table(
    rows: pa.Table, schema: pa.Schema, expected: dict[str, Any]
) -> None:
    aligned = align(rows, schema)
    assert aligned.schema == schema and aligned.to_pylist() == [expected]
