"""The Delta Lake sink of one captured table: changelog, current state and tombstones, applied exactly once.

Layout: {lake_root}/{source}/{schema}/{table}/changelog | current | tombstones (tombstones only with a key);
core/lake_rows.py says what each table's rows look like.

Invariants, each enforced where named:
  exactly once   each table commits its Kafka offsets as txn versions in the same commit as its data and
                 drops rows at or below them before writing (delta_tables.TxnAdvance, drop_applied),
                 so replaying any range - or the rest of a range after a crash between two tables' commits -
                 writes nothing twice and a fully applied replay creates no Delta version at all.
                 A table whose offsets move but that has nothing to write still commits its txn versions
                 (an empty commit), so `committed_offsets()`, the minimum over the tables, keeps moving.
                 The topic ID rides in the same commits as txn versions too (delta_tables module docstring).
  source order   last event per key inside a batch (merge_plan.fold_latest); across batches the MERGE guard
                 `source.position > target.position` (delta_tables.merge_current) and the tombstone guard
                 (merge_plan.drop_tombstoned) so an old event never overwrites or resurrects a row.
  schema         the whole batch is checked against every table's stored schema and the table's policy
                 before the first commit (core/schema_diff.py), so a refused batch leaves no trace.
Known limitation: truncate events ('t') are recorded in the changelog only; the current table keeps its rows.
Keyless tables (`primary_key: []`): the current table is an append-only log of inserted/snapshot rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from cdc_project import failpoints
from cdc_project.adapters.delta_tables import (
    LakeTable,
    TxnAdvance,
    Write,
    append,
    applied_versions,
    commit_offsets_with,
    committed,
    merge_current,
    merge_tombstones,
    partitions_seen,
    q,
    read_tombstones,
    repair_advance,
    stored_schema,
    stored_topic_id,
)
from cdc_project.adapters.table_sink import ApplyResult
from cdc_project.config import TableConfig
from cdc_project.core.columns import DELETED, EVENT_DATE, INGESTED_AT, POSITION, TOMBSTONE_FIELDS
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
    last_offsets,
    resolve_keys,
    validate_batch,
)
from cdc_project.core.partitioning import DerivedPartition
from cdc_project.core.repair_rows import validate_repair
from cdc_project.core.schema_diff import check_policy, conform, diff_schemas

__all__ = ["ApplyResult", "DeltaTableSink"]

# delta-rs 1.6.6 cannot widen a column in place; under the evolve policy the table is rewritten at the wider
# type before the batch is written (delta_tables.widen). Under lenient, widened values are cast to the stored
# type and refused when one does not fit (core/schema_diff.conform).
DELTA_WIDENS_TYPES = True


@dataclass(frozen=True)
class _CurrentPlan:
    source: pa.Table  # the current table's MERGE source (or rows to append, keyless)
    partition_by: list[str]
    upserts: int
    deletes: int
    tombstoned: int
    tombstones: pa.Table | None  # rows for the tombstone table; None when keyless


@dataclass(frozen=True)
class _Pending:
    rows: pa.Table  # the batch minus what this table already applied
    applied: dict[int, int]
    advance: TxnAdvance | None  # None: the table has every offset of the batch and is left untouched


class DeltaTableSink:
    kind: Literal["delta"] = "delta"

    def __init__(
        self,
        lake_root: str,
        source_name: str,
        table: TableConfig,
        topic: str,
        storage_options: dict[str, str] | None = None,
        *,
        with_changelog: bool = True,
    ) -> None:
        self.table = table
        self.topic = topic
        self.with_changelog = with_changelog  # only the table's changelog sink writes it (TableConfig.sinks)
        base = f"{lake_root.rstrip('/')}/{source_name}/{table.schema_name}/{table.table_name}"
        self.changelog = LakeTable(f"{base}/changelog", storage_options)
        self.current = LakeTable(f"{base}/current", storage_options)
        self.tombstones = LakeTable(f"{base}/tombstones", storage_options)
        spec = table.partition_by
        self._partition = DerivedPartition(spec.column, spec.transform, table.name) if spec else None

    @property
    def location(self) -> str:
        return self.current.uri

    def _tables(self) -> list[LakeTable]:
        log = [self.changelog] if self.with_changelog else []
        return [*log, self.current] + ([] if self.table.append_only else [self.tombstones])

    def stored_positions(self, at_least: str) -> set[str]:
        dt = self.current.open()
        if dt is None:
            return set()
        found = dt.to_pyarrow_table(columns=[POSITION], filters=[(POSITION, ">=", at_least)])
        return set(found[POSITION].to_pylist())

    def read_current(self) -> pa.Table | None:
        dt = self.current.open()
        if dt is None:
            return None
        rows = dt.to_pyarrow_table()
        if DELETED in rows.column_names:
            rows = rows.filter(pc.invert(pc.fill_null(rows[DELETED], False)))
        return rows

    def committed_offsets(self) -> dict[int, int]:
        """Per partition, the minimum over the sink's tables: a run resumes from the laggard."""
        per_table = []
        for table in self._tables():
            dt = table.open()
            if dt is None:
                return {}
            per_table.append(committed(dt, self.topic))
        common = set.intersection(*(set(offsets) for offsets in per_table))
        return {p: min(offsets[p] for offsets in per_table) for p in sorted(common)}

    def committed_topic_id(self) -> str | None:
        """The current table's: it exists in every layout, and every table's offsets commit carries the ID."""
        return stored_topic_id(self.current.open(), self.topic)

    def apply(
        self,
        rows: pa.Table,
        key_columns: Sequence[str],
        *,
        consumed_through: Mapping[int, int] | None = None,
        topic_id: str | None = None,
    ) -> ApplyResult:
        """Apply one batch of change events of this sink's topic to every table, each exactly once.

        `consumed_through` (partition -> last offset read) lets the caller commit past messages that produced
        no row (Debezium's null tombstones, dead-lettered events); it must be at least each partition's last
        row offset. A partition it names advances even when `rows` is empty. `topic_id` is recorded by each
        table's offsets commit (TableSink.apply).
        """
        tomb_dt = None if self.table.append_only else self.tombstones.open()
        stored_keys = stored_schema(tomb_dt) if tomb_dt is not None else None
        keys = resolve_keys(self.table.name, self.table.append_only, key_columns, stored_keys, rows)
        consumed = dict(consumed_through or {})
        validate_batch(rows, self.topic, consumed, topic_id)
        rows = to_delta_compatible(rows)
        now = datetime.now(UTC)
        dts = {t.uri: t.open() for t in self._tables()}
        pending = {t.uri: self._pending(dts[t.uri], rows, consumed, topic_id) for t in self._tables()}

        # Plan every table before the first commit, so a SchemaChangeError leaves no trace.
        log_rows: pa.Table | None = None
        if self.with_changelog:
            log_dt = dts[self.changelog.uri]
            log_rows = self._conformed(log_dt, changelog_rows(pending[self.changelog.uri].rows, now))
        plan = self._plan_current(keys, pending, dts, now)

        log_version = None
        if log_rows is not None:
            log = pending[self.changelog.uri]
            log_version, _ = commit_offsets_with(
                self.changelog, dts[self.changelog.uri], log_rows, log.advance, [EVENT_DATE], append
            )
            failpoints.hit("after_changelog_commit")  # crash tests: changelog ahead of current state
        current = pending[self.current.uri]
        soft = self.table.deletes == "soft"
        write: Write = partial(merge_current, keys=keys, soft_deletes=soft) if keys else append
        current_version, metrics = commit_offsets_with(
            self.current, dts[self.current.uri], plan.source, current.advance, plan.partition_by, write
        )
        failpoints.hit("after_current_commit")  # crash tests: tombstones behind current state
        if not self.table.append_only:
            tomb = pending[self.tombstones.uri]
            # No key yet (a table's first batch held only truncates): nothing to merge, the offsets still move.
            merge: Write = partial(merge_tombstones, keys=keys) if keys else append
            tombstones = plan.tombstones if plan.tombstones is not None else _NO_TOMBSTONES
            commit_offsets_with(self.tombstones, dts[self.tombstones.uri], tombstones, tomb.advance, [], merge)
        log_count = log_rows.num_rows if log_rows is not None else 0
        return self._result(plan, metrics, log_count, log_version, current_version)

    def _plan_current(
        self,
        keys: tuple[str, ...],
        pending: dict[str, _Pending],
        dts: dict[str, DeltaTable | None],
        now: datetime,
    ) -> _CurrentPlan:
        current, current_dt = pending[self.current.uri], dts[self.current.uri]
        new_rows = self._conformed(current_dt, current.rows, data_columns(current.rows))
        partition = self._current_partition(current_dt)
        if not keys:
            source = appended_rows(new_rows, now, partition)
            return _CurrentPlan(source, _partition_by(partition, source), source.num_rows, 0, 0, None)
        tomb, tomb_dt = pending[self.tombstones.uri], dts[self.tombstones.uri]
        if not has_changes(new_rows) and not has_changes(tomb.rows):
            # Only offsets move (Kafka tombstones, dead letters, truncates): nothing to fold, and such a
            # batch may not even carry the key columns.
            return _CurrentPlan(new_rows.slice(0, 0), [], 0, 0, 0, tomb.rows.slice(0, 0))
        folded = fold_latest(new_rows, keys)
        tomb_deletes = folded.deletes
        if tomb.applied != current.applied:  # the two stopped at different offsets (a crash): fold its rows
            tomb_rows = self._conformed(current_dt, tomb.rows, data_columns(tomb.rows))
            tomb_deletes = fold_latest(tomb_rows, keys).deletes
        tombstones = self._conformed(tomb_dt, tombstone_rows(tomb_deletes, keys, now), keys)
        # The guard also sees this apply's own tombstones: after a crash between the current and tombstone
        # commits they hold deletes the current table has applied but the tombstone table still lacks.
        known = tombstones.select([*keys, POSITION])
        if tomb_dt is not None:
            stored = read_tombstones(tomb_dt, keys, folded.upserts)
            known = pa.concat_tables([stored, known], promote_options="permissive")
        kept, tombstoned = drop_tombstoned(folded.upserts, known, keys)
        latest = pa.concat_tables([kept, folded.deletes], promote_options="default")
        source = current_rows(latest, now, soft_deletes=self.table.deletes == "soft", partition=partition)
        return _CurrentPlan(
            source=source,
            partition_by=_partition_by(partition, source),
            upserts=kept.num_rows,
            deletes=folded.deletes.num_rows,
            tombstoned=tombstoned,
            tombstones=tombstones,
        )

    def apply_repair(self, rows: pa.Table, key_columns: Sequence[str]) -> ApplyResult:
        """Re-sync keys from the source (TableSink.apply_repair): the current and tombstone tables' MERGEs
        with the same guards as `apply`, committed without txn versions, the changelog untouched."""
        if self.table.append_only:
            reason = "a keyless table has no key to re-sync rows by; re-snapshot it instead"
            raise RepairRefusedError(self.table.name, self.kind, reason)
        keys = tuple(key_columns)
        validate_repair(rows, keys)
        rows = to_delta_compatible(rows)
        advance = repair_advance(self.topic)
        tables = (self.current, self.tombstones)
        dts = {t.uri: t.open() for t in tables}
        pending = {t.uri: _Pending(rows, {}, advance) for t in tables}
        plan = self._plan_current(keys, pending, dts, datetime.now(UTC))
        soft = self.table.deletes == "soft"
        merge = partial(merge_current, keys=keys, soft_deletes=soft)
        current_version, metrics = commit_offsets_with(
            self.current, dts[self.current.uri], plan.source, advance, plan.partition_by, merge
        )
        tombstone_merge = partial(merge_tombstones, keys=keys)
        tombstones = dts[self.tombstones.uri]
        commit_offsets_with(self.tombstones, tombstones, plan.tombstones, advance, [], tombstone_merge)
        return self._result(plan, metrics, 0, None, current_version)

    def _result(
        self,
        plan: _CurrentPlan,
        metrics: dict[str, int],
        changelog_rows: int,
        changelog_version: int | None,
        current_version: int | None,
    ) -> ApplyResult:
        changed = sum(metrics.get(f"num_target_rows_{k}", 0) for k in ("inserted", "updated", "deleted"))
        return ApplyResult(
            changelog_rows=changelog_rows,
            upserts=plan.upserts,
            deletes=plan.deletes,
            stale_skipped=plan.upserts + plan.deletes - changed if metrics else 0,
            tombstoned_skipped=plan.tombstoned,
            changelog_version=changelog_version,
            current_version=current_version,
            committed=self.committed_offsets(),
        )

    def read_tombstones(self) -> pa.Table | None:
        dt = None if self.table.append_only else self.tombstones.open()
        return None if dt is None else dt.to_pyarrow_table()

    def read_changelog(self, columns: Sequence[str] | None = None) -> pa.Table | None:
        dt = self.changelog.open() if self.with_changelog else None
        return None if dt is None else dt.to_pyarrow_table(columns=list(columns) if columns else None)

    def purge_tombstones(self, older_than: datetime) -> int:
        """Delete tombstones ingested before `older_than` (the caller's retention horizon).

        After the purge, an event older than a purged delete could resurrect its row again: the horizon
        (`tombstone_retention_hours`) must exceed how late an event can arrive.
        """
        if older_than.tzinfo is None:
            raise ValueError(f"older_than must be timezone-aware, got {older_than!r}; use datetime.now(UTC)")
        dt = None if self.table.append_only else self.tombstones.open()
        if dt is None:
            return 0
        horizon = older_than.astimezone(UTC).isoformat()
        metrics = dt.delete(f"{q(INGESTED_AT)} < '{horizon}'")
        return int(metrics["num_deleted_rows"])

    def _pending(
        self, dt: DeltaTable | None, rows: pa.Table, consumed: Mapping[int, int], topic_id: str | None
    ) -> _Pending:
        applied = applied_versions(dt, self.topic, set(last_offsets(rows)) | set(consumed))
        new = drop_applied(rows, applied)
        moving = advance_to(new, applied, consumed)
        seen = partitions_seen(dt, self.topic)
        advance = TxnAdvance(self.topic, moving, seen, topic_id) if moving else None
        return _Pending(new, applied, advance)

    def _conformed(
        self, dt: DeltaTable | None, rows: pa.Table, checked: Sequence[str] | None = None
    ) -> pa.Table:
        """`rows` cast to the stored schema; raises SchemaChangeError for what the policy refuses."""
        stored = stored_schema(dt) if dt is not None else None
        if stored is None or not has_data_columns(stored):
            return rows  # a new table (or one only offsets created) takes the batch's columns as they are
        incoming = rows.select(list(checked)).schema if checked is not None else rows.schema
        policy = self.table.schema_policy
        check_policy(diff_schemas(stored, incoming), policy, self.table.name)
        return conform(rows, stored, policy, self.table.name, engine_widens=DELTA_WIDENS_TYPES)

    def _current_partition(self, dt: DeltaTable | None) -> DerivedPartition | None:
        # Partitioning is fixed when a table is created: a partition_by added later is ignored.
        if self._partition is None or dt is None:
            return self._partition
        return self._partition if self._partition.name in dt.metadata().partition_columns else None


_NO_TOMBSTONES = pa.schema(TOMBSTONE_FIELDS).empty_table()


def _partition_by(partition: DerivedPartition | None, source: pa.Table) -> list[str]:
    return [partition.name] if partition is not None and partition.name in source.column_names else []
