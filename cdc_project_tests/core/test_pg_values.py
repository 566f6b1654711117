"""Scope: core/pg_values.py - COPY CSV text rendered column-wise from Arrow (what PostgreSQL's input
functions read), jsonb documents built from and read back into Arrow types, and arrays of fetched values.
Pure pyarrow; COPY into real tables is in adapters/test_postgres_sink.py."""

from __future__ import annotations

import csv
import io
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.pg_values import arrow_column, copy_csv, from_json, to_json

UTC_US = pa.timestamp("us", tz="UTC")


def csv_fields(array: pa.Array) -> list[str]:
    """The rendered CSV fields of a one-column table, quotes kept (they tell '' from NULL)."""
    return copy_csv(pa.table({"c": array})).decode().splitlines()


@pytest.mark.parametrize(
    ("array", "fields"),
    [
        (pa.array(["", None, 'say "hi"']), ['""', "", '"say ""hi"""']),  # empty string is not NULL
        (pa.array([1.5, math.nan, -math.inf]), ["1.5", "nan", "-inf"]),  # float8in reads these
        (pa.array([datetime(2024, 1, 1, 12, tzinfo=UTC)], UTC_US), ["2024-01-01 12:00:00.000000"]),  # UTC session
        (pa.array([time(9, 30)], pa.time64("us")), ["09:30:00.000000"]),
        (pa.array([b"\x00\xff", None]), ['"\\x00ff"', ""]),  # bytea hex input
        (pa.array([uuid.UUID(int=255)], pa.uuid()), ['"000000000000000000000000000000ff"']),
        (pa.array([timedelta(seconds=1, microseconds=5)], pa.duration("us")), ['"1000005 microseconds"']),
        (pa.array([[1, None], []], pa.list_(pa.int32())), ['"{""1"",NULL}"', '"{}"']),
        (pa.array([['a"b', "c\\d"]]), ['"{""a\\""b"",""c\\\\d""}"']),  # array literal escapes, then CSV quotes
        (pa.array([[True]]), ['"{""t""}"']),
        (pa.array(['{"a": 1}'], pa.json_()), ['"{""a"": 1}"']),  # already JSON text
        (pa.array([{"n": Decimal("1.50")}], pa.struct([("n", pa.decimal128(5, 2))])), ['"{""n"":""1.50""}"']),
    ],
)
def test_copy_csv_renders_postgres_input_text(array: pa.Array, fields: list[str]) -> None:
    assert csv_fields(array) == fields


def test_copy_csv_keeps_rows_and_columns_aligned() -> None:
    table = pa.table({"id": [1, 2], "text": ["line\nbreak", None], "tags": pa.array([["x"], None])})
    rows = list(csv.reader(io.StringIO(copy_csv(table).decode())))
    assert rows == [["1", "line\nbreak", '{"x"}'], ["2", "", ""]]


STRUCT = pa.struct([
    ("price", pa.decimal128(5, 2)), ("at", UTC_US), ("day", pa.date32()), ("raw", pa.binary()),
    ("ratio", pa.float64()), ("took", pa.duration("us")), ("id", pa.uuid()), ("t", pa.time64("us")),
])


@pytest.mark.parametrize(
    ("arrow", "value", "document"),
    [
        (
            STRUCT,
            {"price": Decimal("9.99"), "at": datetime(2024, 1, 1, tzinfo=UTC), "day": date(2024, 2, 29),
             "raw": b"\x01", "ratio": math.inf, "took": timedelta(milliseconds=2), "id": uuid.UUID(int=1),
             "t": time(1, 2, 3)},
            {"price": "9.99", "at": "2024-01-01T00:00:00+00:00", "day": "2024-02-29", "raw": "AQ==",
             "ratio": "Infinity", "took": 2000, "id": "00000000-0000-0000-0000-000000000001", "t": "01:02:03"},
        ),
        (pa.map_(pa.string(), pa.int32()), [("a", 1)], {"a": 1}),  # string keys: an object
        (pa.map_(pa.int64(), pa.string()), [(7, "x")], [[7, "x"]]),  # other keys: [key, value] pairs
        (pa.list_(pa.list_(pa.float64())), [[1.5], [], None], [[1.5], [], None]),
    ],
)
def test_json_documents_are_built_from_the_arrow_type_and_read_back(arrow: pa.DataType, value: Any, document: Any) -> None:
    assert to_json(value, arrow) == document
    read = arrow_column([document], arrow, "c")
    assert read.type == arrow and read.to_pylist() == [value]
    assert to_json(read.to_pylist()[0], arrow) == document  # to_pylist gives what the writer sees


def test_json_struct_without_a_field_reads_it_as_null() -> None:
    """A row written before the source added a nested field has no key for it: jsonb needs no DDL."""
    arrow = pa.struct([("zip", pa.int32()), ("city", pa.string())])
    assert from_json({"zip": 2}, arrow) == {"zip": 2, "city": None}


@pytest.mark.parametrize(
    ("values", "arrow"),
    [
        ([memoryview(b"\x00"), None], pa.binary()),  # psycopg2 returns bytea as memoryview
        ([uuid.UUID(int=3), None], pa.uuid()),
        ([[uuid.UUID(int=3)], None], pa.list_(pa.uuid())),  # built at the storage type, then cast
        ([[memoryview(b"x"), None]], pa.list_(pa.binary())),
        ([Decimal("1.50"), None], pa.decimal128(5, 2)),
    ],
)
def test_arrow_column_builds_fetched_values(values: list[Any], arrow: pa.DataType) -> None:
    column = arrow_column(values, arrow, "c")
    assert column.type == arrow and len(column) == len(values)
    assert column.null_count == sum(v is None for v in values)
