"""Debezium Cassandra change events: cells -> rows.

The Cassandra agent writes every column of `after` as a cell `{"value": v, "deletion_ts": ts|null,
"set": true}`, or null when the write did not touch the column: Cassandra does no read-before-write, so a
commit log mutation holds only the columns it wrote (partition and clustering key columns always). Hence:

- an insert (`i`) or update (`u`) is a partial row: untouched columns are unchanged, never nulled;
- a cell with a `deletion_ts` was deleted by the write (`DELETE c FROM ..`, a TTL): its value is null;
- `d` deletes the row named by its key cells; snapshot rows (source.snapshot true) are full rows, op `r`;
- a range tombstone (op `r` with `.range_start`/`.range_end`) deletes a clustering range, which no
  per-key merge can apply: the event is refused, naming the range.

Value types come from the cell's `value` schema through the Connect dispatch table (CQL text, ints, counter
as int64, date -> io.debezium.time.Date, timestamp -> io.debezium.time.Timestamp, duration ->
io.debezium.time.NanoDuration, uuid/timeuuid -> Uuid, inet -> string, varint per varint.handling.mode,
list/set -> array, map -> map, tuple -> struct field1..N, UDT -> struct). CQL `time` arrives as a plain
int64 of nanoseconds (no logical name), and a counter cell holds what the write applied; both land as int64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdc_project.core.errors import DecodeError

CELL_VALUE = "value"
CELL_DELETION_TS = "deletion_ts"
RANGE_FIELDS = (".range_start", ".range_end")
_OPS = {"i": "c", "c": "c", "u": "u", "d": "d"}


def is_range_field(name: str) -> bool:
    return name in RANGE_FIELDS


def value_schema(cell_schema: Mapping[str, Any], column: str) -> Mapping[str, Any]:
    """The Connect schema of a cell's `value` field (the column's own type)."""
    for field in cell_schema.get("fields", ()):
        if field.get("field") == CELL_VALUE:
            return field  # type: ignore[no-any-return]
    raise DecodeError(f"after.{column} is not a Cassandra cell schema (no 'value' field)")


def row_of(payload: Mapping[str, Any], snapshot: bool) -> tuple[str, dict[str, Any], bool]:
    """(op, row, partial) of one Cassandra change event."""
    raw_op = payload.get("op")
    after = payload.get("after")
    if not isinstance(after, dict):
        raise DecodeError(f"Cassandra event (op {raw_op!r}) has no 'after' cells object")
    if raw_op == "r":
        start, end = after.get(".range_start"), after.get(".range_end")
        raise DecodeError(
            f"range tombstone from {start!r} to {end!r} deletes a clustering range; the lake merges by key "
            "and cannot apply it. Delete the range in the lake by hand, or re-snapshot the table"
        )
    op = _OPS.get(raw_op)  # type: ignore[arg-type]
    if op is None:
        raise DecodeError(f"{raw_op!r} is not a valid Cassandra op. Valid values are: {sorted(_OPS)}")
    row: dict[str, Any] = {}
    for name, cell in after.items():
        if cell is None or name in RANGE_FIELDS:
            continue  # not written by this mutation
        if not isinstance(cell, dict) or CELL_VALUE not in cell:
            raise DecodeError(f"after.{name} is {cell!r}, not a cell {{'value', 'deletion_ts', 'set'}}")
        deleted = cell.get(CELL_DELETION_TS) is not None and op != "d"
        row[name] = None if deleted else cell[CELL_VALUE]
    if snapshot and op == "c":
        return "r", row, False
    return op, row, op != "d"
