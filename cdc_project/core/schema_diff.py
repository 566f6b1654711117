"""Compare a lake table's stored schema with an incoming batch, and apply the table's schema policy.

Categories (nested struct fields and list/map elements are compared recursively, named by dotted path):
  added        a column (or struct field) the table does not have yet
  widened      incoming is strictly wider: int8 < int16 < int32 < int64, float32 < float64, decimal(p, s) <
               decimal(p', s) with p' > p. Integers never widen to floats (float64 cannot hold every int64)
  narrowed     the reverse of widened: cast up to the stored type, always lossless, never a lake change
  incompatible anything else (string -> int, int -> float64, decimal scale changes, ...)
  missing      stored columns the batch lacks: they stay null in new rows, never a lake change

Policies (`check_policy` raises SchemaChangeError; incompatible is refused under every policy):
  evolve   added columns are added; widened columns widen where the engine can, else `conform` casts the
           incoming values to the stored type and refuses a value that does not fit
  lenient  added columns are added; widened columns are always cast to the stored type as above
  strict   any added or widened column is refused; narrowed columns are still cast (nothing changes)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pt

from cdc_project.core.errors import SchemaChangeError

# Mirrors config.SchemaPolicy: core/ stays free of pydantic, so it cannot import config.
SchemaPolicy = Literal["evolve", "lenient", "strict"]
_INT_RANK = {pa.int8(): 0, pa.int16(): 1, pa.int32(): 2, pa.int64(): 3}
_ABSENT = "<absent>"


@dataclass(frozen=True)
class ColumnChange:
    column: str  # dotted path: `address.zip`, `tags.element`
    stored: pa.DataType | None  # None for an added column
    incoming: pa.DataType


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[ColumnChange, ...] = ()
    widened: tuple[ColumnChange, ...] = ()
    narrowed: tuple[ColumnChange, ...] = ()
    incompatible: tuple[ColumnChange, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def changes_lake(self) -> bool:
        """True when writing the batch as is would change the table's schema."""
        return bool(self.added or self.widened)


def _widens(stored: pa.DataType, incoming: pa.DataType) -> bool:
    if stored in _INT_RANK and incoming in _INT_RANK:
        return _INT_RANK[incoming] > _INT_RANK[stored]
    if pt.is_float32(stored) and pt.is_float64(incoming):
        return True
    if pt.is_decimal(stored) and pt.is_decimal(incoming):
        return bool(stored.scale == incoming.scale and incoming.precision > stored.precision)
    return False


def _is_list(t: pa.DataType) -> bool:
    return bool(pt.is_list(t) or pt.is_large_list(t))


def _compare(
    path: str, stored: pa.DataType, incoming: pa.DataType, out: dict[str, list[ColumnChange]]
) -> None:
    if pt.is_struct(stored) and pt.is_struct(incoming):
        known = {f.name: f.type for f in stored}
        for child in incoming:
            child_path = f"{path}.{child.name}"
            if child.name in known:
                _compare(child_path, known[child.name], child.type, out)
            else:
                out["added"].append(ColumnChange(child_path, None, child.type))
    elif _is_list(stored) and _is_list(incoming):
        _compare(f"{path}.element", stored.value_type, incoming.value_type, out)
    elif pt.is_map(stored) and pt.is_map(incoming):
        _compare(f"{path}.key", stored.key_type, incoming.key_type, out)
        _compare(f"{path}.value", stored.item_type, incoming.item_type, out)
    elif stored == incoming:
        return
    elif _widens(stored, incoming):
        out["widened"].append(ColumnChange(path, stored, incoming))
    elif _widens(incoming, stored):
        out["narrowed"].append(ColumnChange(path, stored, incoming))
    else:
        out["incompatible"].append(ColumnChange(path, stored, incoming))


def diff_schemas(stored: pa.Schema, incoming: pa.Schema) -> SchemaDiff:
    out: dict[str, list[ColumnChange]] = {"added": [], "widened": [], "narrowed": [], "incompatible": []}
    for f in incoming:
        index = stored.get_field_index(f.name)
        if index < 0:
            out["added"].append(ColumnChange(f.name, None, f.type))
        else:
            _compare(f.name, stored.field(index).type, f.type, out)
    missing = tuple(name for name in stored.names if incoming.get_field_index(name) < 0)
    return SchemaDiff(**{k: tuple(v) for k, v in out.items()}, missing=missing)


def _refuse(table: str, change: ColumnChange, policy: str) -> SchemaChangeError:
    stored = _ABSENT if change.stored is None else str(change.stored)
    return SchemaChangeError(table, change.column, stored, str(change.incoming), policy)


def check_policy(diff: SchemaDiff, policy: SchemaPolicy, table: str) -> None:
    """Raise SchemaChangeError for the first change `policy` refuses; return quietly otherwise."""
    if policy not in get_args(SchemaPolicy):
        valid = sorted(get_args(SchemaPolicy))
        raise ValueError(f"{policy!r} is not a valid schema policy. Valid values are: {valid}")
    refused = list(diff.incompatible)
    if policy == "strict":
        refused += [*diff.added, *diff.widened]
    if refused:
        raise _refuse(table, refused[0], policy)


def _target_type(stored: pa.DataType, incoming: pa.DataType, keep_wider: bool) -> pa.DataType:
    """The type to write: stored types where they can hold the value, incoming types for added fields."""
    if pt.is_struct(stored) and pt.is_struct(incoming):
        arriving = {f.name: f.type for f in incoming}
        fields = [
            pa.field(f.name, _target_type(f.type, arriving[f.name], keep_wider))
            for f in stored
            if f.name in arriving
        ]
        fields += [f for f in incoming if stored.get_field_index(f.name) < 0]
        return pa.struct(fields)
    if _is_list(stored) and _is_list(incoming):
        element = _target_type(stored.value_type, incoming.value_type, keep_wider)
        return pa.list_(pa.field(incoming.value_field.name, element))
    if pt.is_map(stored) and pt.is_map(incoming):
        return pa.map_(
            _target_type(stored.key_type, incoming.key_type, keep_wider),
            _target_type(stored.item_type, incoming.item_type, keep_wider),
        )
    if keep_wider and _widens(stored, incoming):
        return incoming
    if _widens(stored, incoming) or _widens(incoming, stored):
        return stored
    return incoming


def widened_schema(stored: pa.Schema, incoming: pa.Schema) -> pa.Schema | None:
    """`stored` with every column `incoming` widens (nested fields included) at its wider type; None if none.

    What a sink that widens in place (or by rewriting) changes its table to before writing the batch.
    """
    if not diff_schemas(stored, incoming).widened:
        return None
    fields = []
    for f in stored:
        index = incoming.get_field_index(f.name)
        if index < 0:
            fields.append(f)
            continue
        wider = _target_type(f.type, incoming.field(index).type, keep_wider=True)
        # Only widen: fields the batch adds come in through the sink's ordinary schema merge.
        fields.append(f.with_type(_only_stored_fields(f.type, wider)))
    return pa.schema(fields)


def _only_stored_fields(stored: pa.DataType, target: pa.DataType) -> pa.DataType:
    if pt.is_struct(stored) and pt.is_struct(target):
        by_name = {f.name: f for f in target}
        kept = [f.with_type(_only_stored_fields(f.type, by_name[f.name].type)) if f.name in by_name else f
                for f in stored]
        return pa.struct(kept)
    return target


def _cast_exactly(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    """Cast a widened column back to its stored type, refusing a value that type cannot hold."""
    cast = column.cast(target)  # Arrow's safe cast refuses integer and decimal overflow itself
    if pt.is_floating(column.type):
        # ...but lets a float64 overflow to inf or lose digits in float32: the value must survive the trip.
        same = pc.fill_null(pc.or_(pc.equal(cast.cast(column.type), column), pc.is_nan(column)), True)
        if not pc.all(same).as_py():
            raise pa.ArrowInvalid(f"{column.filter(pc.invert(same))[0]} does not fit {target}")
    return cast


def conform(
    rows: pa.Table, stored: pa.Schema, policy: SchemaPolicy, table: str, *, engine_widens: bool
) -> pa.Table:
    """Cast narrowed (and, unless the engine widens, widened) columns to the stored types.

    Call after `check_policy`. A widened value that does not fit the stored type raises SchemaChangeError,
    so the batch is refused before anything is committed. With `engine_widens` and the evolve policy the
    wider type is kept: the sink widens its table (`widened_schema`) before it writes.
    """
    keep_wider = engine_widens and policy == "evolve"
    for i, f in enumerate(rows.schema):
        index = stored.get_field_index(f.name)
        if index < 0:
            continue
        stored_type = stored.field(index).type
        target = _target_type(stored_type, f.type, keep_wider)
        if target == f.type:
            continue
        try:
            narrowing = _widens(target, f.type)
            column = _cast_exactly(rows.column(i), target) if narrowing else rows.column(i).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaChangeError(table, f.name, str(stored_type), f"{f.type} ({exc})", policy) from exc
        rows = rows.set_column(i, pa.field(f.name, target, f.nullable), column)
    return rows

