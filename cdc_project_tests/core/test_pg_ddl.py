"""Scope: core/pg_ddl.py - quoted identifiers and their length limit, CREATE TABLE, and the ALTER TABLE that
schema evolution needs (added columns, widened types, nested fields without DDL). Pure; the statements run
against the live cluster in adapters/test_postgres_sink.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdc_project.core.errors import IdentifierTooLongError
from cdc_project.core.pg_ddl import create_table, evolve, ident, merged_schema

ZIP = pa.struct([("zip", pa.int32())])
ZIP_CITY = pa.struct([("zip", pa.int32()), ("city", pa.string())])


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("customers", '"customers"'),
        ("Order Items", '"Order Items"'),  # case and spaces kept
        ('a"b', '"a""b"'),  # an embedded quote is doubled, never ends the identifier
        ("ü" * 31, '"' + "ü" * 31 + '"'),  # 62 bytes: fits
    ],
)
def test_ident_quotes(name: str, quoted: str) -> None:
    assert ident(name) == quoted


def test_ident_refuses_what_the_server_would_truncate() -> None:
    with pytest.raises(IdentifierTooLongError, match="schema_prefix") as info:
        ident("ü" * 32)  # 64 bytes in UTF-8, though 32 characters
    assert info.value.limit == 63


def test_create_table_types_columns_collates_positions_and_keys() -> None:
    schema = pa.schema([("id", pa.int64()), ("_cdc_position", pa.string()), ("tags", pa.list_(pa.string()))])
    assert create_table("shop_public", "t", schema, ["id"]) == (
        'CREATE TABLE "shop_public"."t" ("id" bigint, "_cdc_position" text COLLATE "C", "tags" text[], '
        'PRIMARY KEY ("id"))'
    )


@pytest.mark.parametrize(
    ("stored", "incoming", "statement"),
    [
        # nothing changes: no statement, the same schema
        ({"a": pa.int32()}, {"a": pa.int32()}, None),
        ({"a": pa.int32()}, {"a": pa.int32(), "b": pa.string()}, 'ALTER TABLE "s"."t" ADD COLUMN "b" text'),
        ({"a": pa.int32()}, {"a": pa.int64()}, 'ALTER TABLE "s"."t" ALTER COLUMN "a" TYPE bigint USING "a"::bigint'),
        ({"a": pa.float32()}, {"a": pa.float64()},
         'ALTER TABLE "s"."t" ALTER COLUMN "a" TYPE double precision USING "a"::double precision'),
        ({"a": pa.decimal128(5, 2)}, {"a": pa.decimal128(12, 2)},
         'ALTER TABLE "s"."t" ALTER COLUMN "a" TYPE numeric(12,2) USING "a"::numeric(12,2)'),
        ({"a": pa.list_(pa.int32())}, {"a": pa.list_(pa.int64())},
         'ALTER TABLE "s"."t" ALTER COLUMN "a" TYPE bigint[] USING "a"::bigint[]'),
        ({"a": pa.int8()}, {"a": pa.int16()}, None),  # both smallint: only the stored Arrow type changes
        ({"a": ZIP}, {"a": ZIP_CITY}, None),  # a new nested field: jsonb already holds it
        # several changes: one statement, one table rewrite
        ({"a": pa.int32()}, {"a": pa.int64(), "b": pa.bool_()},
         'ALTER TABLE "s"."t" ALTER COLUMN "a" TYPE bigint USING "a"::bigint, ADD COLUMN "b" boolean'),
    ],
)
def test_evolve_alters_only_what_changes(
    stored: dict[str, pa.DataType], incoming: dict[str, pa.DataType], statement: str | None
) -> None:
    evolution = evolve("s", "t", pa.schema(stored), pa.schema(incoming))
    assert evolution.statement == statement
    assert evolution.schema == merged_schema(pa.schema(stored), pa.schema(incoming))


def test_merged_schema_keeps_stored_columns_and_fields_the_batch_lacks() -> None:
    stored = pa.schema([("id", pa.int64()), ("addr", ZIP_CITY), ("gone", pa.string())])
    incoming = pa.schema([("id", pa.int64()), ("addr", pa.struct([("zip", pa.int32()), ("country", pa.string())]))])
    merged = merged_schema(stored, incoming)
    assert merged.names == ["id", "addr", "gone"]
    assert [f.name for f in merged.field("addr").type] == ["zip", "city", "country"]
