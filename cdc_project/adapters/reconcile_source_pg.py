"""The PostgreSQL side of a reconciliation: the source table (and, with a filter, a PostgreSQL sink's table).

Everything is computed in the database (core/hash_sql.py, PostgreSQL dialect); only counts, checksums, key
boundaries and the rows of small differing ranges leave it. A bisection runs inside one REPEATABLE READ,
READ ONLY transaction, so every query of it sees the same snapshot; each recheck round takes a new one.
Session settings make the canonical texts independent of the server's defaults: UTC time zone, ISO dates,
shortest-exact float output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions

from cdc_project.adapters.reconcile_sql_side import SqlSide
from cdc_project.config import SourceConfig
from cdc_project.core.hash_sql import Dialect
from cdc_project.core.key_ranges import Bound
from cdc_project.core.reconcile import Key, key_of
from cdc_project.core.reconcile_plan import ComparisonPlan, SourceColumn

POSTGRES = Dialect("postgres")

_CATALOG_SQL = """
SELECT a.attname, bt.typname, format_type(a.atttypid, a.atttypmod), bt.typtype = 'e',
       et.typname, coalesce(et.typtype = 'e', false)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY_SQL = """
SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)
"""


class PgRunner:
    def __init__(self, cursor: psycopg2.extensions.cursor) -> None:
        self.cursor = cursor

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql, list(params) or None)
        return list(self.cursor.fetchall())


def qualified(schema: str, table: str) -> str:
    return f"{POSTGRES.ident(schema)}.{POSTGRES.ident(table)}"


def connect(source: SourceConfig) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host=source.host,
        port=source.port,
        dbname=source.database,
        user=source.user,
        password=source.password(),
        connect_timeout=10,
        application_name="cdc-reconcile",
    )


def catalog(cursor: psycopg2.extensions.cursor, relation: str) -> list[SourceColumn]:
    cursor.execute(_CATALOG_SQL, (relation,))
    return [SourceColumn(n, t, sql, bool(e), el, bool(ee)) for n, t, sql, e, el, ee in cursor.fetchall()]


def primary_key(cursor: psycopg2.extensions.cursor, relation: str) -> list[str]:
    cursor.execute(_PRIMARY_KEY_SQL, (relation,))
    return [row[0] for row in cursor.fetchall()]


@dataclass(frozen=True)
class Snapshot:
    runner: PgRunner
    lsn: str  # pg_current_wal_lsn() once the snapshot was taken: every commit it sees is below it


@contextmanager
def snapshot(conn: psycopg2.extensions.connection) -> Iterator[Snapshot]:
    """A REPEATABLE READ, READ ONLY transaction; its snapshot is taken by the first statement."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True, autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")  # takes the snapshot, then reads the LSN
            row = cursor.fetchone()
            assert row is not None
            lsn = str(row[0])
            cursor.execute(
                "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
                "SET LOCAL extra_float_digits = 1"
            )
            yield Snapshot(PgRunner(cursor), lsn)
    finally:
        conn.rollback()


def table_side(runner: PgRunner, relation: str, plan: ComparisonPlan) -> SqlSide:
    return SqlSide(runner, POSTGRES, relation, plan.keys, plan.columns, key_casts=plan.key_types)


def source_rows(
    runner: PgRunner,
    relation: str,
    plan: ComparisonPlan,
    keys: Sequence[Bound],
    columns: Sequence[SourceColumn],
) -> dict[Key, dict[str, Any]]:
    """The full rows holding `keys`, as Python values (JSON as its text), for repair change rows."""
    side = table_side(runner, relation, plan)
    select = [
        f"{POSTGRES.ident(c.name)}::text" if c.type_name in ("json", "jsonb") else POSTGRES.ident(c.name)
        for c in columns
    ]
    names = [c.name for c in columns]
    texts = [POSTGRES.value(k) for k in plan.keys]
    found: dict[Key, dict[str, Any]] = {}
    for start in range(0, len(keys), 500):
        where, params = POSTGRES.keys_in(plan.keys, keys[start : start + 500], plan.key_types)
        sql = f"SELECT {', '.join(texts + select)} FROM {relation} WHERE {where}"
        for row in side.runner.fetch(sql, params):
            n = len(texts)
            found[key_of(row[:n], plan.keys)] = dict(zip(names, row[n:], strict=True))
    return found
