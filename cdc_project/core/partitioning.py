"""The derived partition column of a current-state table: `_cdc_part_<column>_<transform>`.

A table is partitioned by a derived column, not the source column itself, so that a `day` partition of a
timestamp keeps the full timestamp in the data and a later update that moves the row to another day still
lands in the right partition (the MERGE sets the derived column from the new value).

  day       date32 of the value (timestamps are UTC by then, see core/delta_types.py)
  month     string 'YYYY-MM'
  year      string 'YYYY'
  identity  the value itself
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pt

from cdc_project.core.columns import PARTITION_COLUMN_PREFIX
from cdc_project.core.errors import ConfigError

Values: TypeAlias = pa.ChunkedArray | pa.Array


def _day(values: Values) -> Values:
    return pc.cast(values, pa.date32())


def _formatted(pattern: str) -> Callable[[Values], Values]:
    def transform(values: Values) -> Values:
        return pc.strftime(values, pattern)

    return transform


_TRANSFORMS: dict[str, Callable[[Values], Values]] = {
    "day": _day,
    "month": _formatted("%Y-%m"),
    "year": _formatted("%Y"),
    "identity": lambda values: values,
}


@dataclass(frozen=True)
class DerivedPartition:
    """`partition_by` of one table; `table` names it in errors."""

    column: str
    transform: str
    table: str

    def __post_init__(self) -> None:
        if self.transform not in _TRANSFORMS:
            key = f"{self.table}.partition_by.transform"
            raise ConfigError(key, f"{self.transform!r} is not a transform", list(_TRANSFORMS))

    @property
    def name(self) -> str:
        return f"{PARTITION_COLUMN_PREFIX}{self.column}_{self.transform}"

    def derive(self, values: Values) -> Values:
        """The partition value per row; refuses a calendar transform of a non-temporal column."""
        if self.transform != "identity" and not (pt.is_timestamp(values.type) or pt.is_date(values.type)):
            raise ConfigError(
                f"{self.table}.partition_by",
                f"transform {self.transform!r} needs a date or timestamp column, but {self.column!r} is "
                f"{values.type}; use transform: identity or partition by another column",
            )
        return _TRANSFORMS[self.transform](values)

    def add_to(self, rows: pa.Table) -> pa.Table:
        """`rows` plus the derived column; unchanged when the source column is absent from the batch."""
        if self.column not in rows.column_names:
            return rows
        return rows.append_column(self.name, self.derive(rows[self.column]))
