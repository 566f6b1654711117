"""Thin psycopg2 I/O for the PostgreSQL sink: sessions, locks, the offsets and schema registry, COPY, reads.

Sessions run with TimeZone=UTC: timestamptz values are written as UTC wall clock (core/pg_values.py) and
read back as UTC instants. The password comes from PostgresSinkConfig.password() (an environment variable)
and is handed to libpq only; it is never part of a DSN string, a log line or an error message.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extras
import pyarrow as pa
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from cdc_project.config import PostgresSinkConfig
from cdc_project.core import pg_merge_sql as dml
from cdc_project.core.pg_ddl import (
    OFFSETS_TABLE,
    SCHEMAS_TABLE,
    TOPIC_ID_COLUMN,
    Evolution,
    bootstrap,
    create_table,
    ident,
    qualified,
)
from cdc_project.core.pg_types import pg_type
from cdc_project.core.pg_values import arrow_column, copy_csv

# UTC: see the module docstring. temp_buffers: a 100k-row staging table stays in session memory instead of
# spilling to temp files (the default is 8MB; it can only be set before a session's first temp table).
_SESSION_OPTIONS = "-c TimeZone=UTC -c temp_buffers=64MB"
_LOCK_CLASS = 0x0CDC  # first key of the sink's advisory locks, so they do not collide with other users'


def connect(config: PostgresSinkConfig, application_name: str, options: str | None = None) -> Connection:
    """A new connection to the sink's database; the password comes from its environment variable."""
    return psycopg2.connect(
        host=config.host,
        port=config.port,
        dbname=config.database,
        user=config.user,
        password=config.password(),
        application_name=application_name,
        options=options,
    )


@contextmanager
def session(config: PostgresSinkConfig) -> Iterator[Connection]:
    """A connection in one transaction: committed only by the caller, rolled back and closed otherwise."""
    conn = connect(config, "cdc-lakehouse postgres sink", _SESSION_OPTIONS)
    try:
        psycopg2.extras.register_uuid(conn_or_curs=conn)
        yield conn
    finally:
        conn.close()  # an uncommitted transaction is rolled back by the server


def exists(cur: Cursor, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified(schema, table),))
    row = cur.fetchone()
    return bool(row and row[0])


def columns(cur: Cursor, schema: str, table: str) -> set[str]:
    """The column names of `schema.table`; empty when there is no such table."""
    cur.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (qualified(schema, table),),
    )
    return {row[0] for row in cur.fetchall()}


def lock(cur: Cursor, name: str) -> None:
    """A transaction-scoped advisory lock: one apply (or purge) of a table at a time, whatever runs it."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, name))


def ensure_bootstrap(cur: Cursor, schema: str) -> None:
    # The topic ID column is bootstrap's last change (core/pg_ddl.bootstrap): present, the schema is complete;
    # absent, the schema is new or an earlier version created it, and bootstrap adds what it lacks. The
    # check reads the catalog only, so an apply takes no lock on the shared offsets table for it.
    if TOPIC_ID_COLUMN in columns(cur, schema, OFFSETS_TABLE):
        return
    # Two tables of one schema may bootstrap at once; IF NOT EXISTS alone races on the catalog's unique keys.
    lock(cur, f"schema {schema}")
    for statement in bootstrap(schema):
        cur.execute(statement)


def stored_schemas(cur: Cursor, schema: str) -> dict[str, pa.Schema]:
    """Table name -> the canonical Arrow schema the sink recorded for it ({} before the bootstrap)."""
    if not exists(cur, schema, SCHEMAS_TABLE):
        return {}
    cur.execute(f"SELECT table_name, arrow_schema FROM {qualified(schema, SCHEMAS_TABLE)}")
    return {name: pa.ipc.read_schema(pa.py_buffer(bytes(raw))) for name, raw in cur.fetchall()}


def apply_evolution(
    cur: Cursor, schema: str, table: str, stored: pa.Schema | None, evolution: Evolution, primary_key: Sequence[str]
) -> None:
    """Create the table or ALTER it, and record its new Arrow schema, inside the caller's transaction."""
    if stored is None:
        cur.execute(create_table(schema, table, evolution.schema, primary_key))
    elif evolution.statement is not None:
        cur.execute(evolution.statement)
    if stored is None or not evolution.schema.equals(stored):
        payload = evolution.schema.serialize().to_pybytes()
        statement = dml.upsert_row(qualified(schema, SCHEMAS_TABLE), ("table_name", "arrow_schema"), ("table_name",))
        cur.execute(statement, (table, payload))


@dataclass(frozen=True)
class StoredOffsets:
    offsets: dict[int, int]  # partition -> last offset applied
    topic_id: str | None  # the topic ID they count in; None before an apply stored one


def read_offsets(cur: Cursor, schema: str, table: str, topic: str) -> StoredOffsets:
    """Read-only, so it works on a schema an earlier version created (no topic ID column: no ID)."""
    present = columns(cur, schema, OFFSETS_TABLE)
    if not present:
        return StoredOffsets({}, None)
    statement = dml.select_offsets(qualified(schema, OFFSETS_TABLE), TOPIC_ID_COLUMN in present)
    cur.execute(statement, (table, topic))
    rows = cur.fetchall()
    # write_offsets keeps the ID equal on every row of the topic: any row tells it.
    return StoredOffsets({int(p): int(o) for p, o, _ in rows}, rows[0][2] if rows else None)


def write_offsets(
    cur: Cursor, schema: str, table: str, topic: str, offsets: Mapping[int, int], topic_id: str | None
) -> None:
    """Upsert the offsets that moved and set `topic_id` on all of the topic's rows (None: no ID is known).

    The offsets half of the exactly-once invariant: executed in the apply's transaction, after its rows.
    """
    names = ("table_name", "topic", "partition", "last_offset")
    target = qualified(schema, OFFSETS_TABLE)
    rows = [(table, topic, p, o) for p, o in sorted(offsets.items())]
    cur.executemany(dml.upsert_row(target, names, names[:3]), rows)
    if topic_id is not None:
        cur.execute(dml.set_topic_id(target), {"id": topic_id, "table": table, "topic": topic})


def copy_rows(cur: Cursor, target: str, rows: pa.Table) -> None:
    """COPY `rows` (canonical types) into `target` (a quoted name) as CSV rendered column-wise from Arrow."""
    cur.copy_expert(dml.copy_from_stdin(target, rows.column_names), io.BytesIO(copy_csv(rows)))


def read_arrow(cur: Cursor, table: str, schema: pa.Schema, where: str = "") -> pa.Table:
    """Every row of `table` (a quoted name) as Arrow with `schema`'s types (core/pg_values.arrow_column)."""
    exprs = [
        f"{ident(f.name)}::text" if pg_type(f.type, f.name).encoding == "json_text" else ident(f.name)
        for f in schema
    ]
    cur.execute(f"SELECT {', '.join(exprs)} FROM {table}{f' WHERE {where}' if where else ''}")
    rows = cur.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [arrow_column(list(values), f.type, f.name) for values, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)
