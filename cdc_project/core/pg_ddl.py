"""PostgreSQL DDL of the sink's tables: identifiers, CREATE TABLE, and schema evolution by ALTER TABLE.

Every table the sink writes has its canonical Arrow schema (core/pg_types.py) stored in
`<schema>._cdc_table_schemas`; `evolve` compares that with a conformed batch (core/schema_diff.conform ran
first, so the policy has already refused what it refuses) and returns the new Arrow schema plus the one
ALTER TABLE that gets the table there: ADD COLUMN for new columns, ALTER COLUMN TYPE for widened ones
(int -> bigint, real -> double precision, numeric precision up, and their arrays). A field added inside a
struct or map is jsonb on both sides: the stored Arrow schema changes, the table does not. DDL is
transactional in PostgreSQL, so the ALTER commits with the rows and offsets or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.types as pt

from cdc_project.core.columns import POSITION
from cdc_project.core.errors import IdentifierTooLongError
from cdc_project.core.pg_types import pg_type

IDENTIFIER_LIMIT = 63  # NAMEDATALEN - 1: longer names are truncated by the server, silently
OFFSETS_TABLE = "_cdc_offsets"
TOPIC_ID_COLUMN = "topic_id"  # of OFFSETS_TABLE: the Kafka topic ID the offsets count in
SCHEMAS_TABLE = "_cdc_table_schemas"


def ident(name: str) -> str:
    """`name` as a quoted identifier (case and any character kept); refuses what the server would truncate."""
    if len(name.encode()) > IDENTIFIER_LIMIT:
        raise IdentifierTooLongError(name, IDENTIFIER_LIMIT)
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


def column_def(field: pa.Field) -> str:
    sql = pg_type(field.type, field.name).sql
    # Order invariant: positions are fixed-width hex compared as bytes, never by a locale's collation.
    collate = ' COLLATE "C"' if field.name == POSITION else ""
    return f"{ident(field.name)} {sql}{collate}"


def create_table(schema: str, table: str, columns: pa.Schema, primary_key: Sequence[str] = ()) -> str:
    defs = [column_def(f) for f in columns]
    if primary_key:
        defs.append(f"PRIMARY KEY ({', '.join(ident(k) for k in primary_key)})")
    return f"CREATE TABLE {qualified(schema, table)} ({', '.join(defs)})"


def create_stage(stage: str, columns: pa.Schema) -> str:
    """A temporary staging table for COPY, gone at the end of the transaction."""
    return f"CREATE TEMP TABLE {ident(stage)} ({', '.join(column_def(f) for f in columns)}) ON COMMIT DROP"


def bootstrap(schema: str) -> list[str]:
    """The target schema, its offsets table and its table-schema registry, if missing; on a schema an earlier
    version bootstrapped, what that lacks. The last statement's change is what marks a schema complete
    (postgres_tables.ensure_bootstrap), so a change added later goes last."""
    offsets = qualified(schema, OFFSETS_TABLE)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}",
        f"CREATE TABLE IF NOT EXISTS {offsets} (table_name text NOT NULL, "
        "topic text NOT NULL, partition integer NOT NULL, last_offset bigint NOT NULL, "
        "PRIMARY KEY (table_name, topic, partition))",
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, SCHEMAS_TABLE)} (table_name text PRIMARY KEY, "
        "arrow_schema bytea NOT NULL)",
        # Added after the first release: one path for new schemas and those created without it. Nullable:
        # offsets committed before it, or by `cdc apply` from a file, have no topic ID.
        f"ALTER TABLE {offsets} ADD COLUMN IF NOT EXISTS {ident(TOPIC_ID_COLUMN)} text",
    ]


@dataclass(frozen=True)
class Evolution:
    schema: pa.Schema  # the table's Arrow schema once `statement` ran
    statement: str | None  # one ALTER TABLE, None when the table already fits


def evolve(schema: str, table: str, stored: pa.Schema, incoming: pa.Schema) -> Evolution:
    """The ALTER TABLE that lets `table` (holding `stored`) take rows of the conformed `incoming` schema."""
    merged = merged_schema(stored, incoming)
    actions = []
    for field in merged:
        index = stored.get_field_index(field.name)
        if index < 0:
            actions.append(f"ADD COLUMN {column_def(field)}")
            continue
        before, after = pg_type(stored.field(index).type).sql, pg_type(field.type, field.name).sql
        if before != after:
            column = ident(field.name)
            actions.append(f"ALTER COLUMN {column} TYPE {after} USING {column}::{after}")
    statement = f"ALTER TABLE {qualified(schema, table)} {', '.join(actions)}" if actions else None
    return Evolution(merged, statement)


def merged_schema(stored: pa.Schema, incoming: pa.Schema) -> pa.Schema:
    """Stored columns in their order (at the incoming type when present), then the new ones.

    `incoming` must be conformed (core/schema_diff.conform): its type for a stored column is then what the
    table must hold, except that a struct the batch sends without some stored field keeps that field.
    """
    fields = []
    for field in stored:
        index = incoming.get_field_index(field.name)
        fields.append(field if index < 0 else field.with_type(_merge(field.type, incoming.field(index).type)))
    fields += [f.with_nullable(True) for f in incoming if stored.get_field_index(f.name) < 0]
    return pa.schema(fields)


def _merge(stored: pa.DataType, incoming: pa.DataType) -> pa.DataType:
    if pt.is_struct(stored) and pt.is_struct(incoming):
        arriving = {f.name: f for f in incoming}
        kept = [f.with_type(_merge(f.type, arriving[f.name].type)) if f.name in arriving else f for f in stored]
        return pa.struct(kept + [f for f in incoming if stored.get_field_index(f.name) < 0])
    if pt.is_list(stored) and pt.is_list(incoming):
        return pa.list_(stored.value_field.with_type(_merge(stored.value_type, incoming.value_type)))
    if pt.is_map(stored) and pt.is_map(incoming):
        return pa.map_(_merge(stored.key_type, incoming.key_type), _merge(stored.item_type, incoming.item_type))
    return incoming
