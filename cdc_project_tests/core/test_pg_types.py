"""Scope: core/pg_types.py - the Arrow -> PostgreSQL type dispatch table, its canonical Arrow types, and the
cast of a batch to them. Pure pyarrow; the round trip through real columns is in
adapters/test_postgres_sink.py."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.errors import UnsupportedPostgresTypeError
from cdc_project.core.pg_types import pg_type, to_pg_compatible

UTC_US = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("arrow", "sql", "canonical"),
    [
        (pa.bool_(), "boolean", pa.bool_()),
        (pa.int8(), "smallint", pa.int8()),  # no 1-byte integer: smallint, read back as int8
        (pa.int32(), "integer", pa.int32()),
        (pa.int64(), "bigint", pa.int64()),
        (pa.uint32(), "bigint", pa.int64()),  # the next signed width holds every value
        (pa.uint64(), "numeric(20,0)", pa.decimal128(20, 0)),  # no signed integer does
        (pa.float16(), "real", pa.float32()),
        (pa.float64(), "double precision", pa.float64()),
        (pa.decimal128(12, 2), "numeric(12,2)", pa.decimal128(12, 2)),
        (pa.decimal256(60, 4), "numeric(60,4)", pa.decimal256(60, 4)),  # numeric goes to 1000 digits
        (pa.large_string(), "text", pa.string()),
        (pa.binary(16), "bytea", pa.binary()),
        (pa.date64(), "date", pa.date32()),
        (pa.timestamp("ns", tz="Europe/Oslo"), "timestamptz", UTC_US),  # the same instant, in UTC
        (pa.timestamp("ms"), "timestamp", pa.timestamp("us")),
        (pa.time32("s"), "time", pa.time64("us")),
        (pa.duration("ns"), "interval", pa.duration("us")),
        (pa.dictionary(pa.int32(), pa.string()), "text", pa.string()),
        (pa.uuid(), "uuid", pa.uuid()),  # the logical marker, when a decoder sets it
        (pa.json_(), "jsonb", pa.json_()),
        (pa.large_list(pa.int32()), "integer[]", pa.list_(pa.int32())),  # lists of scalars: arrays
        (pa.list_(UTC_US), "timestamptz[]", pa.list_(UTC_US)),
        (pa.list_(pa.list_(pa.int32())), "jsonb", pa.list_(pa.list_(pa.int32()))),  # arrays are rectangular
        (pa.list_(pa.struct([("a", pa.int8())])), "jsonb", pa.list_(pa.struct([("a", pa.int8())]))),
        (pa.struct([("n", pa.uint8())]), "jsonb", pa.struct([("n", pa.int16())])),  # nested types canonical too
        (pa.map_(pa.string(), pa.int32()), "jsonb", pa.map_(pa.string(), pa.int32())),
    ],
)
def test_pg_type_maps_arrow_types(arrow: pa.DataType, sql: str, canonical: pa.DataType) -> None:
    mapped = pg_type(arrow)
    assert (mapped.sql, mapped.arrow) == (sql, canonical)


@pytest.mark.parametrize(
    ("arrow", "shown"),
    [
        (pa.null(), "null"),  # an all-null column the decoder did not type
        (pa.struct([("x", pa.null())]), "inside: null"),  # found inside a nested type too
        (pa.list_(pa.month_day_nano_interval()), "month_day_nano_interval"),
    ],
)
def test_pg_type_refuses_unknown_types_naming_the_column(arrow: pa.DataType, shown: str) -> None:
    with pytest.raises(UnsupportedPostgresTypeError, match=shown) as info:
        pg_type(arrow, "payload")
    assert info.value.column == "payload" and "pg_types.py" in str(info.value)


@pytest.mark.parametrize(
    ("array", "value"),
    [
        (pa.array([1_000_000_001_999], pa.timestamp("ns", tz="UTC")),
         datetime(1970, 1, 1, 0, 16, 40, 1, tzinfo=UTC)),  # sub-microsecond digits dropped, the one loss
        (pa.array([2**64 - 1], pa.uint64()), Decimal(2**64 - 1)),
        (pa.array(["a"]).dictionary_encode(), "a"),
        (pa.array([[1]], pa.large_list(pa.uint8())), [1]),
    ],
)
def test_to_pg_compatible_casts_to_the_canonical_types(array: pa.Array, value: Any) -> None:
    result = to_pg_compatible(pa.table({"c": array}))
    assert result.schema.field("c").type == pg_type(array.type).arrow
    assert result["c"].to_pylist() == [value]


def test_to_pg_compatible_keeps_a_fitting_table_as_is() -> None:
    table = pa.table({"id": pa.array([1], pa.int64()), "at": pa.array([0], UTC_US)})
    assert to_pg_compatible(table) is table
