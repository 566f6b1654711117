"""The Iceberg sink of one captured table: changelog, current state and tombstones, applied exactly once.

Layout: in the SQL catalog (adapters/iceberg_tables.open_catalog), namespace `<source>_<schema>` holds
`<table>` (current state), `<table>__changelog` and `<table>__tombstones` (tombstones only with a key);
core/lake_rows.py says what each table's rows look like. The changelog is partitioned by identity on
`_cdc_event_date`; the current table by the configured `partition_by` as a real Iceberg transform
(day/month/year/identity of the source column: no derived column, unlike Delta).

Invariants, each enforced where named:
  exactly once   each table's snapshot carries its Kafka offsets in the summary of the same catalog commit as
                 its data (iceberg_tables.snapshot_properties) and drops rows at or below them before writing
                 (merge_plan.drop_applied), so replaying any range - or the rest of a range after a crash
                 between two tables' commits - writes nothing twice, and a fully applied replay commits no
                 snapshot. A table whose offsets move with nothing to write commits an empty append. The
                 topic ID is in the same summary (iceberg_tables module docstring).
  source order   last event per key inside a batch (merge_plan.fold_latest); across batches the order guard
                 of core/upsert_plan.plan_upsert and the tombstone guard (merge_plan.drop_tombstoned).
  schema         the batch is checked against every table's stored schema and the policy before any table
                 is created or committed (core/schema_diff.py); widening is in place (update_schema).
  deletes        a delete finds its row by key in the files that may hold it, whatever their partition, so a
                 key-only delete of a partitioned table removes the row where it is stored.
Merges are copy-on-write: a file holding a changed row is rewritten, in the snapshot that adds the new rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import GreaterThanOrEqual, LessThan
from pyiceberg.table import Table, Transaction

from cdc_project import failpoints
from cdc_project.adapters.iceberg_tables import (
    Committed,
    IcebergTable,
    append,
    commit_upsert,
    committed,
    committed_state,
    evolve,
    key_filter,
    namespace_of,
    open_catalog,
    predicate,
    read_candidates,
    read_table,
    snapshot_properties,
    stored_schema,
)
from cdc_project.adapters.table_sink import ApplyResult
from cdc_project.config import IcebergConfig, PartitionSpec, SinkKind, TableConfig
from cdc_project.core.columns import DELETED, EVENT_DATE, INGESTED_AT, OP, POSITION, TOMBSTONE_FIELDS
from cdc_project.core.delta_types import to_delta_compatible
from cdc_project.core.errors import RepairRefusedError
from cdc_project.core.lake_rows import (
    appended_rows,
    changelog_rows,
    current_rows,
    data_columns,
    has_data_columns,
    tombstone_rows,
)
from cdc_project.core.merge_plan import (
    advance_to,
    drop_applied,
    drop_tombstoned,
    fold_latest,
    has_changes,
    resolve_keys,
    validate_batch,
)
from cdc_project.core.repair_rows import validate_repair
from cdc_project.core.schema_diff import check_policy, conform, diff_schemas
from cdc_project.core.unavailable import KEEP_STORED_PREFIX
from cdc_project.core.upsert_plan import plan_upsert

_BY_EVENT_DATE = PartitionSpec(column=EVENT_DATE, transform="identity")
_NO_TOMBSTONES = pa.schema(TOMBSTONE_FIELDS).empty_table()


@dataclass(frozen=True)
class _Pending:
    rows: pa.Table  # the batch minus what this table already applied
    applied: dict[int, int]
    # Every partition's offset after this apply and the topic ID (given, or the stored one restated: a summary
    # is per snapshot); None: the table is untouched.
    commit: Committed | None


@dataclass(frozen=True)
class _CurrentPlan:
    source: pa.Table  # latest event per key shaped like current rows (or the rows to append, keyless)
    upserts: int
    deletes: int
    tombstoned: int
    tombstones: pa.Table | None  # rows for the tombstone table; None when keyless


@dataclass(frozen=True)
class _Staged:
    """One table's transaction, staged (files written) but not committed; tx None: the table is untouched."""

    tx: Transaction | None
    changed: int = 0


class IcebergTableSink:
    kind: SinkKind = "iceberg"

    def __init__(
        self,
        config: IcebergConfig,
        lake_root: str,
        source_name: str,
        table: TableConfig,
        topic: str,
        *,
        with_changelog: bool = True,
    ) -> None:
        self.table = table
        self.topic = topic
        self.with_changelog = with_changelog  # only the table's changelog sink writes it (TableConfig.sinks)
        self.catalog_name = config.catalog_name
        catalog = open_catalog(config, lake_root)
        base = f"{namespace_of(source_name, table.schema_name)}.{table.table_name}"
        self.current = IcebergTable(catalog, base)
        self.changelog = IcebergTable(catalog, f"{base}__changelog")
        self.tombstones = IcebergTable(catalog, f"{base}__tombstones")

    @property
    def location(self) -> str:
        return f"{self.catalog_name}.{self.current.identifier}"

    def _tables(self) -> list[IcebergTable]:
        log = [self.changelog] if self.with_changelog else []
        return [*log, self.current] + ([] if self.table.append_only else [self.tombstones])

    def committed_offsets(self) -> dict[int, int]:
        """Per partition, the minimum over the sink's tables: a run resumes from the laggard."""
        per_table = []
        for table in self._tables():
            opened = table.open()
            if opened is None:
                return {}
            per_table.append(committed(opened, self.topic))
        common = set.intersection(*(set(offsets) for offsets in per_table))
        return {p: min(offsets[p] for offsets in per_table) for p in sorted(common)}

    def committed_topic_id(self) -> str | None:
        """The current table's: it exists in every layout, and every table's offsets summary carries the ID."""
        return committed_state(self.current.open(), self.topic).topic_id

    def apply(
        self,
        rows: pa.Table,
        key_columns: Sequence[str],
        *,
        consumed_through: Mapping[int, int] | None = None,
        topic_id: str | None = None,
    ) -> ApplyResult:
        """Apply one batch of change events of this sink's topic to every table, each exactly once (see
        DeltaTableSink.apply for `consumed_through` and `topic_id`)."""
        tombs = None if self.table.append_only else self.tombstones.open()
        stored_keys = stored_schema(tombs) if tombs is not None else None
        keys = resolve_keys(self.table.name, self.table.append_only, key_columns, stored_keys, rows)
        consumed = dict(consumed_through or {})
        validate_batch(rows, self.topic, consumed, topic_id)
        rows = to_delta_compatible(rows)  # the same lake types as Delta: one representation across sinks
        now = datetime.now(UTC)
        opened = {t.identifier: t.open() for t in self._tables()}
        pending = {
            t.identifier: self._pending(opened[t.identifier], rows, consumed, topic_id) for t in self._tables()
        }

        # Check every table's schema before the first table is created or written: a refusal leaves no trace.
        log_rows = None
        if self.with_changelog:
            log_rows = self._conformed(
                opened[self.changelog.identifier],
                changelog_rows(pending[self.changelog.identifier].rows, now),
            )
        plan = self._plan_current(keys, pending, opened, now)

        # Stage every transaction (files written, nothing committed), then commit table by table.
        staged_log = self._stage(self.changelog, opened, pending, log_rows, _BY_EVENT_DATE, keys=())
        staged_current = self._stage(
            self.current, opened, pending, plan.source, self.table.partition_by, keys
        )
        staged_tombs = _Staged(None)
        if not self.table.append_only:  # no key yet (only truncates so far): an offsets-only append
            tombstones = plan.tombstones if plan.tombstones is not None else _NO_TOMBSTONES
            staged_tombs = self._stage(self.tombstones, opened, pending, tombstones, None, keys)
        log_version = _commit(staged_log)
        failpoints.hit("after_changelog_commit")  # crash tests: changelog ahead of current state
        current_version = _commit(staged_current)
        failpoints.hit("after_current_commit")  # crash tests: tombstones behind current state
        _commit(staged_tombs)
        offered = plan.upserts + plan.deletes
        return ApplyResult(
            changelog_rows=log_rows.num_rows if log_rows is not None and staged_log.tx else 0,
            upserts=plan.upserts,
            deletes=plan.deletes,
            stale_skipped=offered - staged_current.changed if keys and staged_current.tx else 0,
            tombstoned_skipped=plan.tombstoned,
            changelog_version=log_version,
            current_version=current_version,
            committed=self.committed_offsets(),
        )

    def _stage(
        self,
        table: IcebergTable,
        opened: Mapping[str, Table | None],
        pending: Mapping[str, _Pending],
        rows: pa.Table | None,
        partition: PartitionSpec | None,
        keys: Sequence[str],
    ) -> _Staged:
        mine = pending.get(table.identifier)
        if mine is None or mine.commit is None or rows is None:
            return _Staged(None)
        lake_schema = pa.schema([f for f in rows.schema if not f.name.startswith(KEEP_STORED_PREFIX)])
        stored = opened[table.identifier] or table.create(lake_schema)
        tx = stored.transaction()
        if rows.num_rows:
            evolve(tx, lake_schema, partition)
        props = snapshot_properties(self.topic, mine.commit)
        if not keys or rows.num_rows == 0:  # keyless: append; no rows: an offsets-only (empty) append
            append(tx, rows.select(lake_schema.names), props)
            return _Staged(tx, rows.num_rows)
        candidates = read_candidates(tx, key_filter(rows, keys))
        soft = table is self.current and self.table.deletes == "soft"
        upsert = plan_upsert(candidates.rows, rows, keys, stored_schema(tx), soft_deletes=soft)
        commit_upsert(tx, upsert, candidates, props)
        return _Staged(tx, upsert.changed)

    def _plan_current(
        self,
        keys: tuple[str, ...],
        pending: dict[str, _Pending],
        opened: dict[str, Table | None],
        now: datetime,
    ) -> _CurrentPlan:
        current, current_table = pending[self.current.identifier], opened[self.current.identifier]
        new_rows = self._conformed(current_table, current.rows, data_columns(current.rows))
        if not keys:
            source = appended_rows(new_rows, now, None)
            return _CurrentPlan(source, source.num_rows, 0, 0, None)
        soft = self.table.deletes == "soft"
        tomb, tomb_table = pending[self.tombstones.identifier], opened[self.tombstones.identifier]
        if not has_changes(new_rows) and not has_changes(tomb.rows):
            # Only offsets move (Kafka tombstones, dead letters, truncates): such a batch may lack the keys.
            nothing = new_rows.filter(pc.not_equal(new_rows[OP], "t"))
            has_keys = all(k in nothing.column_names for k in keys)
            no_tombstones = tombstone_rows(nothing, keys, now) if has_keys else _NO_TOMBSTONES
            source = current_rows(nothing, now, soft_deletes=soft, partition=None)
            return _CurrentPlan(source, 0, 0, 0, no_tombstones)
        folded = fold_latest(new_rows, keys)
        tomb_deletes = folded.deletes
        if tomb.applied != current.applied:  # the two stopped at different offsets (a crash): fold its rows
            tomb_rows = self._conformed(current_table, tomb.rows, data_columns(tomb.rows))
            tomb_deletes = fold_latest(tomb_rows, keys).deletes
        tombstones = self._conformed(tomb_table, tombstone_rows(tomb_deletes, keys, now), keys)
        # The guard also sees this apply's own tombstones: after a crash between the current and tombstone
        # commits they hold deletes the current table has applied but the tombstone table still lacks.
        known = tombstones.select([*keys, POSITION])
        if tomb_table is not None and folded.upserts.num_rows:
            stored = read_candidates(tomb_table.transaction(), key_filter(folded.upserts, keys)).rows
            known = pa.concat_tables([stored.select([*keys, POSITION]), known], promote_options="permissive")
        kept, tombstoned = drop_tombstoned(folded.upserts, known, keys)
        latest = pa.concat_tables([kept, folded.deletes], promote_options="default")
        return _CurrentPlan(
            source=current_rows(latest, now, soft_deletes=soft, partition=None),
            upserts=kept.num_rows,
            deletes=folded.deletes.num_rows,
            tombstoned=tombstoned,
            tombstones=tombstones,
        )

    def apply_repair(self, rows: pa.Table, key_columns: Sequence[str]) -> ApplyResult:
        """Re-sync keys from the source (TableSink.apply_repair): the current and tombstone tables' merges
        with the same guards as `apply`, in snapshots that restate each table's offsets unchanged."""
        if self.table.append_only:
            reason = "a keyless table has no key to re-sync rows by; re-snapshot it instead"
            raise RepairRefusedError(self.table.name, self.kind, reason)
        keys = tuple(key_columns)
        validate_repair(rows, keys)
        rows = to_delta_compatible(rows)
        tables = (self.current, self.tombstones)
        opened = {t.identifier: t.open() for t in tables}
        # A repair is no Kafka batch: nothing is filtered by offset, and each snapshot carries the table's
        # committed offsets and topic ID as they are, so expiring older snapshots never loses them.
        pending = {
            t.identifier: _Pending(rows, {}, committed_state(opened[t.identifier], self.topic)) for t in tables
        }
        plan = self._plan_current(keys, pending, opened, datetime.now(UTC))
        staged_current = self._stage(self.current, opened, pending, plan.source, self.table.partition_by, keys)
        tombstones = plan.tombstones if plan.tombstones is not None else _NO_TOMBSTONES
        staged_tombs = self._stage(self.tombstones, opened, pending, tombstones, None, keys)
        current_version = _commit(staged_current)
        _commit(staged_tombs)
        return ApplyResult(
            changelog_rows=0,
            upserts=plan.upserts,
            deletes=plan.deletes,
            stale_skipped=plan.upserts + plan.deletes - staged_current.changed if staged_current.tx else 0,
            tombstoned_skipped=plan.tombstoned,
            changelog_version=None,
            current_version=current_version,
            committed=self.committed_offsets(),
        )

    def read_tombstones(self) -> pa.Table | None:
        table = None if self.table.append_only else self.tombstones.open()
        return None if table is None else read_table(table)

    def stored_positions(self, at_least: str) -> set[str]:
        table = self.current.open()
        if table is None:
            return set()
        found = table.scan(row_filter=predicate(GreaterThanOrEqual, POSITION, at_least), selected_fields=(POSITION,)).to_arrow()
        return set(found[POSITION].to_pylist())

    def read_current(self) -> pa.Table | None:
        table = self.current.open()
        if table is None:
            return None
        rows = read_table(table)
        if DELETED in rows.column_names:
            rows = rows.filter(pc.invert(pc.fill_null(rows[DELETED], False)))
        return rows

    def read_changelog(self, columns: Sequence[str] | None = None) -> pa.Table | None:
        table = self.changelog.open() if self.with_changelog else None
        return None if table is None else read_table(table, columns)

    def purge_tombstones(self, older_than: datetime) -> int:
        """Delete tombstones ingested before `older_than` (the caller's retention horizon).

        The purge's snapshot restates the table's offsets, so expiring the snapshots before it loses none;
        a run committing meanwhile makes the purge fail (no commit retries), never the offsets go back.
        After the purge, an event older than a purged delete could resurrect its row again
        (tombstone_retention_hours).
        """
        if older_than.tzinfo is None:
            raise ValueError(f"older_than must be timezone-aware, got {older_than!r}; use datetime.now(UTC)")
        table = None if self.table.append_only else self.tombstones.open()
        if table is None:
            return 0
        expired = predicate(LessThan, INGESTED_AT, older_than.astimezone(UTC).isoformat())
        count = int(table.scan(row_filter=expired, selected_fields=(INGESTED_AT,)).to_arrow().num_rows)
        if count:
            state = committed_state(table, self.topic)
            table.delete(
                expired, snapshot_properties=snapshot_properties(self.topic, state) if state.offsets else {}
            )
        return count

    def _pending(
        self, table: Table | None, rows: pa.Table, consumed: Mapping[int, int], topic_id: str | None
    ) -> _Pending:
        stored = committed_state(table, self.topic)
        applied = stored.offsets
        new = drop_applied(rows, applied)
        moving = advance_to(new, applied, consumed)
        commit = Committed({**applied, **moving}, topic_id or stored.topic_id) if moving else None
        return _Pending(new, applied, commit)

    def _conformed(
        self, table: Table | None, rows: pa.Table, checked: Sequence[str] | None = None
    ) -> pa.Table:
        """`rows` cast to the stored schema; raises SchemaChangeError for what the policy refuses."""
        stored = stored_schema(table) if table is not None else None
        if stored is None or not has_data_columns(stored):
            return rows  # a new table (or one only offsets created) takes the batch's columns as they are
        incoming = rows.select(list(checked)).schema if checked is not None else rows.schema
        policy = self.table.schema_policy
        check_policy(diff_schemas(stored, incoming), policy, self.table.name)
        # Iceberg widens in place (int -> long, float -> double, decimal precision up): keep the wider type.
        return conform(rows, stored, policy, self.table.name, engine_widens=True)


def _commit(staged: _Staged) -> int | None:
    """Commit one table's staged transaction; the snapshot id it made, None if the table was untouched."""
    if staged.tx is None:
        return None
    table = staged.tx.commit_transaction()
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None
