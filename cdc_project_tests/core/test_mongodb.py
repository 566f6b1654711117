"""core/mongodb.py: extended JSON (legacy strict, canonical, relaxed) -> Arrow types and values, and the
documented rules for columns whose documents disagree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.errors import DecodeError
from cdc_project.core.mongodb import column_array, parse_document, update_row

UTC_US = pa.timestamp("us", tz="UTC")
JOINED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("values", "arrow", "expected"),
    [
        # one BSON type, three spellings of it
        (
            [
                {"$date": 1700000000000},
                {"$date": {"$numberLong": "1700000000000"}},
                {"$date": "2023-11-14T22:13:20Z"},
            ],
            UTC_US,
            [JOINED] * 3,
        ),
        ([{"$numberLong": "5"}, 6, {"$numberInt": "7"}], pa.int64(), [5, 6, 7]),  # int32 widens to int64
        ([{"$numberInt": "1"}, None], pa.int32(), [1, None]),
        (
            [1, 2.5, {"$numberDouble": "-Infinity"}],
            pa.float64(),
            [1.0, 2.5, float("-inf")],
        ),  # ints widen to float
        ([{"$oid": "596e275826f08b2730779e1f"}], pa.string(), ["596e275826f08b2730779e1f"]),
        ([{"$numberDecimal": "0.10"}], pa.string(), ["0.10"]),  # exact text, trailing zero kept
        (
            [{"$binary": "AAE=", "$type": "00"}, {"$binary": {"base64": "Ag==", "subType": "80"}}],
            pa.binary(),
            [b"\x00\x01", b"\x02"],
        ),
        (
            [{"$binary": {"base64": "c4uUWFKvRKq1cGyfImF5cg==", "subType": "04"}}],
            pa.string(),
            ["738b9458-52af-44aa-b570-6c9f22617972"],
        ),
        ([{"$undefined": True}, "x"], pa.string(), [None, "x"]),
        # documents merge their fields; a field absent from one document is null there
        (
            [{"a": 1}, {"b": "x"}],
            pa.struct([("a", pa.int64()), ("b", pa.string())]),
            [{"a": 1, "b": None}, {"a": None, "b": "x"}],
        ),
        # arrays of documents, and an empty array that says nothing about its items
        (
            [[{"q": 1}], [], [{"q": 2, "r": True}]],
            pa.list_(pa.struct([("q", pa.int64()), ("r", pa.bool_())])),
            [[{"q": 1, "r": None}], [], [{"q": 2, "r": True}]],
        ),
        # a mixed-type array: its elements become their extended JSON text (strings stay themselves)
        ([[1, "two", {"three": 3}]], pa.list_(pa.string()), [["1", "two", '{"three":3}']]),
        # a field that is a number in one document and a string in another: string for the batch
        ([5, "five", {"$numberLong": "6"}], pa.string(), ["5", "five", '{"$numberLong":"6"}']),
        ([None, None], pa.string(), [None, None]),  # all null: string, never Arrow null
    ],
)
def test_column_array_types_and_values(values: list[Any], arrow: pa.DataType, expected: list[Any]) -> None:
    array, bad = column_array(values, "f")
    assert bad == {}
    assert array is not None and array.type == arrow
    assert array.to_pylist() == expected


def test_column_array_names_the_bad_value() -> None:
    array, bad = column_array([{"$date": 1}, {"$date": "yesterday"}], "joined")
    assert array is None and list(bad) == [1]
    assert "'joined'" in str(bad[1])


def test_parse_document_reads_legacy_nan() -> None:
    assert parse_document('{"x": NaN}', "after")["x"] != parse_document('{"x": NaN}', "after")["x"]


@pytest.mark.parametrize(
    ("description", "row"),
    [
        (
            {"updatedFields": '{"a": 1}', "removedFields": ["b"], "truncatedArrays": None},
            {"_id": 7, "a": 1, "b": None},
        ),
        ({"updatedFields": None, "removedFields": None, "truncatedArrays": []}, {"_id": 7}),
    ],
)
def test_update_row_top_level_fields(description: dict[str, Any], row: dict[str, Any]) -> None:
    assert update_row(description, 7) == row


@pytest.mark.parametrize(
    "description",
    [
        {"updatedFields": '{"address.city": "Oslo"}'},
        {"removedFields": ["tags.1"]},
        {"truncatedArrays": [{"field": "tags", "size": 1}]},
        None,
    ],
)
def test_update_row_refuses_what_whole_columns_cannot_express(description: Any) -> None:
    with pytest.raises(DecodeError):
        update_row(description, 7)
