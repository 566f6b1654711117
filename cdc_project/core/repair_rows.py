"""Change rows that re-sync differing keys from the source, for a sink's `apply_repair` (pure pyarrow).

Rows have the decoded-row shape (data columns + META_FIELDS, core/columns.py) so a sink folds, guards and
merges them like any batch, but they come from a source snapshot, not from Kafka:

  op        'r' (the source's current row, like a snapshot read) or 'd' (the key is gone from the source:
            the sink deletes it and writes a tombstone)
  position  the lake's state for the key (LakeSide.key_states: the greater of its row's and its
            tombstone's `_cdc_position`) followed by 'r' (`repair_position`). It sorts after everything the
            lake holds for the key, so the ORDER GUARD lets it in, and before every later event of the key:
            a real position greater than the lake's differs from it within the fixed-width part, so it
            also exceeds the suffixed one. A repair therefore never overwrites a change it did not see.
            A key the lake never held gets 32 zeros + 'r': any real event beats it.
  partition, offset   -1: no Kafka coordinates. Sinks apply repairs without touching their committed
            offsets (TableSink.apply_repair).

A sink may repair only keys whose lake state was settled against the snapshot the rows were read from
(core/reconcile.split_settled); the reconciliation service guarantees that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.types as pt

from cdc_project.core.columns import META_FIELDS, OFFSET, OP, PARTITION, POSITION, SOURCE_TS, TOPIC

REPAIR_SUFFIX = "r"
REPAIR_PARTITION = -1
REPAIR_OFFSET = -1
_UNKNOWN_KEY_POSITION = "0" * 32


def repair_position(lake_state: str | None) -> str:
    return (lake_state or _UNKNOWN_KEY_POSITION) + REPAIR_SUFFIX


@dataclass(frozen=True)
class RepairRow:
    key: Mapping[str, Any]  # key column -> value
    source: Mapping[str, Any] | None  # the source's row in the snapshot; None: deleted in the source
    lake_state: str | None


def _lake_value(value: Any, arrow: pa.DataType) -> Any:
    """A value read from PostgreSQL in the form Arrow takes for the lake column's type."""
    if value is None:
        return None
    if isinstance(value, memoryview):
        return value.tobytes()
    if pt.is_string(arrow) or pt.is_large_string(arrow):
        if isinstance(value, time):
            return value.strftime("%H:%M:%S.%f")  # how core/delta_types stores time64
        if isinstance(value, Decimal):
            return format(value, "f")  # unconstrained numeric: the exact digits
        return value if isinstance(value, str) else str(value)
    if (pt.is_list(arrow) or pt.is_large_list(arrow)) and isinstance(value, list):
        return [_lake_value(v, arrow.value_type) for v in value]
    return value


def repair_batch(
    rows: Sequence[RepairRow], data_schema: pa.Schema, topic: str, read_at: datetime
) -> pa.Table:
    """The change rows for `rows`, data columns typed as the lake stores them (`data_schema`)."""
    columns: list[pa.Array] = []
    for field in data_schema:
        values = []
        for row in rows:
            if row.source is not None:
                raw = row.source.get(field.name)
            else:  # a delete carries only the key
                raw = row.key.get(field.name)
            values.append(_lake_value(raw, field.type))
        columns.append(pa.array(values, type=field.type))
    meta = {
        OP: ["r" if row.source is not None else "d" for row in rows],
        POSITION: [repair_position(row.lake_state) for row in rows],
        SOURCE_TS: [read_at] * len(rows),
        TOPIC: [topic] * len(rows),
        PARTITION: [REPAIR_PARTITION] * len(rows),
        OFFSET: [REPAIR_OFFSET] * len(rows),
    }
    columns += [pa.array(meta[f.name], f.type) for f in META_FIELDS]
    fields = [f.with_nullable(True) for f in data_schema] + list(META_FIELDS)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def validate_repair(rows: pa.Table, key_columns: Sequence[str]) -> None:
    """What a sink checks before applying repair rows: the shape above, ops 'r'/'d', repair positions."""
    missing = [f.name for f in META_FIELDS if f.name not in rows.column_names]
    missing += [k for k in key_columns if k not in rows.column_names]
    if missing:
        raise ValueError(f"repair rows lack columns {missing}; build them with core/repair_rows.repair_batch")
    ops = set(rows.column(OP).to_pylist())
    if not ops <= {"r", "d"}:
        raise ValueError(f"repair ops {sorted(ops)} are not valid. Valid values are: ['d', 'r']")
    unsuffixed = [p for p in rows.column(POSITION).to_pylist() if not str(p).endswith(REPAIR_SUFFIX)]
    if unsuffixed:
        raise ValueError(f"repair positions {unsuffixed[:3]} lack the repair suffix; use repair_position()")
    offsets = {
        (p, o)
        for p, o in zip(rows.column(PARTITION).to_pylist(), rows.column(OFFSET).to_pylist(), strict=True)
    }
    if offsets - {(REPAIR_PARTITION, REPAIR_OFFSET)}:
        raise ValueError("repair rows carry Kafka coordinates; a repair must not move committed offsets")
