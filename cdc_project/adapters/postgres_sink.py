"""The PostgreSQL sink of one captured table: replicas in a real PostgreSQL database, applied exactly once.

Table `schema.table` of source `s` lands in schema `{schema_prefix}{s}_{schema}` as `table` (current state),
`table_changelog` (when this sink holds the changelog) and `table_tombstones` (keyed tables); the schema also
holds `_cdc_offsets` and `_cdc_table_schemas` (each table's canonical Arrow schema, core/pg_types.py).

Invariants, each enforced where named:
  exactly once   one apply is ONE database transaction: DDL, the changelog COPY, the current-state merge,
                 the tombstones and the `_cdc_offsets` rows (with the topic ID) commit together or not at all.
                 Rows at or below the committed offsets are dropped first (merge_plan.drop_applied) and a batch
                 that moves no offset is rolled back untouched, so replaying any range is a no-op. An advisory
                 lock per table (postgres_tables.lock) makes the offsets read and the writes one critical
                 section.
  source order   last event per key inside a batch (merge_plan.fold_latest); across batches the upsert's
                 `WHERE target._cdc_position < EXCLUDED._cdc_position` and the tombstone filter
                 (core/pg_merge_sql.py), so an old event never overwrites or resurrects a row.
  schema         the batch is checked against every table's stored Arrow schema and the policy before the
                 first statement (core/schema_diff.py); DDL (core/pg_ddl.evolve) runs inside the transaction.
Not mapped: `partition_by` (a declarative partition key must be part of the primary key, and a row whose
partition value changes would then be a second row); the current table is one table with its key's index.
Truncate events ('t') are recorded in the changelog only, as in the Delta sink.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2.extensions import cursor as Cursor

from cdc_project import failpoints
from cdc_project.adapters.postgres_tables import (
    apply_evolution,
    copy_rows,
    ensure_bootstrap,
    exists,
    lock,
    read_arrow,
    read_offsets,
    session,
    stored_schemas,
    write_offsets,
)
from cdc_project.adapters.table_sink import ApplyResult
from cdc_project.config import PostgresSinkConfig, SinkKind, TableConfig
from cdc_project.core import pg_merge_sql as dml
from cdc_project.core.columns import DELETED, OP, POSITION
from cdc_project.core.errors import RepairRefusedError, RowsRefusedError
from cdc_project.core.lake_rows import (
    appended_rows,
    changelog_rows,
    current_rows,
    data_columns,
    tombstone_rows,
)
from cdc_project.core.merge_plan import advance_to, drop_applied, fold_latest, resolve_keys, validate_batch
from cdc_project.core.pg_ddl import Evolution, create_stage, evolve, ident, qualified
from cdc_project.core.pg_types import to_pg_compatible
from cdc_project.core.repair_rows import validate_repair
from cdc_project.core.schema_diff import check_policy, conform, diff_schemas
from cdc_project.core.unavailable import KEEP_STORED_PREFIX, keep_stored_columns

_STAGE = "_cdc_stage"


@dataclass(frozen=True)
class _Write:
    """Rows for one table, and the DDL that lets the table take them."""

    table: str
    rows: pa.Table
    stored: pa.Schema | None
    evolution: Evolution
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Merged:
    upserts: int = 0  # offered upserts (after the tombstone filter); keyless: rows appended
    deletes: int = 0
    changed: int = 0  # rows the statements inserted, updated or deleted
    tombstoned: int = 0


class PostgresTableSink:
    kind: SinkKind = "postgres"

    def __init__(
        self, config: PostgresSinkConfig, source_name: str, table: TableConfig, topic: str, *, with_changelog: bool = True
    ) -> None:
        self.config = config
        self.table = table
        self.topic = topic
        self.with_changelog = with_changelog  # only the table's changelog sink writes it (TableConfig.sinks)
        self.schema = f"{config.schema_prefix}{source_name}_{table.schema_name}"
        self.current = table.table_name
        self.changelog = f"{table.table_name}_changelog"
        self.tombstones = f"{table.table_name}_tombstones"
        for name in (self.current, self.changelog, self.tombstones):
            qualified(self.schema, name)  # refuses names the server would truncate, before any write

    @property
    def location(self) -> str:
        return f"{self.config.database}.{self.schema}.{self.current}"

    def committed_offsets(self) -> dict[int, int]:
        with session(self.config) as conn, conn.cursor() as cur:
            return read_offsets(cur, self.schema, self.current, self.topic).offsets

    def committed_topic_id(self) -> str | None:
        with session(self.config) as conn, conn.cursor() as cur:
            return read_offsets(cur, self.schema, self.current, self.topic).topic_id

    def apply(
        self,
        rows: pa.Table,
        key_columns: Sequence[str],
        *,
        consumed_through: Mapping[int, int] | None = None,
        topic_id: str | None = None,
    ) -> ApplyResult:
        """Apply one batch of change events of this sink's topic in one transaction, exactly once.

        `consumed_through` (partition -> last offset read) commits past messages that produced no row; it must
        be at least each partition's last row offset. A partition it names advances even when `rows` is empty.
        `topic_id` is written to the `_cdc_offsets` rows in the same transaction (TableSink.apply).
        """
        consumed = dict(consumed_through or {})
        validate_batch(rows, self.topic, consumed, topic_id)
        rows = to_pg_compatible(rows)
        try:
            return self._apply(rows, key_columns, consumed, topic_id)
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            # SQLSTATE classes 22 (data exception) and 23 (integrity): the server refuses these rows for
            # good (a NUL in text, a null key); the transaction is gone, nothing of the batch is committed.
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            raise RowsRefusedError(self.kind, self.table.name, reason) from exc

    def _apply(
        self, rows: pa.Table, key_columns: Sequence[str], consumed: dict[int, int], topic_id: str | None
    ) -> ApplyResult:
        now = datetime.now(UTC)
        with session(self.config) as conn, conn.cursor() as cur:
            ensure_bootstrap(cur, self.schema)
            lock(cur, self.location)
            committed = read_offsets(cur, self.schema, self.current, self.topic)
            applied = committed.offsets
            stored = stored_schemas(cur, self.schema)
            new = drop_applied(rows, applied)
            moving = advance_to(new, applied, consumed)
            if not moving:  # a replay: nothing is written, the transaction is rolled back
                return ApplyResult(0, 0, 0, 0, 0, None, None, committed=applied)
            # Plan every table before the first statement, so a SchemaChangeError leaves no trace. A plan is
            # None when its table gets no rows: then it is neither created nor evolved.
            log = None
            if self.with_changelog and new.num_rows:
                log = self._plan(self.changelog, stored, changelog_rows(new, now))
            current, tombstones = self._plan_current(new, key_columns, stored, now)
            for write in (log, current, tombstones):
                if write is not None:
                    apply_evolution(cur, self.schema, write.table, write.stored, write.evolution, write.primary_key)
            if log is not None:
                copy_rows(cur, qualified(self.schema, self.changelog), log.rows)
            failpoints.hit("after_changelog_commit")  # crash tests: the changelog written, not committed
            merged = self._merge(cur, current) if current is not None else _Merged()
            failpoints.hit("after_current_commit")
            # The batch's ID, else the stored one: a partition's first offsets row must not lack it.
            stored_id = topic_id or committed.topic_id
            write_offsets(cur, self.schema, self.current, self.topic, moving, stored_id)
            version = _transaction_id(cur)
            failpoints.hit("before_sink_commit")  # crash tests: everything written, offsets included
            conn.commit()
        return ApplyResult(
            changelog_rows=log.rows.num_rows if log is not None else 0,
            upserts=merged.upserts,
            deletes=merged.deletes,
            stale_skipped=merged.upserts + merged.deletes - merged.changed,
            tombstoned_skipped=merged.tombstoned,
            changelog_version=version if self.with_changelog else None,
            current_version=version,
            committed={**applied, **moving},
        )

    def _plan_current(
        self, new: pa.Table, key_columns: Sequence[str], stored: dict[str, pa.Schema], now: datetime
    ) -> tuple[_Write | None, _Write | None]:
        """The current table's rows (keyed: the staged latest event per key) and the tombstone table's."""
        changes = new.filter(pc.not_equal(new[OP], "t"))  # truncates name no row: changelog only
        if changes.num_rows == 0:  # only offsets move; such a batch may not even carry the key columns
            return None, None
        stored_keys = stored.get(self.tombstones)
        keys = resolve_keys(self.table.name, self.table.append_only, key_columns, stored_keys, changes)
        # The policy checks the data columns of the rows written; every event of a batch has the same types,
        # so checking the folded rows checks the batch.
        if not keys:
            appended = appended_rows(changes, now, None)
            current = self._plan(self.current, stored, appended, data_columns(appended))
            return (current if appended.num_rows else None), None
        folded = fold_latest(changes, keys)
        latest = pa.concat_tables([folded.upserts, folded.deletes])
        source = current_rows(latest, now, soft_deletes=self.table.deletes == "soft", partition=None)
        current = self._plan(self.current, stored, source, data_columns(source), keys)
        # The tombstone table is created and evolved with the current table, deletes or not: a later batch of
        # only Kafka tombstones reads the key columns from its schema (`_keys`).
        tombstones = self._plan(self.tombstones, stored, tombstone_rows(folded.deletes, keys, now), keys, keys)
        return current, tombstones

    def _merge(self, cur: Cursor, write: _Write) -> _Merged:
        target, keys = qualified(self.schema, self.current), write.primary_key
        if not keys:
            copy_rows(cur, target, write.rows)
            return _Merged(upserts=write.rows.num_rows, changed=write.rows.num_rows)
        source, stage, tombstones = write.rows, ident(_STAGE), qualified(self.schema, self.tombstones)
        cur.execute(create_stage(_STAGE, source.schema))
        copy_rows(cur, stage, source)
        cur.execute(dml.drop_tombstoned(stage, tombstones, keys))
        tombstoned = cur.rowcount
        flags = keep_stored_columns(source)
        if flags:
            cur.execute(dml.keep_stored(stage, target, keys, flags))
        columns = [c for c in source.column_names if c not in flags.values()]
        cur.execute(dml.upsert(target, stage, keys, columns))
        changed = cur.rowcount
        soft = self.table.deletes == "soft"
        cur.execute(dml.delete_soft(target, stage, keys) if soft else dml.delete_hard(target, stage, keys))
        changed += cur.rowcount
        cur.execute(dml.upsert_tombstones(tombstones, stage, keys))
        deletes = int(pc.sum(pc.equal(source[OP], "d")).as_py() or 0)
        return _Merged(source.num_rows - deletes - tombstoned, deletes, changed, tombstoned)

    def _plan(
        self,
        table: str,
        stored: dict[str, pa.Schema],
        rows: pa.Table,
        checked: Sequence[str] | None = None,
        primary_key: Sequence[str] = (),
    ) -> _Write:
        before = stored.get(table)
        rows = self._conformed(before, rows, checked)
        columns = pa.schema([f for f in rows.schema if not f.name.startswith(KEEP_STORED_PREFIX)])
        if before is None:
            evolution = Evolution(pa.schema([f.with_nullable(True) for f in columns]), None)
        else:
            evolution = evolve(self.schema, table, before, columns)
        return _Write(table, rows, before, evolution, tuple(primary_key))

    def _conformed(self, stored: pa.Schema | None, rows: pa.Table, checked: Sequence[str] | None) -> pa.Table:
        """`rows` cast to the stored schema; raises SchemaChangeError for what the policy refuses.

        PostgreSQL widens in place (ALTER COLUMN TYPE), so under `evolve` the wider type is kept.
        """
        if stored is None:
            return rows
        incoming = rows.select(list(checked)).schema if checked is not None else rows.schema
        policy = self.table.schema_policy
        check_policy(diff_schemas(stored, incoming), policy, self.table.name)
        return conform(rows, stored, policy, self.table.name, engine_widens=True)

    def apply_repair(self, rows: pa.Table, key_columns: Sequence[str]) -> ApplyResult:
        """Re-sync keys from the source (TableSink.apply_repair): the same merge and guards as `apply`, in
        one transaction that writes no offsets row and no changelog row."""
        if self.table.append_only:
            reason = "a keyless table has no key to re-sync rows by; re-snapshot it instead"
            raise RepairRefusedError(self.table.name, self.kind, reason)
        validate_repair(rows, tuple(key_columns))
        rows = to_pg_compatible(rows)
        with session(self.config) as conn, conn.cursor() as cur:
            ensure_bootstrap(cur, self.schema)
            lock(cur, self.location)
            applied = read_offsets(cur, self.schema, self.current, self.topic).offsets
            stored = stored_schemas(cur, self.schema)
            current, tombstones = self._plan_current(rows, key_columns, stored, datetime.now(UTC))
            for write in (current, tombstones):
                if write is not None:
                    evolution = write.evolution
                    apply_evolution(cur, self.schema, write.table, write.stored, evolution, write.primary_key)
            merged = self._merge(cur, current) if current is not None else _Merged()
            version = _transaction_id(cur)
            conn.commit()
        return ApplyResult(
            changelog_rows=0,
            upserts=merged.upserts,
            deletes=merged.deletes,
            stale_skipped=merged.upserts + merged.deletes - merged.changed,
            tombstoned_skipped=merged.tombstoned,
            changelog_version=None,
            current_version=version,
            committed=applied,
        )

    def read_tombstones(self) -> pa.Table | None:
        if self.table.append_only:
            return None
        with session(self.config) as conn, conn.cursor() as cur:
            schema = stored_schemas(cur, self.schema).get(self.tombstones)
            if schema is None:
                return None
            return read_arrow(cur, qualified(self.schema, self.tombstones), schema, "")

    def stored_positions(self, at_least: str) -> set[str]:
        with session(self.config) as conn, conn.cursor() as cur:
            if not exists(cur, self.schema, self.current):
                return set()
            target = qualified(self.schema, self.current)
            cur.execute(f"SELECT {ident(POSITION)} FROM {target} WHERE {ident(POSITION)} >= %s", (at_least,))
            return {row[0] for row in cur.fetchall()}

    def read_current(self) -> pa.Table | None:
        with session(self.config) as conn, conn.cursor() as cur:
            schema = stored_schemas(cur, self.schema).get(self.current)
            if schema is None:
                return None
            live = f"{ident(DELETED)} IS NOT TRUE" if DELETED in schema.names else ""
            return read_arrow(cur, qualified(self.schema, self.current), schema, live)

    def read_changelog(self, columns: Sequence[str] | None = None) -> pa.Table | None:
        if not self.with_changelog:
            return None
        with session(self.config) as conn, conn.cursor() as cur:
            schema = stored_schemas(cur, self.schema).get(self.changelog)
            if schema is None:
                return None
            wanted = pa.schema([schema.field(c) for c in columns]) if columns else schema
            return read_arrow(cur, qualified(self.schema, self.changelog), wanted)

    def purge_tombstones(self, older_than: datetime) -> int:
        """Delete tombstones ingested before `older_than` (the caller's retention horizon).

        After the purge, an event older than a purged delete could resurrect its row again: the horizon
        (`tombstone_retention_hours`) must exceed how late an event can arrive.
        """
        if older_than.tzinfo is None:
            raise ValueError(f"older_than must be timezone-aware, got {older_than!r}; use datetime.now(UTC)")
        if self.table.append_only:
            return 0
        with session(self.config) as conn, conn.cursor() as cur:
            if not exists(cur, self.schema, self.tombstones):
                return 0
            lock(cur, self.location)
            cur.execute(dml.purge_tombstones(qualified(self.schema, self.tombstones)), (older_than,))
            purged = cur.rowcount
            conn.commit()
        return int(purged)


def _transaction_id(cur: Cursor) -> int:
    """The id of the transaction this apply commits: the version ApplyResult reports for its tables."""
    cur.execute("SELECT pg_current_xact_id()::text::bigint")
    row = cur.fetchone()
    assert row is not None
    return int(row[0])
