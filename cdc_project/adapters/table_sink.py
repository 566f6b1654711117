"""The interface every sink of a captured table implements: Delta Lake, Iceberg and PostgreSQL.

The batch service (`cdc_project/batch.py`), the Dagster assets, `cdc apply`/`cdc show`, the demo comparison
and reconciliation only talk to this interface, so each sink is chosen by configuration
(`tables[].sinks`) and every sink is held to the same contract:

  exactly once   `apply` commits the Kafka offsets it applied in the same atomic commit as the rows (Delta
                 txn versions, Iceberg snapshot-summary properties, a PostgreSQL offsets row in the same
                 transaction) and drops rows at or below them first, so replaying any range is a no-op;
                 `committed_offsets()` reads them back and is where the next run starts.
  topic ID       `apply(..., topic_id=...)` stores the topic's Kafka topic ID in that same commit (Delta txn
                 versions, an Iceberg summary property, the `_cdc_offsets` rows), so offsets and the topic they
                 count in never disagree: a topic deleted and re-created under its name gets a new ID and
                 restarts at offset 0, and `committed_topic_id()` is how the batch service tells. An apply
                 without one keeps the stored ID; one with another ID replaces it (whether that is allowed is
                 the batch service's decision). Like the offsets, it is only written by a commit that moves
                 them: a replay commits nothing, its ID included.
  source order   the last event per key wins within a batch (core/merge_plan.fold_latest); across batches
                 a stored row is only replaced by an event with a greater `_cdc_position`, and a delete's
                 tombstone stops an older event from resurrecting the row.
  schema         new columns and widenings flow through; what the table's policy refuses raises
                 SchemaChangeError before anything is committed (the batch then goes to dead letters).
  repair         `apply_repair` applies reconciliation's repair rows (core/repair_rows.py) to the current
                 state and tombstones under the same source-order guards, and never touches the committed
                 offsets, the topic ID or the changelog: a repair is not a Kafka batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from cdc_project.config import SinkKind, TableConfig


@dataclass(frozen=True)
class ApplyResult:
    changelog_rows: int  # rows appended to the changelog (0 for a sink that does not hold the changelog)
    upserts: int  # latest-per-key c/u/r events offered to the current table (keyless: rows appended)
    deletes: int  # latest-per-key d events offered to the current table
    stale_skipped: int  # offered events the sink left alone: older than the stored row, or deleting no row
    tombstoned_skipped: int  # upserts at or before their key's tombstone: never offered
    changelog_version: int | None  # the changelog version/snapshot this apply committed, None if none
    current_version: int | None  # the current table's version/snapshot this apply committed, None if none
    committed: dict[int, int]  # partition -> last offset committed by every table of the sink


class TableSink(Protocol):
    """One captured table in one sink: its current state, tombstones and (if it holds it) the changelog."""

    table: TableConfig
    topic: str

    @property
    def kind(self) -> SinkKind: ...

    @property
    def location(self) -> str:
        """Where the current-state table lives, for people: a path, a catalog identifier, a schema.table."""
        ...

    def committed_offsets(self) -> dict[int, int]:
        """Partition -> last offset applied by every table of the sink ({} before the first commit)."""
        ...

    def committed_topic_id(self) -> str | None:
        """The topic ID stored with the committed offsets (None before an apply stored one); as cheap as
        `committed_offsets()`, it is read on every sensor tick."""
        ...

    def apply(
        self,
        rows: pa.Table,
        key_columns: Sequence[str],
        *,
        consumed_through: Mapping[int, int] | None = None,
        topic_id: str | None = None,
    ) -> ApplyResult:
        """Apply decoded change rows of this sink's topic; `consumed_through` moves offsets past messages
        that produced no row (Kafka tombstones, dead letters). `topic_id` (Kafka's 22-character base64 form,
        `str(confluent_kafka.Uuid)`) is stored with the offsets this apply commits; None keeps the stored one.
        A malformed ID raises ValueError before anything is written."""
        ...

    def read_current(self) -> pa.Table | None:
        """The live rows of the current-state table (soft-deleted rows excluded), None before it exists."""
        ...

    def read_changelog(self, columns: Sequence[str] | None = None) -> pa.Table | None:
        """The changelog's rows (only `columns` if given); None if this sink holds no changelog yet."""
        ...

    def stored_positions(self, at_least: str) -> set[str]:
        """`_cdc_position`s of current-table rows at or after `at_least`: how an append-only (keyless) table
        recognises an event the capture delivered again after a crash (same position, new Kafka offset)."""
        ...

    def read_tombstones(self) -> pa.Table | None:
        """Key columns + `_cdc_position` of every deleted key; None when keyless or before the first delete."""
        ...

    def apply_repair(self, rows: pa.Table, key_columns: Sequence[str]) -> ApplyResult:
        """Re-sync keys from the source: `rows` from core/repair_rows.repair_batch (ops 'r'/'d', positions
        suffixed 'r', Kafka partition/offset -1), validated with core/repair_rows.validate_repair.

        Like `apply`: the last row per key wins, a row whose position is not above the stored row's (or at
        or below the key's tombstone) is skipped, 'd' deletes (or soft-deletes) and writes a tombstone.
        Unlike `apply`: no offset filtering (drop_applied) and no offsets committed, nothing appended to the
        changelog; the returned `committed` is the unchanged committed offsets. Raises RepairRefusedError for
        a keyless table.
        """
        ...

    def purge_tombstones(self, older_than: datetime) -> int:
        """Drop tombstones ingested before `older_than` (timezone-aware); return how many."""
        ...
