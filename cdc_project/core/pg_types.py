"""Arrow types -> PostgreSQL column types, as a dispatch table; an unknown type is refused loudly.

Each Arrow type maps to a `PgType`: the canonical Arrow type a batch is cast to before it is written (and
the type it is read back as), the PostgreSQL column type, and how its values are rendered for COPY
(core/pg_values.py). The sink stores each table's canonical Arrow schema beside the table, so reading back
gives the same Arrow types, nested structure included.

  boolean                         boolean
  int8, int16 / int32 / int64     smallint / integer / bigint
  uint8 / uint16 / uint32         smallint / integer / bigint (the next signed width: every value fits)
  uint64                          numeric(20,0)
  float16, float32 / float64      real / double precision
  decimal(p, s)                   numeric(p,s)
  string (any flavour)            text
  binary (any flavour)            bytea
  date32, date64                  date
  timestamp with a time zone      timestamptz (same instant, microseconds)
  timestamp without a time zone   timestamp (microseconds)
  time32, time64                  time (microseconds)
  duration                        interval (microseconds)
  dictionary                      its value type
  arrow.uuid extension            uuid
  arrow.json extension            jsonb
  list of a scalar above          that type's array, e.g. bigint[] (one dimension, null elements allowed)
  list of lists/structs/maps      jsonb
  struct, map                     jsonb: a source adding a nested field then needs no DDL, and the stored
                                  Arrow schema records the field

Sub-microsecond digits of timestamps, times and durations are dropped (PostgreSQL keeps microseconds), the
one lossy step, as in the Delta sink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.types as pt

from cdc_project.core.errors import UnsupportedPostgresTypeError

# How a column's values become COPY CSV text (core/pg_values.py):
#   text      pyarrow's CSV writer already renders them as PostgreSQL reads them
#   utc       timestamptz: written as UTC wall-clock text; the session runs with TimeZone=UTC
#   bytea     '\x' + hex            uuid      32 hex digits         interval  '<n> microseconds'
#   array     a PostgreSQL array literal '{...}'
#   json      a JSON document built from the Arrow type (jsonb)     json_text  already JSON text (jsonb)
Encoding = Literal["text", "utc", "bytea", "uuid", "interval", "array", "json", "json_text"]
SCALAR_ENCODINGS: frozenset[Encoding] = frozenset({"text", "utc", "bytea", "uuid", "interval"})


@dataclass(frozen=True)
class PgType:
    arrow: pa.DataType  # canonical Arrow type: what is written, and what is read back
    sql: str  # the PostgreSQL column type
    encoding: Encoding


_SIGNED = {pa.int8(): "smallint", pa.int16(): "smallint", pa.int32(): "integer", pa.int64(): "bigint"}
_UNSIGNED = {
    pa.uint8(): PgType(pa.int16(), "smallint", "text"),
    pa.uint16(): PgType(pa.int32(), "integer", "text"),
    pa.uint32(): PgType(pa.int64(), "bigint", "text"),
    pa.uint64(): PgType(pa.decimal128(20, 0), "numeric(20,0)", "text"),
}
_UTC_US = pa.timestamp("us", tz="UTC")


def _extension(name: str) -> Callable[[pa.DataType], bool]:
    return lambda t: getattr(t, "extension_name", None) == name


def _fixed(arrow: pa.DataType, sql: str, encoding: Encoding = "text") -> Callable[[pa.DataType], PgType]:
    result = PgType(arrow, sql, encoding)
    return lambda t: result


def _decimal(t: pa.DataType) -> PgType:
    return PgType(t, f"numeric({t.precision},{t.scale})", "text")


def _timestamp(t: pa.DataType) -> PgType:
    if t.tz is None:
        return PgType(pa.timestamp("us"), "timestamp", "text")
    return PgType(_UTC_US, "timestamptz", "utc")


def _list(t: pa.DataType) -> PgType:
    element = pg_type(t.value_type)
    arrow = pa.list_(pa.field(t.value_field.name, element.arrow))
    if element.encoding in SCALAR_ENCODINGS:
        return PgType(arrow, f"{element.sql}[]", "array")
    # PostgreSQL arrays are rectangular and hold no composite values by name: nested lists go to jsonb.
    return PgType(arrow, "jsonb", "json")


def _struct(t: pa.DataType) -> PgType:
    return PgType(pa.struct([pa.field(f.name, pg_type(f.type).arrow) for f in t]), "jsonb", "json")


def _map(t: pa.DataType) -> PgType:
    return PgType(pa.map_(pg_type(t.key_type).arrow, pg_type(t.item_type).arrow), "jsonb", "json")


def _any_list(t: pa.DataType) -> bool:
    kinds = (pt.is_list, pt.is_large_list, pt.is_fixed_size_list, pt.is_list_view, pt.is_large_list_view)
    return any(kind(t) for kind in kinds)


# First matching predicate wins; the extension types come first because their storage types match too.
_DISPATCH: tuple[tuple[Callable[[pa.DataType], bool], Callable[[pa.DataType], PgType]], ...] = (
    (_extension("arrow.uuid"), _fixed(pa.uuid(), "uuid", "uuid")),
    (_extension("arrow.json"), _fixed(pa.json_(), "jsonb", "json_text")),
    (pt.is_boolean, _fixed(pa.bool_(), "boolean")),
    (pt.is_signed_integer, lambda t: PgType(t, _SIGNED[t], "text")),
    (pt.is_unsigned_integer, lambda t: _UNSIGNED[t]),
    (pt.is_float16, _fixed(pa.float32(), "real")),
    (pt.is_float32, _fixed(pa.float32(), "real")),
    (pt.is_float64, _fixed(pa.float64(), "double precision")),
    (pt.is_decimal, _decimal),
    (lambda t: pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t), _fixed(pa.string(), "text")),
    (
        lambda t: pt.is_binary(t) or pt.is_large_binary(t) or pt.is_binary_view(t) or pt.is_fixed_size_binary(t),
        _fixed(pa.binary(), "bytea", "bytea"),
    ),
    (pt.is_date, _fixed(pa.date32(), "date")),
    (pt.is_timestamp, _timestamp),
    (pt.is_time, _fixed(pa.time64("us"), "time")),
    (pt.is_duration, _fixed(pa.duration("us"), "interval", "interval")),
    (pt.is_dictionary, lambda t: pg_type(t.value_type)),
    (_any_list, _list),
    (pt.is_struct, _struct),
    (pt.is_map, _map),
)


def pg_type(t: pa.DataType, column: str = "?") -> PgType:
    """The PostgreSQL mapping of `t`; UnsupportedPostgresTypeError (naming `column`) when there is none."""
    for matches, build in _DISPATCH:
        if matches(t):
            try:
                return build(t)
            except UnsupportedPostgresTypeError as nested:
                raise UnsupportedPostgresTypeError(column, f"{t} (inside: {nested.arrow_type})") from None
    raise UnsupportedPostgresTypeError(column, str(t))


def to_pg_compatible(table: pa.Table) -> pa.Table:
    """Cast every column to its canonical type; a table that already has them is returned as is."""
    for i, field in enumerate(table.schema):
        target = pg_type(field.type, field.name).arrow
        if target.equals(field.type):
            continue
        # Every canonical cast is lossless (wider integers, same instants, decoded dictionaries) except the
        # documented truncation to microseconds, which a safe cast would refuse.
        column = table.column(i).cast(target, safe=False)
        table = table.set_column(i, pa.field(field.name, target, field.nullable), column)
    return table
