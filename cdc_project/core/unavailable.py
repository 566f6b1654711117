"""Values the source did not send (PostgreSQL unchanged TOAST): fill from the batch, else keep the lake's.

Debezium replaces an unchanged TOASTed column with a placeholder; the decoder nulls it and lists the column in
`_cdc_unavailable`. Invariant: such a null never overwrites a value. Inside one batch the value is taken from
the key's previous event that did carry it (an update after an insert in the same batch); what is still
unknown after that becomes a per-column `keep-stored` flag that the current-state MERGE turns into
`CASE WHEN flag THEN target.col ELSE source.col END`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.core.columns import UNAVAILABLE

KEEP_STORED_PREFIX = "__cdc_keep_stored__"  # merge-source only, never written to a lake table


def keep_stored_column(column: str) -> str:
    return f"{KEEP_STORED_PREFIX}{column}"


def keep_stored_columns(table: pa.Table) -> dict[str, str]:
    """Data column -> its keep-stored flag column, for the flags `table` carries."""
    flags = [name for name in table.column_names if name.startswith(KEEP_STORED_PREFIX)]
    return {name[len(KEEP_STORED_PREFIX) :]: name for name in flags}


def _key_starts(rows: pa.Table, key_columns: Sequence[str]) -> pa.Array:
    """True where a row's key differs from the previous row's (rows are sorted by key)."""
    n = rows.num_rows
    same: pa.Array | None = None
    for key in key_columns:
        column = rows[key].combine_chunks()
        # A null key compares as different: conservative, it only means "keep the stored value".
        equal = pc.fill_null(pc.equal(column.slice(1), column.slice(0, n - 1)), False)
        same = equal if same is None else pc.and_(same, equal)
    assert same is not None
    return pa.concat_arrays([pa.array([True]), pc.invert(same)])


def resolve_unavailable(rows: pa.Table, key_columns: Sequence[str]) -> pa.Table:
    """Replace `_cdc_unavailable` by filled values and keep-stored flags.

    `rows` must be sorted by key, and by source order within a key (see merge_plan.fold_latest).
    """
    lists = rows[UNAVAILABLE].combine_chunks()
    rows = rows.drop_columns([UNAVAILABLE])
    flat = pc.list_flatten(lists)
    names = [n for n in pc.unique(flat).to_pylist() if n is not None and n in rows.column_names]
    if not names or rows.num_rows == 0:
        return rows
    parents = pc.list_parent_indices(lists)
    row_number = pa.array(range(rows.num_rows), pa.int64())
    starts = _key_starts(rows, key_columns)
    for name in names:
        unavailable = pc.is_in(row_number, value_set=parents.filter(pc.equal(flat, name)))
        # Each row points at itself when it has the value, else at the key's nearest earlier row that had
        # it; the key's first row stops the search, so a value never leaks from one key to the next.
        anchor = pc.if_else(pc.or_(pc.invert(unavailable), starts), row_number, pa.scalar(None, pa.int64()))
        source = pc.fill_null_forward(anchor)
        rows = rows.set_column(rows.column_names.index(name), name, rows[name].take(source))
        rows = rows.append_column(keep_stored_column(name), unavailable.take(source))
    return rows
