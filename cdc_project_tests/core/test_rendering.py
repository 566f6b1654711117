"""core/rendering.py: the JSON forms `cdc decode` prints."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cdc_project.core.rendering import qualified_table, render


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.30"), "12.30"),  # exact, trailing zero kept
        (Decimal("1E+3"), "1000"),  # never scientific
        (
            datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T01:04:05.000006Z",
        ),
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000Z"),
        (date(2026, 1, 2), "2026-01-02"),
        (time(8, 15, 30, 250000), "08:15:30.250000"),
        (timedelta(seconds=-90), "-PT90.000000S"),
        (b"\x00\xff", "AP8="),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        ([("a", 1), ("b", None)], {"a": 1, "b": None}),  # a map with string keys
        ([(1, b"x")], [[1, "eA=="]]),  # any other map
        ({"s": [Decimal("1.5")]}, {"s": ["1.5"]}),
        ("c88f116d-7161-4809-b188-582db688d324", "c88f116d-7161-4809-b188-582db688d324"),
    ],
)
def test_render_forms(value: Any, expected: Any) -> None:
    assert render(value) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"connector": "postgresql", "db": "shop", "schema": "public", "table": "t"}, "shop.public.t"),
        ({"connector": "mysql", "db": "inventory", "table": "customers"}, "inventory.inventory.customers"),
        (
            {"connector": "mongodb", "db": "inventory", "collection": "customers"},
            "inventory.inventory.customers",
        ),
        ({"connector": "cassandra", "keyspace": "ks", "table": "t"}, "ks.ks.t"),
        ({}, None),
    ],
)
def test_qualified_table_for_every_connector(source: dict[str, Any], expected: str | None) -> None:
    assert qualified_table(source) == expected
