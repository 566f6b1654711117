"""Scope: core/schema_diff.py - classifying stored-vs-incoming schema differences, the per-table policy,
and casting a batch to the stored types. Pure pyarrow, no lake."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdc_project.core.errors import SchemaChangeError
from cdc_project.core.schema_diff import SchemaDiff, SchemaPolicy, check_policy, conform, diff_schemas

STRUCT_A = pa.struct([("zip", pa.string())])
STRUCT_AB = pa.struct([("zip", pa.string()), ("city", pa.string())])


def changed(diff: SchemaDiff) -> dict[str, list[str]]:
    kinds = ("added", "widened", "narrowed", "incompatible")
    return {k: [c.column for c in getattr(diff, k)] for k in kinds if getattr(diff, k)}


@pytest.mark.parametrize(
    ("stored", "incoming", "expected"),
    [
        (pa.int32(), pa.int32(), {}),  # unchanged
        (pa.int8(), pa.int64(), {"widened": ["c"]}),  # integer widening, any step
        (pa.float32(), pa.float64(), {"widened": ["c"]}),
        (pa.decimal128(10, 2), pa.decimal128(18, 2), {"widened": ["c"]}),  # more digits, same scale
        (pa.int64(), pa.int16(), {"narrowed": ["c"]}),  # events older than the widening: cast up
        (pa.int64(), pa.float64(), {"incompatible": ["c"]}),  # float64 cannot hold every int64
        (pa.decimal128(10, 2), pa.decimal128(12, 3), {"incompatible": ["c"]}),  # scale change
        (pa.string(), pa.int64(), {"incompatible": ["c"]}),
        (STRUCT_A, STRUCT_AB, {"added": ["c.city"]}),  # nested field addition
        (STRUCT_AB, STRUCT_A, {}),  # a nested field the batch lacks stays null
        (pa.list_(pa.int32()), pa.list_(pa.int64()), {"widened": ["c.element"]}),
        (pa.list_(pa.int32()), pa.large_list(pa.int32()), {}),  # list flavour is not a change
    ],
)
def test_diff_schemas_classifies_columns(
    stored: pa.DataType, incoming: pa.DataType, expected: dict[str, list[str]]
) -> None:
    stored_schema = pa.schema([("id", pa.int64()), ("c", stored)])
    diff = diff_schemas(stored_schema, pa.schema([("id", pa.int64()), ("c", incoming)]))
    assert changed(diff) == expected


def test_diff_schemas_added_and_missing_columns() -> None:
    stored = pa.schema([("id", pa.int64()), ("gone", pa.string())])
    diff = diff_schemas(stored, pa.schema([("id", pa.int64()), ("new", pa.bool_())]))
    assert changed(diff) == {"added": ["new"]}
    assert diff.missing == ("gone",)
    assert diff.changes_lake


@pytest.mark.parametrize(
    ("policy", "incoming", "refused"),
    [
        ("evolve", pa.schema([("a", pa.int64()), ("b", pa.string())]), False),  # add + widen
        ("lenient", pa.schema([("a", pa.int64()), ("b", pa.string())]), False),  # widening is cast later
        ("strict", pa.schema([("a", pa.int32()), ("b", pa.string())]), True),  # an added column
        ("strict", pa.schema([("a", pa.int64())]), True),  # a widened column
        ("strict", pa.schema([("a", pa.int16())]), False),  # narrower: cast up, the lake does not change
        ("evolve", pa.schema([("a", pa.string())]), True),  # incompatible under every policy
        ("lenient", pa.schema([("a", pa.string())]), True),
    ],
)
def test_check_policy(policy: SchemaPolicy, incoming: pa.Schema, refused: bool) -> None:
    diff = diff_schemas(pa.schema([("a", pa.int32())]), incoming)
    if refused:
        with pytest.raises(SchemaChangeError) as info:
            check_policy(diff, policy, "public.t")
        assert (info.value.table, info.value.policy) == ("public.t", policy)
    else:
        check_policy(diff, policy, "public.t")


def test_check_policy_refuses_unknown_policy() -> None:
    with pytest.raises(ValueError, match="Valid values are"):
        check_policy(SchemaDiff(), "loose", "public.t")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("incoming", "values", "engine_widens", "expected_type"),
    [
        (pa.int16(), [1, None], False, pa.int32()),  # narrowed: cast up to the stored type
        (pa.int64(), [7], False, pa.int32()),  # widened but fits: kept in the stored type
        (pa.int64(), [7], True, pa.int64()),  # an engine that widens keeps the wider type (evolve)
    ],
)
def test_conform_casts_to_stored_types(
    incoming: pa.DataType, values: list[int | None], engine_widens: bool, expected_type: pa.DataType
) -> None:
    rows = pa.table({"a": pa.array(values, incoming), "extra": ["x"] * len(values)})
    result = conform(rows, pa.schema([("a", pa.int32())]), "evolve", "public.t", engine_widens=engine_widens)
    assert result.schema.field("a").type == expected_type
    assert result["a"].to_pylist() == values
    assert result["extra"].to_pylist() == ["x"] * len(values)  # columns the table lacks pass through


def test_conform_refuses_a_widened_value_that_does_not_fit() -> None:
    rows = pa.table({"a": pa.array([2**40], pa.int64())})
    with pytest.raises(SchemaChangeError, match="public.t.a"):
        conform(rows, pa.schema([("a", pa.int32())]), "lenient", "public.t", engine_widens=False)


def test_conform_merges_nested_struct_fields() -> None:
    stored = pa.schema([("addr", pa.struct([("zip", pa.int64()), ("street", pa.string())]))])
    incoming = pa.struct([("city", pa.string()), ("zip", pa.int32())])
    rows = pa.table({"addr": pa.array([{"city": "Oslo", "zip": 150}], incoming)})
    result = conform(rows, stored, "evolve", "public.t", engine_widens=False)
    assert result.schema.field("addr").type == pa.struct([("zip", pa.int64()), ("city", pa.string())])
    assert result["addr"].to_pylist() == [{"zip": 150, "city": "Oslo"}]
