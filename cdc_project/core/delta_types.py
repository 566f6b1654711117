"""Arrow types -> the types Delta Lake can store, as a dispatch table; an unknown type is refused loudly.

Delta has no time, unsigned, large/view, float16, duration or >38-digit decimal types. delta-rs would map an
unsigned integer to the signed type of the same width (a uint64 above 2**63 would not fit), so every
conversion happens here, losslessly where Delta allows it:

  time32/time64           -> string 'HH:MM:SS.ffffff' (sorts like the time; sub-microsecond digits dropped)
  uint8/16/32             -> int16/32/64;   uint64 -> decimal(20, 0)
  large_string, string_view -> string;      large_binary, binary_view, fixed_size_binary -> binary
  large_list, fixed_size_list, list_view  -> list
  timestamp(any unit, tz) -> timestamp(us, 'UTC') (same instant); without tz -> timestamp(us)
  date64 -> date32; float16 -> float32; duration -> int64 microseconds; dictionary -> its value type
  decimal256(p <= 38) -> decimal128; decimal256(p > 38) -> string (exact digits)
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.types as pt

from cdc_project.core.errors import UnsupportedLakeTypeError

Convert = Callable[[pa.DataType], pa.DataType]

_UNSIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}


def _decimal256(t: pa.DataType) -> pa.DataType:
    return pa.decimal128(t.precision, t.scale) if t.precision <= 38 else pa.string()


def _timestamp(t: pa.DataType) -> pa.DataType:
    return pa.timestamp("us", tz=None if t.tz is None else "UTC")


def _list(t: pa.DataType) -> pa.DataType:
    return pa.list_(pa.field(t.value_field.name, lake_type(t.value_type), nullable=True))


def _struct(t: pa.DataType) -> pa.DataType:
    return pa.struct([pa.field(f.name, lake_type(f.type), nullable=True) for f in t])


def _map(t: pa.DataType) -> pa.DataType:
    return pa.map_(lake_type(t.key_type), lake_type(t.item_type))


def _same(t: pa.DataType) -> pa.DataType:
    return t


# First matching predicate wins. Order matters only where predicates overlap (none do today).
_DISPATCH: tuple[tuple[Callable[[pa.DataType], bool], Convert], ...] = (
    (pt.is_boolean, _same),
    (pt.is_signed_integer, _same),
    (pt.is_unsigned_integer, lambda t: _UNSIGNED[t]),
    (lambda t: pt.is_float32(t) or pt.is_float64(t), _same),
    (pt.is_float16, lambda t: pa.float32()),
    (pt.is_decimal128, _same),
    (pt.is_decimal256, _decimal256),
    (lambda t: pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t), lambda t: pa.string()),
    (
        lambda t: pt.is_binary(t) or pt.is_large_binary(t) or pt.is_binary_view(t)
        or pt.is_fixed_size_binary(t),
        lambda t: pa.binary(),
    ),
    (pt.is_date32, _same),
    (pt.is_date64, lambda t: pa.date32()),
    (pt.is_timestamp, _timestamp),
    (pt.is_time, lambda t: pa.string()),
    (pt.is_duration, lambda t: pa.int64()),
    (pt.is_dictionary, lambda t: lake_type(t.value_type)),
    (
        lambda t: pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t) or pt.is_list_view(t)
        or pt.is_large_list_view(t),
        _list,
    ),
    (pt.is_struct, _struct),
    (pt.is_map, _map),
)


def lake_type(t: pa.DataType, column: str = "?") -> pa.DataType:
    for matches, convert in _DISPATCH:
        if matches(t):
            return convert(t)
    raise UnsupportedLakeTypeError(column, str(t))


def _unit_step(t: pa.DataType) -> pa.DataType:
    """The type with every time-like unit set to microseconds: the one lossy step (sub-us digits go)."""
    if pt.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pt.is_time(t):
        return pa.time64("us")
    if pt.is_duration(t):
        return pa.duration("us")
    if pt.is_dictionary(t):
        return _unit_step(t.value_type)
    if pt.is_struct(t):
        return pa.struct([pa.field(f.name, _unit_step(f.type), f.nullable) for f in t])
    if pt.is_map(t):
        return pa.map_(_unit_step(t.key_type), _unit_step(t.item_type))
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        return pa.list_(pa.field(t.value_field.name, _unit_step(t.value_type)))
    return t


def to_delta_compatible(table: pa.Table) -> pa.Table:
    """Cast every column to its Delta-storable type; a table that already fits is returned as is."""
    for i, field in enumerate(table.schema):
        target = lake_type(field.type, field.name)
        if target == field.type:
            continue
        column = table.column(i)
        step = _unit_step(field.type)
        if step != field.type:
            column = column.cast(step, safe=False)  # truncation to microseconds is the documented loss
        table = table.set_column(i, pa.field(field.name, target, field.nullable), column.cast(target))
    return table
