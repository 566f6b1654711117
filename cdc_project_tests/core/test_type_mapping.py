"""core/type_mapping.py: every Connect/Debezium type the dispatch table knows, refusals, and column building.

Each case maps one field schema, converts one JSON value the way JsonConverter writes it, and checks both
the Arrow type and the value Arrow holds afterwards.
"""

from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.errors import UnknownTypeError, ValueConversionError
from cdc_project.core.type_mapping import (
    ColumnType,
    column_type,
    inferred_array,
    typed_array,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unscaled(number: int, width: int = 8) -> str:
    return b64(number.to_bytes(width, "big", signed=True))


def roundtrip(schema: dict[str, Any], value: Any) -> tuple[pa.DataType, Any]:
    column = column_type(schema, "f")
    converted = value if column.convert is None else column.convert(value)
    return column.arrow, pa.array([converted], type=column.arrow).to_pylist()[0]


TIME_US = pa.time64("us")
GEOMETRY_FIELDS = [
    {"type": "bytes", "optional": False, "field": "wkb"},
    {"type": "int32", "optional": True, "field": "srid"},
]

CASES = [
    # connect types without a logical name
    ({"type": "int8"}, 7, pa.int8(), 7),
    ({"type": "int16"}, -300, pa.int16(), -300),
    ({"type": "int32"}, 70000, pa.int32(), 70000),
    ({"type": "int64"}, 2**40, pa.int64(), 2**40),
    ({"type": "float"}, 1.5, pa.float32(), 1.5),  # JsonConverter's spelling of float32
    ({"type": "float32"}, 1.5, pa.float32(), 1.5),
    ({"type": "double"}, 2.25, pa.float64(), 2.25),  # JsonConverter's spelling of float64
    ({"type": "float64"}, "Infinity", pa.float64(), math.inf),  # Jackson writes infinities as strings
    ({"type": "boolean"}, True, pa.bool_(), True),
    ({"type": "string"}, "héllo", pa.string(), "héllo"),
    ({"type": "bytes"}, b64(b"\x00\xff"), pa.binary(), b"\x00\xff"),  # base64 in JSON
    ({"type": "array", "items": {"type": "int32"}}, [1, None, 3], pa.list_(pa.int32()), [1, None, 3]),
    (
        {"type": "array", "items": {"type": "int32", "name": "io.debezium.time.Date"}},
        [0, 1],
        pa.list_(pa.date32()),
        [date(1970, 1, 1), date(1970, 1, 2)],
    ),
    (
        {"type": "struct", "name": "shop.public.t.Address", "fields": [{"type": "string", "field": "city"}]},
        {"city": "Oslo"},
        pa.struct([pa.field("city", pa.string())]),
        {"city": "Oslo"},
    ),
    (
        {"type": "map", "keys": {"type": "string"}, "values": {"type": "int32"}},
        {"a": 1},  # string keys: a JSON object
        pa.map_(pa.string(), pa.int32()),
        [("a", 1)],
    ),
    (
        {"type": "map", "keys": {"type": "int32"}, "values": {"type": "bytes"}},
        [[1, b64(b"x")]],  # other keys: an array of [key, value] pairs
        pa.map_(pa.int32(), pa.binary()),
        [(1, b"x")],
    ),
    # Debezium temporal types
    ({"type": "int32", "name": "io.debezium.time.Date"}, 20779, pa.date32(), date(2026, 11, 22)),
    ({"type": "int32", "name": "io.debezium.time.Time"}, 43_201_000, pa.time64("us"), time(12, 0, 1)),
    ({"type": "int64", "name": "io.debezium.time.MicroTime"}, 43_201_000_001, TIME_US, time(12, 0, 1, 1)),
    ({"type": "int64", "name": "io.debezium.time.NanoTime"}, 43_201_000_001_999, TIME_US, time(12, 0, 1, 1)),
    (
        {"type": "int64", "name": "io.debezium.time.Timestamp"},
        1_795_359_429_457,
        pa.timestamp("us"),
        datetime(2026, 11, 22, 14, 57, 9, 457000),
    ),
    (
        {"type": "int64", "name": "io.debezium.time.MicroTimestamp"},
        1_795_359_429_457_559,
        pa.timestamp("us"),
        datetime(2026, 11, 22, 14, 57, 9, 457559),
    ),
    (
        {"type": "int64", "name": "io.debezium.time.NanoTimestamp"},
        1_795_359_429_457_559_123,
        pa.timestamp("us"),
        datetime(2026, 11, 22, 14, 57, 9, 457559),
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp"},
        "2026-11-22T16:57:09.457559+02:00",  # an offset other than Z is converted to UTC
        pa.timestamp("us", tz="UTC"),
        datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc),
    ),
    ({"type": "string", "name": "io.debezium.time.ZonedTime"}, "12:00:01Z", pa.string(), "12:00:01Z"),
    ({"type": "int32", "name": "io.debezium.time.Year"}, 2026, pa.int32(), 2026),
    ({"type": "int64", "name": "io.debezium.time.MicroDuration"}, 3_600_000_000, pa.int64(), 3_600_000_000),
    # Kafka Connect's own logical types
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Date"}, 1, pa.date32(), date(1970, 1, 2)),
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Time"}, 1_000, pa.time64("us"), time(0, 0, 1)),
    (
        {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
        1_000,
        pa.timestamp("us"),
        datetime(1970, 1, 1, 0, 0, 1),
    ),
    # decimals
    (
        {
            "type": "bytes",
            "name": "org.apache.kafka.connect.data.Decimal",
            "parameters": {"scale": "2", "connect.decimal.precision": "10"},
        },
        "BNI=",  # recorded numeric(10,2) 12.34
        pa.decimal128(10, 2),
        Decimal("12.34"),
    ),
    (
        {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}},
        unscaled(-1234567),  # two's complement negative; no precision parameter -> 38
        pa.decimal128(38, 3),
        Decimal("-1234.567"),
    ),
    (
        {
            "type": "bytes",
            "name": "org.apache.kafka.connect.data.Decimal",
            "parameters": {"scale": "30", "connect.decimal.precision": "65"},
        },
        unscaled(10**40, 20),  # MySQL DECIMAL(65,30) needs decimal256
        pa.decimal256(65, 30),
        Decimal("10000000000.000000000000000000000000000000"),
    ),
    (
        {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []},
        {"scale": 1, "value": "Nw=="},  # recorded numeric 5.5
        pa.string(),
        "5.5",
    ),
    (
        {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []},
        {"scale": 10, "value": b64(b"\x00")},  # zero keeps its scale, never "0E-10"
        pa.string(),
        "0.0000000000",
    ),
    ({"type": "string"}, "12.3400", pa.string(), "12.3400"),  # decimal.handling.mode=string
    ({"type": "double"}, 12.34, pa.float64(), 12.34),  # decimal.handling.mode=double
    # semantic strings
    ({"type": "string", "name": "io.debezium.data.Json"}, '{"a": 1}', pa.string(), '{"a": 1}'),
    ({"type": "string", "name": "io.debezium.data.Xml"}, "<a/>", pa.string(), "<a/>"),
    ({"type": "string", "name": "io.debezium.data.Uuid"}, "c88f116d-7161", pa.string(), "c88f116d-7161"),
    ({"type": "string", "name": "io.debezium.data.Enum"}, "red", pa.string(), "red"),
    ({"type": "string", "name": "io.debezium.data.EnumSet"}, "a,b", pa.string(), "a,b"),
    (
        {"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "3"}},
        b64(b"\x05"),  # BitSet bytes, little-endian: B'101'
        pa.string(),
        "101",
    ),
    (
        {"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "10"}},
        b64(b"\x01\x02"),  # bit 0 and bit 9 set
        pa.string(),
        "1000000001",
    ),
    # geometry
    (
        {"type": "struct", "name": "io.debezium.data.geometry.Geometry", "fields": GEOMETRY_FIELDS},
        {"wkb": b64(b"\x01\x01"), "srid": 4326},
        pa.struct([pa.field("wkb", pa.binary()), pa.field("srid", pa.int32())]),
        {"wkb": b"\x01\x01", "srid": 4326},
    ),
    (
        {"type": "struct", "name": "io.debezium.data.geometry.Geography", "fields": GEOMETRY_FIELDS},
        {"wkb": b64(b"\x02"), "srid": None},
        pa.struct([pa.field("wkb", pa.binary()), pa.field("srid", pa.int32())]),
        {"wkb": b"\x02", "srid": None},
    ),
]


@pytest.mark.parametrize(
    ("schema", "value", "arrow", "expected"),
    CASES,
    ids=[f"{case[0].get('name') or case[0]['type']}-{i}" for i, case in enumerate(CASES)],
)
def test_column_type_maps_and_converts(
    schema: dict[str, Any], value: Any, arrow: pa.DataType, expected: Any
) -> None:
    actual_type, actual = roundtrip(schema, value)
    assert actual_type == arrow
    assert actual == expected


def test_column_type_nan_string_is_nan() -> None:
    _, value = roundtrip({"type": "float"}, "NaN")
    assert math.isnan(value)


@pytest.mark.parametrize(
    ("schema", "logical"),
    [
        ({"type": "int64", "name": "com.example.Money"}, "com.example.Money"),  # unknown logical name
        # a known logical name on the wrong connect type
        ({"type": "string", "name": "io.debezium.time.Date"}, "io.debezium.time.Date"),
        ({"type": "array", "name": "com.example.Vector", "items": {"type": "int8"}}, "com.example.Vector"),
        ({"type": "uint64"}, None),  # not a Connect type
    ],
)
def test_column_type_unknown_type_raises(schema: dict[str, Any], logical: str | None) -> None:
    with pytest.raises(UnknownTypeError) as raised:
        column_type(schema, "after.price")
    assert raised.value.field == "after.price"
    assert raised.value.logical_name == logical
    assert "type_mapping.py" in str(raised.value)


def test_column_type_unknown_type_inside_array_names_the_path() -> None:
    with pytest.raises(UnknownTypeError) as raised:
        column_type({"type": "array", "items": {"type": "int64", "name": "x.Y"}}, "after.tags")
    assert raised.value.field == "after.tags[]"


def test_typed_array_returns_the_offending_rows() -> None:
    column = column_type({"type": "int8"}, "small")
    array, bad = typed_array([1, 300, None, -129], column, "small")
    assert array is None
    assert sorted(bad) == [1, 3]
    assert all(isinstance(exc, ValueConversionError) and exc.field == "small" for exc in bad.values())


def test_typed_array_converter_failure_names_the_row() -> None:
    column = column_type({"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, "ts")
    array, bad = typed_array(["2026-11-22T14:57:09Z", "yesterday", None], column, "ts")
    assert array is None
    assert list(bad) == [1]


def test_typed_array_fast_path_keeps_nulls() -> None:
    array, bad = typed_array([None, "BNI="], ColumnType(pa.binary(), base64.b64decode), "b")
    assert bad == {}
    assert array is not None and array.to_pylist() == [None, b"\x04\xd2"]


@pytest.mark.parametrize(
    ("raw", "expected_type", "expected"),
    [
        ([1, 2.5, None], pa.float64(), [1.0, 2.5, None]),  # ints and floats widen
        ([1, "a"], pa.string(), ["1", "a"]),  # mixed types keep their JSON text (lossy, documented)
        ([{"a": 1}, [1]], pa.string(), ['{"a":1}', "[1]"]),
        ([None, None], pa.string(), [None, None]),  # all-null columns become string, not Arrow null
    ],
)
def test_inferred_array_types(raw: list[Any], expected_type: pa.DataType, expected: list[Any]) -> None:
    array = inferred_array(raw)
    assert array.type == expected_type
    assert array.to_pylist() == expected
