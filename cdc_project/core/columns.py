"""Names and types of the metadata columns every lake row carries, shared by decoding and every sink.

Invariant: `_cdc_position` is a fixed-width string whose lexicographic order is the source's commit order
(see core/ordering.py), so sinks can guard with a plain `source._cdc_position > target._cdc_position`.
"""

from __future__ import annotations

import pyarrow as pa

OP = "_cdc_op"  # c (insert), u (update), d (delete), r (snapshot read)
POSITION = "_cdc_position"  # comparable source position, see core/ordering.py
SOURCE_TS = "_cdc_source_ts"  # source commit time (Debezium source.ts_ms), UTC
TOPIC = "_cdc_topic"
PARTITION = "_cdc_partition"
OFFSET = "_cdc_offset"
INGESTED_AT = "_cdc_ingested_at"  # when the lake commit was prepared, UTC
EVENT_DATE = "_cdc_event_date"  # changelog partition column: the UTC day of SOURCE_TS
DELETED = "_cdc_deleted"  # soft-delete flag in current-state tables with deletes: soft

META_FIELDS: tuple[pa.Field, ...] = (
    pa.field(OP, pa.string(), nullable=False),
    pa.field(POSITION, pa.string(), nullable=False),
    pa.field(SOURCE_TS, pa.timestamp("us", tz="UTC"), nullable=True),
    pa.field(TOPIC, pa.string(), nullable=False),
    pa.field(PARTITION, pa.int32(), nullable=False),
    pa.field(OFFSET, pa.int64(), nullable=False),
)
META_NAMES: frozenset[str] = frozenset(f.name for f in META_FIELDS) | {INGESTED_AT, EVENT_DATE, DELETED}

# Columns of the per-table tombstone table: the key columns plus these.
TOMBSTONE_FIELDS: tuple[pa.Field, ...] = (
    pa.field(POSITION, pa.string(), nullable=False),
    pa.field(SOURCE_TS, pa.timestamp("us", tz="UTC"), nullable=True),
    pa.field(INGESTED_AT, pa.timestamp("us", tz="UTC"), nullable=False),
)

# Present only when an event carried Debezium's unavailable-value placeholder (PostgreSQL unchanged TOAST):
# per row, the names of the data columns whose values were not sent and are null in the row. A merge must
# keep the lake's value for these columns instead of overwriting it with null.
UNAVAILABLE = "_cdc_unavailable"
UNAVAILABLE_FIELD = pa.field(UNAVAILABLE, pa.list_(pa.string()), nullable=True)
META_NAMES = META_NAMES | {UNAVAILABLE}

# Every value _cdc_op can hold. A truncate ('t') names no row: it is recorded in the changelog only.
VALID_OPS: frozenset[str] = frozenset({"c", "u", "d", "r", "t"})
# A current-state table partitioned by `partition_by` gets a derived column `_cdc_part_<column>_<transform>`.
PARTITION_COLUMN_PREFIX = "_cdc_part_"
