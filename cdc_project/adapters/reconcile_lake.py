"""The lake side of a reconciliation, one interface for every sink, chosen by sink kind in `lake_side_for`:

  delta (local root)   pushdown: DuckDB `delta_scan` over the current-state and tombstone tables
  iceberg, delta (s3)  generic: DuckDB over the sink's Arrow rows (TableSink.read_current/read_tombstones)
  postgres             the PostgreSQL dialect over the sink's own table (adapters/reconcile_pg_sink.py)

A bisection reads a snapshot: DuckDB materializes the lake's keys and row hashes once, so every level
reads the same rows without rehashing. Rechecks read the live table (`rows`, `key_states`).

`key_states` is the watermark evidence for a key (core/reconcile.split_settled): the greater of the live
row's `_cdc_position` and the key's tombstone position, None when the lake never held the key. Every event
a sink applies to a key raises it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import duckdb
import pyarrow as pa

from cdc_project.adapters import duckdb_conn
from cdc_project.adapters.reconcile_sql_side import SqlSide
from cdc_project.adapters.sinks import sink_for
from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core.columns import DELETED, POSITION
from cdc_project.core.hash_sql import Dialect
from cdc_project.core.key_ranges import Bound
from cdc_project.core.lake_rows import data_columns
from cdc_project.core.reconcile import Key, RowDigest, key_of
from cdc_project.core.reconcile_plan import ComparisonPlan

DUCKDB = Dialect("duckdb")


class LakeSide(Protocol):
    sink: TableSink

    def data_schema(self) -> pa.Schema | None:
        """The lake's data columns as stored (None: the table does not exist yet)."""
        ...

    def snapshot(self, plan: ComparisonPlan) -> SqlSide | None:
        """A consistent view for one bisection (None: the lake is empty)."""
        ...

    def rows(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, RowDigest]: ...

    def key_states(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, str | None]: ...

    def hash_counts(self, plan: ComparisonPlan) -> Counter[int]:
        """Keyless tables: live rows per row hash."""
        ...

    def close(self) -> None: ...


Relations = Callable[[duckdb.DuckDBPyConnection], tuple[str | None, str | None]]


class DuckDbLake:
    """A lake side evaluated by DuckDB; `relations` names (current live rows, tombstones) for a fresh read."""

    def __init__(self, sink: TableSink, relations: Relations, schema: Callable[[], pa.Schema | None]) -> None:
        self.sink = sink
        self.conn = duckdb_conn.connect()
        self._relations = relations
        self._schema = schema

    def data_schema(self) -> pa.Schema | None:
        schema = self._schema()
        if schema is None:
            return None
        return pa.schema([schema.field(n) for n in data_columns(schema.empty_table())])

    def _live(self, plan: ComparisonPlan) -> SqlSide | None:
        current, _ = self._relations(self.conn)
        return (
            None
            if current is None
            else SqlSide(duckdb_conn.DuckDbRunner(self.conn), DUCKDB, current, plan.keys, plan.columns)
        )

    def snapshot(self, plan: ComparisonPlan) -> SqlSide | None:
        live = self._live(plan)
        if live is None:
            return None
        names = ", ".join(DUCKDB.ident(k.name) for k in plan.keys)
        select = f"{names}, " if names else ""
        self.conn.execute(
            "CREATE OR REPLACE TEMP TABLE lake_hashed AS "
            f"SELECT {select}{DUCKDB.row_hash(plan.columns)} AS h "
            f"FROM {live.relation}"
        )
        return SqlSide(live.runner, DUCKDB, live.relation, plan.keys, plan.columns, hashed="lake_hashed")

    def rows(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, RowDigest]:
        live = self._live(plan)
        return {} if live is None or not keys else live.rows(keys)

    def key_states(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, str | None]:
        current, tombstones = self._relations(self.conn)
        if current is None or not keys:
            return {}
        names = ", ".join(DUCKDB.ident(k.name) for k in plan.keys)
        union = f"SELECT {names}, {DUCKDB.ident(POSITION)} AS p FROM {current}"
        if tombstones is not None:
            union += f" UNION ALL SELECT {names}, {DUCKDB.ident(POSITION)} FROM {tombstones}"
        texts = ", ".join(DUCKDB.value(k) for k in plan.keys)
        states: dict[Key, str | None] = {}
        runner = duckdb_conn.DuckDbRunner(self.conn)
        for start in range(0, len(keys), 500):
            where, params = DUCKDB.keys_in(plan.keys, keys[start : start + 500])
            sql = f"SELECT {texts}, max(p) FROM ({union}) u WHERE {where} GROUP BY ALL"
            for row in runner.fetch(sql, params):
                texts_of_key = [None if t is None else str(t) for t in row[:-1]]
                states[key_of(texts_of_key, plan.keys)] = None if row[-1] is None else str(row[-1])
        return states

    def hash_counts(self, plan: ComparisonPlan) -> Counter[int]:
        live = self._live(plan)
        return Counter() if live is None else live.hash_counts()

    def close(self) -> None:
        self.conn.close()


def _live_filter(relation: str, names: Sequence[str]) -> str:
    """Soft-deleted rows (`deletes: soft`) are not part of the table's content."""
    if DELETED in names:
        return f"(SELECT * FROM {relation} WHERE NOT coalesce({DUCKDB.ident(DELETED)}, false))"
    return relation


def delta_pushdown(sink: TableSink, current_uri: str, tombstones_uri: str | None) -> DuckDbLake:
    """DuckDB reads the Delta tables itself (delta_scan): only hashes and small ranges reach Python."""
    from deltalake import DeltaTable

    def schema() -> pa.Schema | None:
        if not DeltaTable.is_deltatable(current_uri):
            return None
        return pa.schema(DeltaTable(current_uri).schema().to_arrow())

    def relations(_conn: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None]:
        stored = schema()
        if stored is None:
            return None, None
        current = _live_filter(f"delta_scan('{_literal(current_uri)}')", stored.names)
        tomb = tombstones_uri if tombstones_uri and DeltaTable.is_deltatable(tombstones_uri) else None
        return current, (f"delta_scan('{_literal(tomb)}')" if tomb else None)

    return DuckDbLake(sink, relations, schema)


def arrow_generic(sink: TableSink) -> DuckDbLake:
    """Any sink: its live rows and tombstones as Arrow (TableSink.read_current / read_tombstones)."""

    def relations(conn: duckdb.DuckDBPyConnection) -> tuple[str | None, str | None]:
        current = sink.read_current()
        if current is None:
            return None, None
        conn.register("lake_current", current)
        tombstones = sink.read_tombstones()
        if tombstones is not None:
            conn.register("lake_tombstones", tombstones)
        return "lake_current", ("lake_tombstones" if tombstones is not None else None)

    def schema() -> pa.Schema | None:
        current = sink.read_current()
        return None if current is None else current.schema

    return DuckDbLake(sink, relations, schema)


def _literal(text: str) -> str:
    return text.replace("'", "''")


def lake_side_for(
    config: PipelineConfig, source: SourceConfig, table: TableConfig, kind: SinkKind
) -> LakeSide:
    """The one place a sink kind picks its lake side (pushdown where the engine can read the table)."""
    sink = sink_for(config, source, table, kind)
    if kind == "delta" and "://" not in config.lake.root.removeprefix("file://"):
        from cdc_project.adapters.delta_sink import DeltaTableSink

        assert isinstance(sink, DeltaTableSink)
        tombstones = None if table.append_only else sink.tombstones.uri
        return delta_pushdown(sink, sink.current.uri, tombstones)
    if kind == "postgres":
        from cdc_project.adapters.reconcile_pg_sink import PostgresSinkLake

        assert config.postgres_sink is not None  # PipelineConfig refuses a postgres sink without it
        return PostgresSinkLake.connect(sink, config.postgres_sink, source.name, table)
    # Iceberg, and Delta on object storage (DuckDB would need the credentials as its own secrets).
    return arrow_generic(sink)
