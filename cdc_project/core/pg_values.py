"""Values between Arrow and PostgreSQL: COPY CSV text out of a canonical Arrow table, Arrow arrays back in.

Writing is column-wise: pyarrow's C++ CSV writer renders the scalar columns (strings always quoted, null as
an unquoted empty field, which is exactly PostgreSQL's CSV NULL), and only columns PostgreSQL spells
differently (bytea, uuid, arrays, jsonb) take a Python pass. Timestamptz columns are written as UTC wall
clock without a zone (pyarrow formats zoned timestamps ~20x slower), which is right only because every
sink session runs with TimeZone=UTC (adapters/postgres_tables.connect).

jsonb documents (structs, maps, nested lists) are built from the Arrow type, so they read back exactly:
decimals as strings (no float rounding), bytes as base64, temporal values as ISO text, durations as
microseconds, non-finite floats as "NaN"/"Infinity"/"-Infinity", maps with string keys as objects and
other maps as [key, value] pairs. A struct field the document lacks reads back as null.
"""

from __future__ import annotations

import base64
import io
import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.types as pt

from cdc_project.core.pg_types import pg_type

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def copy_csv(table: pa.Table) -> bytes:
    """`table` (canonical types, core/pg_types.to_pg_compatible) as COPY ... (FORMAT csv) input, no header."""
    columns = [_csv_column(table.column(i), field.type, field.name) for i, field in enumerate(table.schema)]
    out = io.BytesIO()
    if table.num_columns:
        rendered = pa.table(columns, names=table.column_names)
        pacsv.write_csv(rendered, out, pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def _csv_column(column: pa.ChunkedArray, t: pa.DataType, name: str) -> pa.ChunkedArray | pa.Array:
    encoding = pg_type(t, name).encoding
    if encoding == "text":
        return column
    if encoding == "utc":
        return column.cast(pa.timestamp("us"))  # the same wall clock in UTC, minus the zone
    if encoding == "interval":
        micros = column.cast(pa.int64()).cast(pa.string())
        return pc.binary_join_element_wise(micros, pa.scalar(" microseconds"), "")
    if encoding == "json_text":
        return column.cast(pa.string())
    if column.null_count == len(column):  # e.g. `_cdc_unavailable` of a batch without TOAST placeholders
        return pa.nulls(len(column), pa.string())
    text = _TEXT_ENCODERS[encoding]
    return pa.array([None if v is None else text(v, t) for v in column.to_pylist()], pa.string())


def _bytea(value: bytes, t: pa.DataType) -> str:
    return "\\x" + value.hex()


def _uuid(value: uuid.UUID, t: pa.DataType) -> str:
    return value.hex  # PostgreSQL's uuid input takes 32 hex digits without dashes


def _array(values: list[Any], t: pa.DataType) -> str:
    element = t.value_type
    quoted = ("NULL" if v is None else '"' + _element(v, element).replace("\\", "\\\\").replace('"', '\\"') + '"'
              for v in values)
    return "{" + ",".join(quoted) + "}"


def _element(value: Any, t: pa.DataType) -> str:
    """One array element as PostgreSQL's text input for its type (quoted and escaped by `_array`)."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return _float_text(value) if not math.isfinite(value) else repr(value)
    if isinstance(value, bytes):
        return _bytea(value, t)
    if isinstance(value, timedelta):
        return f"{value // timedelta(microseconds=1)} microseconds"
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value)


def _float_text(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _json(value: Any, t: pa.DataType) -> str:
    return orjson.dumps(to_json(value, t)).decode()


_TEXT_ENCODERS: dict[str, Callable[[Any, pa.DataType], str]] = {
    "bytea": _bytea,
    "uuid": _uuid,
    "array": _array,
    "json": _json,
}


def to_json(value: Any, t: pa.DataType) -> Any:
    """A Python value of Arrow type `t` (as `to_pylist` gives it) as a JSON-ready value that reads back."""
    if value is None:
        return None
    if pt.is_struct(t):
        return {f.name: to_json(value.get(f.name), f.type) for f in t}
    if pt.is_map(t):
        pairs = [(to_json(k, t.key_type), to_json(v, t.item_type)) for k, v in value]
        return dict(pairs) if pt.is_string(t.key_type) else [list(p) for p in pairs]
    if pt.is_list(t):
        return [to_json(v, t.value_type) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return _float_text(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return value


def from_json(value: Any, t: pa.DataType) -> Any:
    """The inverse of `to_json`: a parsed JSON value back to what `pa.array(..., type=t)` accepts."""
    if value is None:
        return None
    if pt.is_struct(t):
        return {f.name: from_json(value.get(f.name), f.type) for f in t}
    if pt.is_map(t):
        pairs = value.items() if isinstance(value, dict) else value
        return [(from_json(k, t.key_type), from_json(v, t.item_type)) for k, v in pairs]
    if pt.is_list(t):
        return [from_json(v, t.value_type) for v in value]
    return _from_json_scalar(value, t)


def _from_json_scalar(value: Any, t: pa.DataType) -> Any:
    name = getattr(t, "extension_name", None)
    if name == "arrow.uuid":
        return uuid.UUID(value).bytes
    if name == "arrow.json":
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if pt.is_floating(t):
        return _NON_FINITE.get(value, value) if isinstance(value, str) else float(value)
    if pt.is_decimal(t):
        return Decimal(str(value))
    if pt.is_binary(t):
        return base64.b64decode(value)
    if pt.is_timestamp(t):
        return datetime.fromisoformat(value)
    if pt.is_date(t):
        return date.fromisoformat(value)
    if pt.is_time(t):
        return time.fromisoformat(value)
    if pt.is_duration(t):
        return timedelta(microseconds=value)
    return value


def arrow_column(values: list[Any], t: pa.DataType, name: str) -> pa.Array:
    """Values psycopg2 fetched from a column mapped from `t` (core/pg_types.py), as an Arrow array of `t`.

    pyarrow cannot build extension values nested in lists or structs from Python objects, so the array is
    built at the storage type (uuid: 16 bytes, json: text) and cast to `t`.
    """
    encoding = pg_type(t, name).encoding
    if encoding == "json":
        values = [from_json(v, t) for v in values]
    elif encoding in ("bytea", "uuid", "array"):
        values = [_storage_value(v) for v in values]
    storage = _storage_type(t)
    array = pa.array(values, type=storage)
    return array if storage.equals(t) else array.cast(t)


def _storage_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_storage_value(v) for v in value]
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _storage_type(t: pa.DataType) -> pa.DataType:
    if isinstance(t, pa.BaseExtensionType):
        return t.storage_type
    if pt.is_struct(t):
        return pa.struct([f.with_type(_storage_type(f.type)) for f in t])
    if pt.is_list(t):
        return pa.list_(t.value_field.with_type(_storage_type(t.value_type)))
    if pt.is_map(t):
        return pa.map_(_storage_type(t.key_type), _storage_type(t.item_type))
    return t
