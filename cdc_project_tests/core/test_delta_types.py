"""Scope: core/delta_types.py and core/partitioning.py - Arrow columns cast to what Delta Lake can store,
and the derived partition column of current-state tables. Pure pyarrow, no lake."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.core.delta_types import to_delta_compatible
from cdc_project.core.errors import ConfigError, UnsupportedLakeTypeError
from cdc_project.core.partitioning import DerivedPartition

UTC_US = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("array", "lake_type", "value"),
    [
        (pa.array([3_723_000_001], pa.time64("us")), pa.string(), "01:02:03.000001"),
        (pa.array([3_723_000_001_999], pa.time64("ns")), pa.string(), "01:02:03.000001"),  # ns truncated
        (pa.array([3_723], pa.time32("s")), pa.string(), "01:02:03.000000"),
        (pa.array([2**64 - 1], pa.uint64()), pa.decimal128(20, 0), Decimal(2**64 - 1)),  # no signed type fits
        (pa.array([2**32 - 1], pa.uint32()), pa.int64(), 2**32 - 1),  # next signed width, not the same width
        (pa.array(["x"], pa.large_string()), pa.string(), "x"),
        (pa.array([b"x"], pa.binary(1)), pa.binary(), b"x"),
        (pa.array([1.5], pa.float16()), pa.float32(), 1.5),
        (pa.array([1500], pa.duration("ms")), pa.int64(), 1_500_000),  # microseconds
        (pa.array(["a"]).dictionary_encode(), pa.string(), "a"),
        (pa.array([Decimal("1.50")], pa.decimal256(50, 2)), pa.string(), "1.50"),  # beyond decimal128
        (pa.array([Decimal("1.50")], pa.decimal256(20, 2)), pa.decimal128(20, 2), Decimal("1.50")),
        (pa.array([0], pa.timestamp("ns", tz="Europe/Oslo")), pa.timestamp("us", tz="UTC"),
         datetime(1970, 1, 1, tzinfo=UTC)),  # the same instant, in UTC
        (pa.array([[1]], pa.large_list(pa.uint8())), pa.list_(pa.int16()), [1]),  # nested conversions
    ],
)
def test_to_delta_compatible_converts(array: pa.Array, lake_type: pa.DataType, value: Any) -> None:
    result = to_delta_compatible(pa.table({"c": array}))
    assert result.schema.field("c").type.equals(lake_type, check_metadata=False)
    assert result["c"].to_pylist() == [value]


def test_to_delta_compatible_keeps_a_fitting_table_as_is() -> None:
    table = pa.table({"id": pa.array([1], pa.int64()), "s": ["x"]})
    assert to_delta_compatible(table) is table


def test_to_delta_compatible_refuses_unknown_types() -> None:
    with pytest.raises(UnsupportedLakeTypeError, match="'c'"):
        to_delta_compatible(pa.table({"c": pa.array([None], pa.null())}))


@pytest.mark.parametrize(
    ("transform", "values", "expected"),
    [
        ("day", pa.array([datetime(2024, 3, 9, 23, 59, tzinfo=UTC)], UTC_US), date(2024, 3, 9)),  # UTC day
        ("month", pa.array([date(2024, 3, 9)], pa.date32()), "2024-03"),
        ("year", pa.array([datetime(2024, 3, 9, tzinfo=UTC)], UTC_US), "2024"),
        ("identity", pa.array(["EU"]), "EU"),
    ],
)
def test_derived_partition_values(transform: str, values: pa.Array, expected: object) -> None:
    partition = DerivedPartition("c", transform, "public.t")
    result = partition.add_to(pa.table({"c": values}))
    assert partition.name == f"_cdc_part_c_{transform}"
    assert result[partition.name].to_pylist() == [expected]


def test_derived_partition_refuses_calendar_transform_of_a_string() -> None:
    with pytest.raises(ConfigError, match="identity"):
        DerivedPartition("c", "day", "public.t").add_to(pa.table({"c": ["x"]}))


def test_derived_partition_skips_an_absent_column() -> None:
    table = pa.table({"other": [1]})
    assert DerivedPartition("c", "day", "public.t").add_to(table) is table
