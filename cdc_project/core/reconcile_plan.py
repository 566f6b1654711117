"""Which columns a reconciliation compares, with which canon, keyed how: decided once per run.

The source's catalog is the truth about types (core/canonical.canon_for_pg_type). A column is compared
when the source and the lake both have it and the table's `reconcile.exclude_columns` does not list it;
source columns the lake lacks (added at the source, no event since) are reported as not compared rather
than as drift of every row. Key columns come first and must be orderable the same way in both engines.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cdc_project.core.canonical import ORDERABLE_KEYS, CanonicalColumn, canon_for_pg_type
from cdc_project.core.errors import ConfigError, ReconcileKeyError


@dataclass(frozen=True)
class SourceColumn:
    """One column as the source's catalog describes it (domains resolved to their base type)."""

    name: str
    type_name: str  # pg_type.typname of the base type, e.g. int8, numeric, _text
    sql_type: str  # format_type(), e.g. numeric(12,2): casts lookups by key
    is_enum: bool = False
    element: str | None = None  # arrays: the element's typname
    element_is_enum: bool = False


@dataclass(frozen=True)
class ComparisonPlan:
    table: str
    keys: tuple[CanonicalColumn, ...]  # () for a keyless table
    columns: tuple[CanonicalColumn, ...]  # compared columns, keys first
    key_types: tuple[str, ...]
    not_compared: tuple[str, ...]

    @property
    def key_names(self) -> list[str]:
        return [k.name for k in self.keys]


def plan_comparison(
    table: str,
    source_columns: Sequence[SourceColumn],
    key_names: Sequence[str],
    lake_columns: Collection[str] | None,
    exclude: Collection[str] = (),
) -> ComparisonPlan:
    """`lake_columns` None: the lake table does not exist yet (every source column is compared)."""
    by_name = {c.name: c for c in source_columns}
    unknown = sorted(set(exclude) - set(by_name))
    if unknown:
        raise ConfigError(
            f"tables[{table}].reconcile.exclude_columns",
            f"{unknown} are not columns of {table}",
            sorted(by_name),
        )
    keys: list[CanonicalColumn] = []
    for name in key_names:
        column = by_name.get(name)
        if column is None:
            raise ConfigError(
                f"tables[{table}].primary_key", f"{name!r} is not a column of {table}", sorted(by_name)
            )
        if name in exclude or (lake_columns is not None and name not in lake_columns):
            raise ConfigError(
                f"tables[{table}].reconcile",
                f"key column {name!r} must be compared (excluded or missing in the lake)",
            )
        canonical = _canonical(column)
        if canonical.canon not in ORDERABLE_KEYS:
            raise ReconcileKeyError(table, name, canonical.canon, sorted(ORDERABLE_KEYS))
        keys.append(canonical)
    compared = [
        _canonical(c)
        for c in source_columns
        if c.name not in key_names
        and c.name not in exclude
        and (lake_columns is None or c.name in lake_columns)
    ]
    skipped = tuple(
        c.name
        for c in source_columns
        if c.name not in key_names
        and (c.name in exclude or (lake_columns is not None and c.name not in lake_columns))
    )
    return ComparisonPlan(
        table=table,
        keys=tuple(keys),
        columns=(*keys, *compared),
        key_types=tuple(by_name[k].sql_type for k in key_names),
        not_compared=skipped,
    )


def _canonical(column: SourceColumn) -> CanonicalColumn:
    return canon_for_pg_type(
        column.name,
        column.type_name,
        is_enum=column.is_enum,
        element=column.element,
        element_is_enum=column.element_is_enum,
    )
