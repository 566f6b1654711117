"""Scope: canonical forms of values for reconciliation (core/canonical.py): the PostgreSQL type dispatch
(unknown types refused) and the exact normalization that decides whether two renderings of a value are
the same data - timestamp zones, decimal scale, JSON key order and spelling, float spelling, arrays."""

from __future__ import annotations

import pytest

from cdc_project.core.canonical import CanonicalColumn, canon_for_pg_type, canonical_json, normalize
from cdc_project.core.errors import UnsupportedReconcileTypeError


@pytest.mark.parametrize(
    ("type_name", "kwargs", "expected"),
    [
        ("int8", {}, CanonicalColumn("c", "integer")),
        ("numeric", {}, CanonicalColumn("c", "decimal")),
        ("timestamptz", {}, CanonicalColumn("c", "timestamp")),  # instants: the zone is representation
        ("timestamp", {}, CanonicalColumn("c", "timestamp")),
        ("jsonb", {}, CanonicalColumn("c", "json")),
        ("bpchar", {}, CanonicalColumn("c", "char")),  # char(n): the pad is not data
        ("mood", {"is_enum": True}, CanonicalColumn("c", "text")),
        ("_text", {"element": "text"}, CanonicalColumn("c", "array", "text")),
        ("_numeric", {"element": "numeric"}, CanonicalColumn("c", "array", "decimal")),
    ],
)
def test_canon_for_pg_type_maps_the_catalog_type(
    type_name: str, kwargs: dict, expected: CanonicalColumn
) -> None:
    assert canon_for_pg_type("c", type_name, **kwargs) == expected


@pytest.mark.parametrize("type_name", ["interval", "timetz", "money", "point"])
def test_canon_for_pg_type_refuses_types_without_a_cross_engine_form(type_name: str) -> None:
    with pytest.raises(UnsupportedReconcileTypeError, match="exclude_columns"):
        canon_for_pg_type("c", type_name)


@pytest.mark.parametrize(
    ("canon", "element", "a", "b"),
    [
        ("decimal", None, "12.50", "12.5"),  # decimal scale
        ("decimal", None, "12.500", "12.5"),
        ("decimal", None, "100", "100.00"),
        ("decimal", None, "0.00", "0"),
        ("integer", None, "007", "7"),
        ("float", None, "1e+20", "1e20"),  # PostgreSQL vs another engine's spelling
        ("float", None, "Infinity", "inf"),
        ("float", None, "NaN", "nan"),
        ("boolean", None, "t", "true"),
        ("char", None, "ab   ", "ab"),
        ("uuid", None, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (
            "json",
            None,
            '{"b": 1, "a": [1, {"y": 2, "x": null}]}',
            '{"a":[1,{"x":null,"y":2}],"b":1}',
        ),  # key order
        ("json", None, '{"n": 1.50}', '{"n":1.5}'),
        ("json", None, '{"k": 1, "k": 2}', '{"k": 2}'),  # a duplicate key: the last wins, as in jsonb
        ("array", "text", '["a", "b"]', '["a","b"]'),
        ("array", "decimal", "[1.50, 2]", "[1.5,2.00]"),
        # the same instant written by PostgreSQL (offset) and DuckDB (space, short offset)
        ("array", "timestamp", '["2024-01-01T02:00:00+02:00"]', '["2024-01-01 00:00:00+00"]'),
        ("array", "date", '["2024-01-02"]', '["2024-01-02"]'),
    ],
)
def test_normalize_makes_representations_of_the_same_data_equal(
    canon: str, element: str | None, a: str, b: str
) -> None:
    column = CanonicalColumn("c", canon, element)  # type: ignore[arg-type]
    assert normalize(a, column) == normalize(b, column)


@pytest.mark.parametrize(
    ("canon", "element", "a", "b"),
    [
        ("decimal", None, "12.5", "12.51"),
        ("text", None, "ab", "ab "),  # text keeps trailing spaces; only char(n) drops them
        ("json", None, '{"a": 1}', '{"a": "1"}'),
        ("json", None, "[1, 2]", "[2, 1]"),  # array order is data
        ("array", "text", '["a", "b"]', '["b", "a"]'),
        ("array", "timestamp", '["2024-01-01T00:00:00+00:00"]', '["2024-01-01 00:00:01+00"]'),
        ("float", None, "0.1", "0.1000001"),
    ],
)
def test_normalize_keeps_different_data_different(canon: str, element: str | None, a: str, b: str) -> None:
    column = CanonicalColumn("c", canon, element)  # type: ignore[arg-type]
    assert normalize(a, column) != normalize(b, column)


def test_normalize_keeps_null_distinct_from_empty() -> None:
    column = CanonicalColumn("c", "text")
    assert normalize(None, column) is None and normalize("", column) == ""


def test_canonical_json_is_compact_sorted_and_keeps_unicode() -> None:
    assert canonical_json('{"é": "x\\n", "a": true, "b": [1e2, -0.0]}') == '{"a":true,"b":[100,0],"é":"x\\n"}'
