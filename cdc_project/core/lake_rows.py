"""What the rows of each lake table of a captured table look like, built from decoded change events.

  changelog   every change event as received (data + all META_FIELDS + `_cdc_unavailable`), plus
              `_cdc_ingested_at` and `_cdc_event_date` (its partition column)
  current     one row per key: data columns + `_cdc_op`, `_cdc_position`, `_cdc_source_ts`,
              `_cdc_ingested_at` (+ `_cdc_deleted` with soft deletes, + the derived partition column).
              Topic/partition/offset are left out on purpose: they say where an event was read, not what the
              row is, and the Kafka offsets a table has applied live in its Delta txn versions instead
  tombstones  key columns + `_cdc_position`, `_cdc_source_ts`, `_cdc_ingested_at` of each key's last delete
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.core.columns import (
    DELETED,
    EVENT_DATE,
    INGESTED_AT,
    META_NAMES,
    OP,
    PARTITION_COLUMN_PREFIX,
    POSITION,
    SOURCE_TS,
    UNAVAILABLE,
    UNAVAILABLE_FIELD,
)
from cdc_project.core.partitioning import DerivedPartition
from cdc_project.core.unavailable import KEEP_STORED_PREFIX

CURRENT_META = (OP, POSITION, SOURCE_TS, INGESTED_AT)
TOMBSTONE_META = (POSITION, SOURCE_TS, INGESTED_AT)
_UTC_US = pa.timestamp("us", tz="UTC")


def data_columns(rows: pa.Table) -> list[str]:
    derived = (KEEP_STORED_PREFIX, PARTITION_COLUMN_PREFIX)
    return [name for name in rows.column_names if name not in META_NAMES and not name.startswith(derived)]


def has_data_columns(schema: pa.Schema) -> bool:
    """False for a table an offsets-only batch created before any row told it its columns."""
    derived = (KEEP_STORED_PREFIX, PARTITION_COLUMN_PREFIX)
    return any(n not in META_NAMES and not n.startswith(derived) for n in schema.names)


def _constant(value: datetime, n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, _UTC_US), pa.scalar(value, _UTC_US))


def changelog_rows(rows: pa.Table, ingested_at: datetime) -> pa.Table:
    """Every event as received, with a `_cdc_unavailable` column whether or not the batch had one.

    The event date falls back to the ingest time when the source sent no timestamp: a null partition value
    would be Hive's default partition, which no date filter reaches.
    """
    if UNAVAILABLE not in rows.column_names:
        rows = rows.append_column(UNAVAILABLE_FIELD, pa.nulls(rows.num_rows, UNAVAILABLE_FIELD.type))
    ingested = _constant(ingested_at, rows.num_rows)
    event_ts = pc.coalesce(rows[SOURCE_TS].cast(_UTC_US), ingested)
    rows = rows.append_column(pa.field(INGESTED_AT, _UTC_US), ingested)
    return rows.append_column(pa.field(EVENT_DATE, pa.date32()), pc.cast(event_ts, pa.date32()))


def current_rows(
    latest: pa.Table, ingested_at: datetime, *, soft_deletes: bool, partition: DerivedPartition | None
) -> pa.Table:
    """The MERGE source of the current-state table: the folded events, shaped like its rows.

    Keep-stored flags (core/unavailable.py) ride along for the MERGE; the sink never writes them.
    """
    flags = [name for name in latest.column_names if name.startswith(KEEP_STORED_PREFIX)]
    rows = latest.select([*data_columns(latest), OP, POSITION, SOURCE_TS, *flags])
    rows = rows.append_column(pa.field(INGESTED_AT, _UTC_US), _constant(ingested_at, rows.num_rows))
    if soft_deletes:
        rows = rows.append_column(pa.field(DELETED, pa.bool_()), pc.equal(rows[OP], "d"))
    return partition.add_to(rows) if partition is not None else rows


def appended_rows(rows: pa.Table, ingested_at: datetime, partition: DerivedPartition | None) -> pa.Table:
    """Current-state rows of a keyless table: every inserted (c) or snapshot (r) row, appended as is."""
    inserted = rows.filter(pc.is_in(rows[OP], value_set=pa.array(["c", "r"])))
    return current_rows(inserted, ingested_at, soft_deletes=False, partition=partition)


def tombstone_rows(deletes: pa.Table, key_columns: Sequence[str], ingested_at: datetime) -> pa.Table:
    rows = deletes.select([*key_columns, POSITION, SOURCE_TS])
    return rows.append_column(pa.field(INGESTED_AT, _UTC_US), _constant(ingested_at, rows.num_rows))
