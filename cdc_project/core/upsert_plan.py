"""Plan an ordered, copy-on-write upsert in Arrow: which stored files to rewrite and the rows replacing them.

A sink without a MERGE (Iceberg through pyiceberg) reads the files that may hold the batch's keys, each row
tagged with its file's index in `FILE_INDEX`, and this module decides, per key, what the MERGE of
`adapters/delta_tables.merge_current` would have done:

  ORDER GUARD   a stored row changes only when the event is newer (`latest._cdc_position >
                stored._cdc_position`); an older or equal event is stale and leaves it alone
  deletes       hard: the stored row goes; soft: it stays with the delete's op, position, times and
                `_cdc_deleted = true`; a delete of a key with no stored row is stale (nothing to delete)
  TOAST         a keep-stored flag (core/unavailable.py) takes the stored value instead of the event's null
  inserts       a key without a stored row is inserted unless its latest event is a delete

A file is rewritten only when one of its rows changes, so a batch of stale events rewrites nothing. Rows
without `_cdc_op` (tombstones) are all upserts under the same guard.

Pure pyarrow: one hash join of the batch's keys against the stored keys, then takes and filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.core.columns import DELETED, INGESTED_AT, OP, POSITION, SOURCE_TS
from cdc_project.core.unavailable import keep_stored_columns

FILE_INDEX = "__cdc_file"  # scratch column on stored rows: the index of the file the row was read from
_LATEST = "__cdc_latest_row"
_STORED = "__cdc_stored_row"
# What a soft delete changes in the stored row (the same columns the Delta MERGE sets).
SOFT_DELETE_MARK = (OP, POSITION, SOURCE_TS, INGESTED_AT, DELETED)


@dataclass(frozen=True)
class UpsertPlan:
    rows: pa.Table  # replaces the rewritten files: their unchanged rows plus every inserted or changed row
    rewritten: tuple[int, ...]  # FILE_INDEX values of the stored files `rows` replaces
    inserted: int
    updated: int  # soft-delete marks included, as the Delta MERGE counts them
    deleted: int  # rows a hard delete removed

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

    @property
    def writes(self) -> bool:
        return self.rows.num_rows > 0 or bool(self.rewritten)


def align(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """`rows` with exactly `schema`'s columns in its order: absent columns null, the others cast to it.

    Every cast here is lossless by the time it runs: core/schema_diff.conform already refused what does not
    fit, and the table's schema was widened to hold what does. Struct casts go by field name.
    """
    columns = [
        rows[f.name].cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def row_numbers(n: int) -> pa.Array:
    """0..n-1 as int64, built in Arrow (a Python range of a million rows costs ten times more)."""
    return pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), 1)


def _numbered(rows: pa.Table, keys: list[str], schema: pa.Schema, name: str) -> pa.Table:
    # Keys at the table's types on both sides: a join refuses int32 against int64.
    numbered = align(rows.select(keys), pa.schema([schema.field(k) for k in keys]))
    return numbered.append_column(name, row_numbers(rows.num_rows))


def _with_stored_values(new: pa.Table, old: pa.Table, flags: dict[str, pa.ChunkedArray]) -> pa.Table:
    """TOAST invariant: where a keep-stored flag is set, the stored value survives the update."""
    for column, flag in flags.items():
        if column in new.column_names:
            index = new.schema.get_field_index(column)
            value = pc.if_else(pc.fill_null(flag, False), old[column], new[column])
            new = new.set_column(index, new.schema.field(index), value)
    return new


def _marked_deleted(old: pa.Table, deletes: pa.Table) -> pa.Table:
    for column in SOFT_DELETE_MARK:
        if column in old.column_names:
            index = old.schema.get_field_index(column)
            old = old.set_column(index, old.schema.field(index), deletes[column])
    return old


def plan_upsert(
    stored: pa.Table, latest: pa.Table, key_columns: Sequence[str], schema: pa.Schema, *, soft_deletes: bool
) -> UpsertPlan:
    """Merge `latest` (one row per key, current_rows-shaped) into `stored` (candidate files' rows, tagged
    with FILE_INDEX, already read at `schema`); every output row is aligned to `schema`."""
    keys = list(key_columns)
    probe, build = _numbered(latest, keys, schema, _LATEST), _numbered(stored, keys, schema, _STORED)
    pairs = probe.join(build, keys, join_type="left outer")
    latest_row, stored_row = pairs[_LATEST], pairs[_STORED]
    matched = pc.is_valid(stored_row)
    is_delete = (
        pc.fill_null(pc.equal(latest[OP].take(latest_row), "d"), False)
        if OP in latest.column_names
        else pa.array([False] * pairs.num_rows, pa.bool_())
    )
    # Null positions compare as not newer: a row without a position is never overwritten by accident.
    newer = pc.fill_null(
        pc.greater(latest[POSITION].take(latest_row), stored[POSITION].take(stored_row)), False
    )
    changes = pc.and_(matched, newer)
    updates, deletes = pc.and_(changes, pc.invert(is_delete)), pc.and_(changes, is_delete)
    inserts = pc.and_(pc.invert(matched), pc.invert(is_delete))

    flags = keep_stored_columns(latest)
    upd_latest, upd_stored = latest_row.filter(updates), stored_row.filter(updates)
    flag_values = {column: latest[flag].take(upd_latest) for column, flag in flags.items()}
    updated = _with_stored_values(
        align(latest.take(upd_latest), schema), align(stored.take(upd_stored), schema), flag_values
    )
    pieces = [updated, align(latest.take(latest_row.filter(inserts)), schema)]
    if soft_deletes:
        del_latest, del_stored = latest_row.filter(deletes), stored_row.filter(deletes)
        marks = align(latest.take(del_latest), schema)
        pieces.append(_marked_deleted(align(stored.take(del_stored), schema), marks))

    replaced = stored_row.filter(changes)
    rewritten = pc.unique(stored[FILE_INDEX].take(replaced)) if len(replaced) else pa.array([], pa.int64())
    row_number = row_numbers(stored.num_rows)
    kept = pc.and_(
        pc.is_in(stored[FILE_INDEX], value_set=rewritten), pc.invert(pc.is_in(row_number, value_set=replaced))
    )
    rows = pa.concat_tables([align(stored.filter(kept), schema), *pieces])
    n_deletes = pc.sum(deletes).as_py() or 0
    return UpsertPlan(
        rows=rows,
        rewritten=tuple(sorted(rewritten.to_pylist())),
        inserted=pc.sum(inserts).as_py() or 0,
        updated=(pc.sum(updates).as_py() or 0) + (n_deletes if soft_deletes else 0),
        deleted=0 if soft_deletes else n_deletes,
    )
