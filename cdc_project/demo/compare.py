"""Row-by-row comparison of a PostgreSQL source table with the live rows of one sink's current-state table.

Values are normalized on both sides by the source column type (numeric -> Decimal text, timestamptz -> UTC
instant, jsonb -> canonical JSON, arrays -> lists), so the comparison checks content, not representation.
Keyless tables compare as multisets. Used by the headless demo and the live tests.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import psycopg2
import pyarrow as pa


@dataclass(frozen=True)
class TableComparison:
    table: str
    sink: str
    source_rows: int
    lake_rows: int
    missing: int  # in the source, not in the lake
    extra: int  # in the lake, not in the source
    different: int  # same key, different values
    examples: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return self.missing == self.extra == self.different == 0 and self.source_rows == self.lake_rows


def _norm(value: Any, pg_type: str) -> Any:
    if value is None:
        return None
    if pg_type in ("json", "jsonb"):
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value else "NaN"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat()
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, str) and pg_type.startswith("time") and not pg_type.startswith("timestamp"):
        return time.fromisoformat(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(_norm(v, pg_type.removeprefix("_")) for v in value)
    if isinstance(value, float):
        return repr(value)
    if pg_type == "numeric" and isinstance(value, str):
        return format(Decimal(value).normalize(), "f")
    return value


def _source(dsn: str, qualified: str) -> tuple[list[str], dict[str, str], list[tuple[Any, ...]]]:
    schema, name = qualified.split(".")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select column_name, udt_name from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, name),
        )
        types = {col: udt for col, udt in cur.fetchall()}
        cols = list(types)
        cur.execute(f'select {", ".join(chr(34) + c + chr(34) for c in cols)} from "{schema}"."{name}"')
        return cols, types, cur.fetchall()


def primary_key(dsn: str, qualified: str) -> list[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
            "and a.attnum = any(i.indkey) where i.indrelid = %s::regclass and i.indisprimary "
            "order by array_position(i.indkey, a.attnum)",
            (qualified,),
        )
        return [row[0] for row in cur.fetchall()]


def compare_table(
    source_dsn: str, lake: pa.Table | None, qualified: str, key_columns: list[str], sink: str = "delta"
) -> TableComparison:
    """`lake`: the sink's live rows (TableSink.read_current), None when the table does not exist yet."""
    cols, types, source_rows = _source(source_dsn, qualified)
    if lake is None:  # no table yet: everything is missing
        return TableComparison(qualified, sink, len(source_rows), 0, len(source_rows), 0, 0)
    lake_cols = [c for c in cols if c in lake.column_names]
    lake_data = lake.select(lake_cols).to_pylist()
    src = [tuple(_norm(v, types[c]) for c, v in zip(cols, row, strict=True)) for row in source_rows]
    dst = [tuple(_norm(r.get(c), types[c]) if c in r else None for c in cols) for r in lake_data]
    examples: list[str] = []
    if not key_columns:
        src_count, dst_count = Counter(src), Counter(dst)
        missing = sum((src_count - dst_count).values())
        extra = sum((dst_count - src_count).values())
        return TableComparison(qualified, sink, len(src), len(dst), missing, extra, 0)
    key_idx = [cols.index(k) for k in key_columns]
    src_by_key = {tuple(r[i] for i in key_idx): r for r in src}
    dst_by_key = {tuple(r[i] for i in key_idx): r for r in dst}
    missing_keys = src_by_key.keys() - dst_by_key.keys()
    extra_keys = dst_by_key.keys() - src_by_key.keys()
    different = 0
    for key in src_by_key.keys() & dst_by_key.keys():
        if src_by_key[key] != dst_by_key[key]:
            different += 1
            if len(examples) < 3:
                diff = {c: (a, b) for c, a, b in zip(cols, src_by_key[key], dst_by_key[key], strict=True) if a != b}
                examples.append(f"{key}: {diff}")
    examples += [f"missing {k}" for k in list(missing_keys)[:2]] + [f"extra {k}" for k in list(extra_keys)[:2]]
    return TableComparison(
        qualified, sink, len(src), len(dst), len(missing_keys), len(extra_keys), different, tuple(examples)
    )
