"""Kafka Connect / Debezium field schemas -> Arrow types and JSON value converters, as a dispatch table.

A Connect field schema is `{"type": ..., "name": <logical name>, "parameters": {...}, ...}`. Lookup is by
logical name first, then by connect type, because the logical name carries the meaning: an int32 named
`io.debezium.time.Date` is a day count, not a number. A logical name missing from `LOGICAL_TYPES` is refused
with UnknownTypeError instead of falling back to its physical type, since an unknown temporal int64 decoded
as a plain integer would be silently wrong. Structs are the exception: their names are record names
(`shop.public.t.Value`), so an unlisted struct maps field by field.

A converter turns one non-null JSON value into what `pa.array(values, type=arrow)` accepts. `None` means the
JSON value already is that (ints, strings, booleans), which lets the decoder skip a Python pass per column.
`typed_array` builds one column and names the rows whose values do not fit, so a bad value costs its event
and not the batch; `inferred_array` is the schemaless (schemas.enable=false) fallback.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any, Literal

import orjson
import pyarrow as pa

from cdc_project.core import temporal
from cdc_project.core.errors import UnknownTypeError, ValueConversionError

Converter = Callable[[Any], Any]
ConnectSchema = Mapping[str, Any]
# binary.handling.mode: with anything but `bytes` Debezium writes binary columns as plain Connect strings,
# recognisable only by the source type it propagates (column.propagate.source.type) or a declared schema.
BinaryMode = Literal["bytes", "base64", "base64-url-safe", "hex"]
BINARY_MODES: tuple[BinaryMode, ...] = ("bytes", "base64", "base64-url-safe", "hex")
SOURCE_TYPE = "__debezium.source.column.type"
_BINARY_SOURCE_TYPES = frozenset(
    {"BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "LONGVARBINARY", "RAW"}
)


@dataclass(frozen=True)
class ColumnType:
    """The Arrow type of one Connect field and how to turn its JSON values into Arrow-ready Python values."""

    arrow: pa.DataType
    convert: Converter | None = None


Builder = Callable[[ConnectSchema, str], ColumnType]

# Wide enough that scaling an unscaled integer never rounds: Arrow decimals stop at 76 digits.
_EXACT = Context(prec=200)
_TIME_US = pa.time64("us")
_TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")
_DEFAULT_DECIMAL_PRECISION = 38  # Debezium omits connect.decimal.precision for unconstrained numerics


def _b64(value: str) -> bytes:
    return binascii.a2b_base64(value)


_BINARY_DECODERS: dict[BinaryMode, Converter] = {
    "bytes": _b64,
    "base64": _b64,
    "base64-url-safe": lambda value: binascii.a2b_base64(value.replace("-", "+").replace("_", "/")),
    "hex": binascii.a2b_hex,
}


def _float(value: Any) -> Any:
    # Connect's JsonConverter (Jackson) writes NaN and infinities as the strings "NaN" / "Infinity".
    return float(value) if value.__class__ is str else value


def _unscaled_decimal(value: Any, scale: int) -> Decimal:
    if value.__class__ is str:
        unscaled = int.from_bytes(_b64(value), "big", signed=True)
        return Decimal(unscaled).scaleb(-scale, _EXACT)
    # JsonConverter with decimal.format=NUMERIC writes a JSON number; exact only up to float precision.
    return Decimal(str(value))


def _variable_scale_text(value: Mapping[str, Any]) -> str:
    return format(_unscaled_decimal(value["value"], int(value["scale"])), "f")


def _fixed(arrow: pa.DataType, convert: Converter | None = None) -> Builder:
    column = ColumnType(arrow, convert)
    return lambda schema, path: column


def _decimal(schema: ConnectSchema, path: str) -> ColumnType:
    params = schema.get("parameters") or {}
    scale = int(params.get("scale", 0))
    precision = int(params.get("connect.decimal.precision", _DEFAULT_DECIMAL_PRECISION))
    # MySQL DECIMAL(65, s) exceeds decimal128; decimal256 holds up to 76 digits.
    arrow = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    return ColumnType(arrow, lambda value: _unscaled_decimal(value, scale))


def _bits(schema: ConnectSchema, path: str) -> ColumnType:
    # Debezium sends java.util.BitSet.toByteArray(): little-endian, bit 0 is the rightmost character of
    # the SQL bit string, so b'101' arrives as 0x05 and is rendered back as "101".
    length = int((schema.get("parameters") or {}).get("length", 0))

    def convert(value: str) -> str:
        raw = _b64(value)
        return format(int.from_bytes(raw, "little"), f"0{max(length, 1)}b")

    return ColumnType(pa.string(), convert)


_GEOMETRY = pa.struct([pa.field("wkb", pa.binary()), pa.field("srid", pa.int32())])


def _geometry_value(value: Mapping[str, Any]) -> dict[str, Any]:
    wkb = value.get("wkb")
    return {"wkb": None if wkb is None else _b64(wkb), "srid": value.get("srid")}


def _array(schema: ConnectSchema, path: str) -> ColumnType:
    items = column_type(schema["items"], f"{path}[]")
    item_convert = items.convert
    if item_convert is None:
        return ColumnType(pa.list_(items.arrow))
    return ColumnType(pa.list_(items.arrow), lambda v: [None if x is None else item_convert(x) for x in v])


def _map(schema: ConnectSchema, path: str) -> ColumnType:
    keys = column_type(schema["keys"], f"{path}.key")
    values = column_type(schema["values"], f"{path}.value")
    kc = keys.convert or (lambda k: k)
    vc = values.convert or (lambda v: v)

    def convert(value: Any) -> list[tuple[Any, Any]]:
        # JsonConverter writes string-keyed maps as objects and all other maps as [[key, value], ...].
        pairs = value.items() if isinstance(value, dict) else value
        return [(kc(k), None if v is None else vc(v)) for k, v in pairs]

    return ColumnType(pa.map_(keys.arrow, values.arrow), convert)


def _struct(schema: ConnectSchema, path: str) -> ColumnType:
    children = [(f["field"], column_type(f, f"{path}.{f['field']}")) for f in schema.get("fields", ())]
    arrow = pa.struct([pa.field(name, child.arrow) for name, child in children])
    converting = [(name, child.convert) for name, child in children if child.convert is not None]
    if not converting:
        return ColumnType(arrow)

    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(value)
        for name, child_convert in converting:
            item = out.get(name)
            if item is not None:
                out[name] = child_convert(item)
        return out

    return ColumnType(arrow, convert)


_STRING = _fixed(pa.string())

# connect type -> builder, for fields without a logical name. JsonConverter spells float32/float64 as
# "float"/"double" in its schemas; both spellings occur.
CONNECT_TYPES: dict[str, Builder] = {
    "int8": _fixed(pa.int8()),
    "int16": _fixed(pa.int16()),
    "int32": _fixed(pa.int32()),
    "int64": _fixed(pa.int64()),
    "float32": _fixed(pa.float32(), _float),
    "float": _fixed(pa.float32(), _float),
    "float64": _fixed(pa.float64(), _float),
    "double": _fixed(pa.float64(), _float),
    "boolean": _fixed(pa.bool_()),
    "string": _STRING,
    "bytes": _fixed(pa.binary(), _b64),
    "array": _array,
    "map": _map,
    "struct": _struct,
}

# logical name -> connect type -> builder. A logical name on an unexpected connect type is refused too.
# time.precision.mode picks among these: adaptive (Date, Time, MicroTime, Timestamp, MicroTimestamp),
# adaptive_time_microseconds, microseconds, nanoseconds (Nano*), connect (org.apache.kafka.connect.data.*)
# and isostring (Iso*); timestamptz is always ZonedTimestamp. Naive timestamps land as their UTC reading.
LOGICAL_TYPES: dict[str, dict[str, Builder]] = {
    "io.debezium.time.Date": {"int32": _fixed(pa.date32())},
    "io.debezium.time.Time": {"int32": _fixed(_TIME_US, temporal.time_ms)},
    "io.debezium.time.MicroTime": {"int64": _fixed(_TIME_US, temporal.time_us)},
    "io.debezium.time.NanoTime": {"int64": _fixed(_TIME_US, temporal.time_ns)},
    "io.debezium.time.Timestamp": {"int64": _fixed(_TIMESTAMP_UTC, temporal.ms_to_us)},
    "io.debezium.time.MicroTimestamp": {"int64": _fixed(_TIMESTAMP_UTC)},
    "io.debezium.time.NanoTimestamp": {"int64": _fixed(_TIMESTAMP_UTC, temporal.ns_to_us)},
    "io.debezium.time.ZonedTimestamp": {"string": _fixed(_TIMESTAMP_UTC, temporal.zoned_timestamp_us)},
    "io.debezium.time.ZonedTime": {"string": _fixed(_TIME_US, temporal.zoned_time_us)},
    "io.debezium.time.Year": {"int32": _fixed(pa.int32())},
    # interval.handling.mode=numeric: microseconds with 30.4375-day months; =string: exact ISO-8601 text
    "io.debezium.time.MicroDuration": {"int64": _fixed(pa.duration("us"))},
    "io.debezium.time.NanoDuration": {"int64": _fixed(pa.duration("us"), temporal.ns_to_us)},
    "io.debezium.time.Interval": {"string": _STRING},
    "io.debezium.time.IsoDate": {"string": _fixed(pa.date32(), temporal.iso_date_days)},
    "io.debezium.time.IsoTime": {"string": _fixed(_TIME_US, temporal.zoned_time_us)},
    "io.debezium.time.IsoTimestamp": {"string": _fixed(_TIMESTAMP_UTC, temporal.zoned_timestamp_us)},
    "org.apache.kafka.connect.data.Decimal": {"bytes": _decimal},
    "org.apache.kafka.connect.data.Date": {"int32": _fixed(pa.date32())},
    "org.apache.kafka.connect.data.Time": {"int32": _fixed(_TIME_US, temporal.time_ms)},
    "org.apache.kafka.connect.data.Timestamp": {"int64": _fixed(_TIMESTAMP_UTC, temporal.ms_to_us)},
    # Variable scale (PostgreSQL unconstrained numeric) has no fixed Arrow decimal; keep the exact text.
    "io.debezium.data.VariableScaleDecimal": {"struct": _fixed(pa.string(), _variable_scale_text)},
    "io.debezium.data.Json": {"string": _STRING},
    "io.debezium.data.Xml": {"string": _STRING},
    "io.debezium.data.Uuid": {"string": _STRING},
    "io.debezium.data.Enum": {"string": _STRING},
    "io.debezium.data.EnumSet": {"string": _STRING},
    "io.debezium.data.Ltree": {"string": _STRING},
    "io.debezium.data.Tsvector": {"string": _STRING},
    "io.debezium.data.Bits": {"bytes": _bits},
    "io.debezium.data.geometry.Geometry": {"struct": _fixed(_GEOMETRY, _geometry_value)},
    "io.debezium.data.geometry.Geography": {"struct": _fixed(_GEOMETRY, _geometry_value)},
    "io.debezium.data.geometry.Point": {"struct": _struct},
    "io.debezium.data.DoubleVector": {"array": _array},
    "io.debezium.data.FloatVector": {"array": _array},
}


def column_type(schema: ConnectSchema, path: str, binary_mode: BinaryMode = "bytes") -> ColumnType:
    """Map one Connect field schema; `path` names the field in errors (e.g. `after.price`)."""
    connect_type: Any = schema.get("type")
    logical = schema.get("name")
    if logical is not None and logical in LOGICAL_TYPES:
        builder = LOGICAL_TYPES[logical].get(connect_type)
    elif logical is None or connect_type == "struct":
        if connect_type == "string" and binary_mode != "bytes" and _is_binary_source(schema):
            return ColumnType(pa.binary(), _BINARY_DECODERS[binary_mode])
        builder = CONNECT_TYPES.get(connect_type)
    else:
        builder = None
    if builder is None:
        raise UnknownTypeError(str(connect_type), logical, path)
    return builder(schema, path)


def _is_binary_source(schema: ConnectSchema) -> bool:
    source_type = (schema.get("parameters") or {}).get(SOURCE_TYPE)
    return isinstance(source_type, str) and source_type.upper() in _BINARY_SOURCE_TYPES


ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def typed_array(
    raw: list[Any], column: ColumnType, field: str
) -> tuple[pa.Array | None, dict[int, Exception]]:
    """One column's JSON values as an Arrow array; on failure `None` and the offending rows' errors.

    The fast path converts the whole list at once; only when that fails is each value retried alone, so one
    bad value costs its own row (a dead letter), not the column.
    """
    convert, arrow = column.convert, column.arrow
    bad: dict[int, Exception] = {}
    values = raw
    if convert is not None:
        try:
            values = [None if v is None else convert(v) for v in raw]
        except Exception:  # noqa: BLE001 - a converter failure is the value's fault; find its rows
            values = []
            for row, value in enumerate(raw):
                try:
                    values.append(None if value is None else convert(value))
                except Exception as exc:  # noqa: BLE001
                    bad[row] = ValueConversionError(field, value, str(arrow), repr(exc))
                    values.append(None)
    try:
        array = pa.array(values, type=arrow)
    except ARROW_ERRORS as column_exc:
        for row, value in enumerate(values):
            try:
                pa.array([value], type=arrow)
            except ARROW_ERRORS as exc:
                bad.setdefault(row, ValueConversionError(field, raw[row], str(arrow), str(exc)))
        if not bad:  # not attributable to one value: refuse every row rather than guess
            bad = {row: column_exc for row in range(len(values))}
        return None, bad
    return (None, bad) if bad else (array, bad)


def settle_nulls(t: pa.DataType) -> pa.DataType:
    """`t` with every Arrow null type (all values null, so far) as string: lake formats cannot store null."""
    if pa.types.is_null(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, settle_nulls(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(settle_nulls(t.value_type))
    return t


def inferred_array(raw: list[Any]) -> pa.Array:
    """Values without a schema (schemas.enable=false): Arrow's inference, JSON text when types are mixed."""
    try:
        array = pa.array(raw)
    except ARROW_ERRORS:
        array = pa.array([v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in raw])
    settled = settle_nulls(array.type)  # an all-null column or struct field infers Arrow type null
    return array if settled == array.type else array.cast(settled)
