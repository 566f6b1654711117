"""Scope: repair change rows (core/repair_rows.py): the repair position sorts after the lake's state of the
key and before any later real event of it, rows have the decoded-row shape typed as the lake stores them,
and what a sink must refuse (Kafka coordinates, other ops, unsuffixed positions) is refused."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest

from cdc_project.core.columns import OFFSET, OP, PARTITION, POSITION
from cdc_project.core.ordering import postgres_position
from cdc_project.core.repair_rows import RepairRow, repair_batch, repair_position, validate_repair

STORED = postgres_position({"sequence": '["26700496","26700552"]', "lsn": 26700552})


@pytest.mark.parametrize(
    "later",
    [
        postgres_position(
            {"sequence": '["26700496","26700600"]', "lsn": 26700600}
        ),  # same transaction, later event
        postgres_position({"sequence": '["26700700","26700800"]', "lsn": 26700800}),  # a later transaction
        STORED[:-1] + chr(ord(STORED[-1]) + 1),  # the very next position the encoding can express
    ],
)
def test_repair_position_is_above_the_lake_and_below_any_later_event(later: str) -> None:
    repair = repair_position(STORED)
    assert STORED < repair < later


def test_repair_position_of_an_unknown_key_loses_to_every_real_event() -> None:
    assert repair_position(None) < postgres_position({"lsn": 1})
    assert repair_position(repair_position(STORED)) > repair_position(STORED)  # a repaired row repaired again


def test_repair_batch_types_rows_as_the_lake_stores_them() -> None:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("price", pa.decimal128(10, 2)),
            ("exact", pa.string()),
            ("at", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("blob", pa.binary()),
        ]
    )
    rows = [
        RepairRow(
            {"id": 1},
            {
                "id": 1,
                "price": Decimal("1.50"),
                "exact": Decimal("3.14159265358979323846"),
                "at": time(12, 0, 1),
                "tags": ["a"],
                "blob": memoryview(b"\x00\x01"),
            },
            STORED,
        ),
        RepairRow({"id": 2}, None, None),  # gone from the source: a delete carrying only the key
    ]
    batch = repair_batch(rows, schema, "shop.public.t", datetime(2024, 1, 1, tzinfo=UTC))
    assert batch.column("exact").to_pylist()[0] == "3.14159265358979323846"
    assert batch.column("at").to_pylist()[0] == "12:00:01.000000"  # core/delta_types' time text
    assert batch.column(OP).to_pylist() == ["r", "d"]
    assert batch.column("price").to_pylist() == [Decimal("1.50"), None]
    assert batch.column(POSITION).to_pylist() == [STORED + "r", "0" * 32 + "r"]
    validate_repair(batch, ["id"])


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (OP, "u", "not valid"),
        (POSITION, STORED, "repair suffix"),
        (OFFSET, 17, "Kafka coordinates"),
        (PARTITION, 0, "Kafka coordinates"),
    ],
)
def test_validate_repair_refuses(column: str, value: object, message: str) -> None:
    batch = repair_batch(
        [RepairRow({"id": 1}, {"id": 1}, None)],
        pa.schema([("id", pa.int64())]),
        "t",
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    i = batch.schema.get_field_index(column)
    batch = batch.set_column(i, batch.schema.field(i), pa.array([value], batch.schema.field(i).type))
    with pytest.raises(ValueError, match=message):
        validate_repair(batch, ["id"])
