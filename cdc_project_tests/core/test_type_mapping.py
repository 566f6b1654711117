"""core/type_mapping.py: every Connect/Debezium type the dispatch table knows, refusals, and column building.

Each case maps one field schema, converts one JSON value the way JsonConverter writes it, and checks both
the Arrow type and the value Arrow holds afterwards.
"""

from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timedelta, timezone
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
UTC_US = pa.timestamp("us", tz="UTC")
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
        UTC_US,  # timestamp without time zone: its wall-clock reading as UTC
        datetime(2026, 11, 22, 14, 57, 9, 457000, tzinfo=timezone.utc),
    ),
    (
        {"type": "int64", "name": "io.debezium.time.MicroTimestamp"},
        1_795_359_429_457_559,
        UTC_US,
        datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc),
    ),
    (
        {"type": "int64", "name": "io.debezium.time.NanoTimestamp"},
        1_795_359_429_457_559_123,
        UTC_US,
        datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc),
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTimestamp"},
        "2026-11-22T16:57:09.457559+02:00",  # an offset other than Z is converted to UTC
        pa.timestamp("us", tz="UTC"),
        datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc),
    ),
    (
        {"type": "string", "name": "io.debezium.time.ZonedTime"},
        "08:15:30.25Z",
        TIME_US,
        time(8, 15, 30, 250000),
    ),
    # an offset other than Z is normalised to UTC, wrapping past midnight
    ({"type": "string", "name": "io.debezium.time.ZonedTime"}, "01:00:00+02:00", TIME_US, time(23, 0)),
    ({"type": "int32", "name": "io.debezium.time.Year"}, 2026, pa.int32(), 2026),
    (
        {"type": "int64", "name": "io.debezium.time.MicroDuration"},
        37_091_106_780_000,  # recorded interval '1 year 2 months 3 days 04:05:06.78'
        pa.duration("us"),
        timedelta(microseconds=37_091_106_780_000),
    ),
    (
        {"type": "int64", "name": "io.debezium.time.NanoDuration"},  # Cassandra duration
        1_500_000_999,
        pa.duration("us"),
        timedelta(seconds=1, microseconds=500_000),
    ),
    (
        {"type": "string", "name": "io.debezium.time.Interval"},
        "P1Y2M3DT4H5M6.78S",
        pa.string(),
        "P1Y2M3DT4H5M6.78S",
    ),
    # time.precision.mode=isostring, as recorded
    ({"type": "string", "name": "io.debezium.time.IsoDate"}, "2026-11-22Z", pa.date32(), date(2026, 11, 22)),
    (
        {"type": "string", "name": "io.debezium.time.IsoTime"},
        "23:59:59.999Z",
        TIME_US,
        time(23, 59, 59, 999000),
    ),
    (
        {"type": "string", "name": "io.debezium.time.IsoTimestamp"},
        "1969-07-20T20:17:40.123Z",
        UTC_US,
        datetime(1969, 7, 20, 20, 17, 40, 123000, tzinfo=timezone.utc),
    ),
    # Kafka Connect's own logical types
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Date"}, 1, pa.date32(), date(1970, 1, 2)),
    ({"type": "int32", "name": "org.apache.kafka.connect.data.Time"}, 1_000, pa.time64("us"), time(0, 0, 1)),
    (
        {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
        1_000,
        UTC_US,
        datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc),
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
    ({"type": "string", "name": "io.debezium.data.Ltree"}, "top.mid", pa.string(), "top.mid"),
    ({"type": "string", "name": "io.debezium.data.Tsvector"}, "'a' 'cat'", pa.string(), "'a' 'cat'"),
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


BYTEA = {"type": "string", "parameters": {"__debezium.source.column.type": "BYTEA"}}


@pytest.mark.parametrize(
    ("mode", "value"),
    [
        ("base64", "AP8Q"),  # recorded bytea '\\x00ff10' under binary.handling.mode=base64
        ("base64-url-safe", "AP8Q"),
        ("hex", "00ff10"),  # recorded under binary.handling.mode=hex
    ],
)
def test_column_type_binary_handling_mode_decodes_propagated_binary_strings(mode: Any, value: str) -> None:
    column = column_type(BYTEA, "after.c_bytea", mode)
    assert column.arrow == pa.binary()
    assert column.convert is not None and column.convert(value) == b"\x00\xff\x10"


def test_column_type_binary_string_without_mode_or_source_type_stays_text() -> None:
    assert column_type(BYTEA, "after.c_bytea").arrow == pa.string()  # mode bytes: a string is a string
    assert column_type({"type": "string"}, "after.c", "hex").arrow == pa.string()  # no source type


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "int64", "name": "io.debezium.time.MicroTime"}, -3_600_000_000),  # MySQL TIME '-01:00:00'
        ({"type": "int64", "name": "io.debezium.time.MicroTime"}, 86_400_000_000),  # '24:00:00'
        ({"type": "int32", "name": "org.apache.kafka.connect.data.Time"}, 90_000_000),
    ],
)
def test_typed_array_time_outside_one_day_is_refused(schema: dict[str, Any], value: int) -> None:
    column = column_type(schema, "t")
    array, bad = typed_array([value], column, "t")
    assert array is None
    assert "outside one day" in str(bad[0])
