"""MongoDB change events: extended JSON documents -> rows and Arrow columns.

Debezium's MongoDB connector writes `after`, `before` and `updateDescription.updatedFields` as strings of
extended JSON (legacy strict mode in 3.x, e.g. `{"$numberLong": "1"}`, `{"$date": 1700000000000}`,
`{"$binary": "AQ==", "$type": "00"}`); the relaxed and canonical v2 spellings (`{"$date": "2023-..Z"}`,
`{"$numberInt": "1"}`, `{"$binary": {"base64": .., "subType": ..}}`) are read the same way. BSON types map to:

  ObjectId, Symbol, Code, NumberDecimal (exact text), MinKey/MaxKey ("MinKey"/"MaxKey"),
  Binary subtype 04 (canonical UUID)                        -> string
  Date -> timestamp[us, UTC]; NumberInt -> int32; NumberLong and relaxed integers -> int64;
  Double -> float64; Binary -> binary; Timestamp -> struct<t, i>; Regex -> struct<pattern, options>;
  Undefined -> null; documents -> struct (fields in first-seen order); arrays -> list.

Columns are typed per batch by unifying every value's type: null fits anything, int32 widens to int64,
integers widen to float64, structs merge their fields, lists unify their items. Values that still disagree
(a field that is a string in one document and a number in another, or a mixed-type array's elements) become
string, holding each value's extended JSON text (strings stay as they are). A column whose values are all
null is string.

An update without the full document (capture.mode=change_streams) is a partial row: `updatedFields` and
`removedFields` (as nulls) at the top level, every other column unchanged. A change to a nested path
(`address.city`, `items.2`) or a truncated array cannot be applied to whole columns: the event is refused,
naming the path and the capture mode (change_streams_update_full) that sends full documents.
"""

from __future__ import annotations

import binascii
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa

from cdc_project.core.errors import DecodeError, ValueConversionError
from cdc_project.core.type_mapping import settle_nulls

ID = "_id"
KEY_COLUMNS = (ID,)
_STRING = pa.string()
_INT32 = pa.int32()
_INT64 = pa.int64()
_FLOAT64 = pa.float64()
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_BSON_TIMESTAMP = pa.struct([pa.field("t", pa.int64()), pa.field("i", pa.int64())])
_REGEX = pa.struct([pa.field("pattern", pa.string()), pa.field("options", pa.string())])
_NULL = pa.null()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = datetime.resolution


def parse_document(text: Any, where: str) -> dict[str, Any]:
    """One extended JSON document string; NaN/Infinity (legacy strict doubles) parse with the stdlib."""
    if not isinstance(text, str):
        raise DecodeError(f"{where} is {type(text).__name__}, not an extended JSON string")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise DecodeError(f"{where} is not extended JSON ({exc})") from None
    if not isinstance(document, dict):
        raise DecodeError(f"{where} is {type(document).__name__}, not a document")
    return document


def _binary(value: Mapping[str, Any]) -> tuple[bytes, str]:
    body = value["$binary"]
    if isinstance(body, dict):  # v2: {"$binary": {"base64": .., "subType": "04"}}
        return binascii.a2b_base64(body["base64"]), str(body.get("subType", "00"))
    return binascii.a2b_base64(body), str(value.get("$type", "00"))  # legacy: {"$binary": .., "$type": ..}


def _date_us(value: Mapping[str, Any]) -> int:
    body = value["$date"]
    if isinstance(body, dict):
        return int(body["$numberLong"]) * 1000  # canonical
    if isinstance(body, str):
        return (datetime.fromisoformat(body) - _EPOCH) // _US  # relaxed: ISO-8601 with offset
    return int(body) * 1000  # legacy strict: milliseconds


def _text(value: Any) -> str:
    """A value as string: its own text for string-like BSON types, otherwise its extended JSON text."""
    if value.__class__ is str:
        return value
    kind = _wrapper(value)
    if kind is not None:
        as_text = _WRAPPERS[kind][2]
        if as_text is not None:
            return as_text(value)
    return orjson.dumps(value).decode()


def _uuid_or_none(value: Mapping[str, Any]) -> str | None:
    raw, subtype = _binary(value)
    return str(uuid.UUID(bytes=raw)) if subtype in ("04", "4") and len(raw) == 16 else None


def _binary_type(value: Mapping[str, Any]) -> pa.DataType:
    return _STRING if _uuid_or_none(value) is not None else pa.binary()


def _binary_text(value: Mapping[str, Any]) -> str:
    text = _uuid_or_none(value)
    return text if text is not None else orjson.dumps(value).decode()


def _regex(value: Mapping[str, Any]) -> dict[str, str]:
    if "$regularExpression" in value:
        body = value["$regularExpression"]
        return {"pattern": body["pattern"], "options": body.get("options", "")}
    return {"pattern": value["$regex"], "options": value.get("$options", "")}


def _bson_timestamp(value: Mapping[str, Any]) -> dict[str, int]:
    body = value["$timestamp"]
    return {"t": int(body["t"]), "i": int(body["i"])}


TypeOf = Callable[[Mapping[str, Any]], pa.DataType | None]
# wrapper key -> (Arrow type of the value, Arrow-ready value, text when the column is string)
_WRAPPERS: dict[str, tuple[TypeOf, Callable[[Any], Any], Callable[[Any], str] | None]] = {
    "$oid": (lambda v: _STRING, lambda v: v["$oid"], lambda v: v["$oid"]),
    "$symbol": (lambda v: _STRING, lambda v: v["$symbol"], lambda v: v["$symbol"]),
    "$code": (lambda v: _STRING, lambda v: v["$code"], lambda v: v["$code"]),
    "$numberDecimal": (lambda v: _STRING, lambda v: v["$numberDecimal"], lambda v: v["$numberDecimal"]),
    "$minKey": (lambda v: _STRING, lambda v: "MinKey", lambda v: "MinKey"),
    "$maxKey": (lambda v: _STRING, lambda v: "MaxKey", lambda v: "MaxKey"),
    "$uuid": (lambda v: _STRING, lambda v: str(uuid.UUID(v["$uuid"])), lambda v: str(uuid.UUID(v["$uuid"]))),
    "$binary": (_binary_type, lambda v: _uuid_or_none(v) or _binary(v)[0], _binary_text),
    "$date": (lambda v: _TIMESTAMP, _date_us, None),
    "$numberInt": (lambda v: _INT32, lambda v: int(v["$numberInt"]), None),
    "$numberLong": (lambda v: _INT64, lambda v: int(v["$numberLong"]), None),
    "$numberDouble": (lambda v: _FLOAT64, lambda v: float(v["$numberDouble"]), None),
    "$timestamp": (lambda v: _BSON_TIMESTAMP, _bson_timestamp, None),
    "$regularExpression": (lambda v: _REGEX, _regex, None),
    "$regex": (lambda v: _REGEX, _regex, None),
    "$undefined": (lambda v: None, lambda v: None, None),
    "$dbPointer": (lambda v: _STRING, lambda v: orjson.dumps(v).decode(), None),
}


def _wrapper(value: Any) -> str | None:
    if value.__class__ is dict and value:
        first: str = next(iter(value))
        if first in _WRAPPERS:
            return first
    return None


def infer(value: Any) -> pa.DataType | None:
    """The Arrow type of one extended JSON value; None for null (it fits any type)."""
    cls = value.__class__
    if value is None:
        return None
    if cls is bool:
        return pa.bool_()
    if cls is int:
        return _INT64
    if cls is float:
        return _FLOAT64
    if cls is str:
        return _STRING
    if cls is list:
        item: pa.DataType | None = None
        for element in value:
            item = unify(item, infer(element))
        return pa.list_(_NULL if item is None else item)
    if cls is dict:
        kind = _wrapper(value)
        if kind is not None:
            return _WRAPPERS[kind][0](value)
        return pa.struct([pa.field(k, _NULL if (t := infer(v)) is None else t) for k, v in value.items()])
    return _STRING


def unify(a: pa.DataType | None, b: pa.DataType | None) -> pa.DataType | None:
    """The narrowest type holding both; string when they disagree (see the module docstring)."""
    if a is None or a == _NULL:
        return b
    if b is None or b == _NULL or a == b:
        return a
    if pa.types.is_integer(a) and pa.types.is_integer(b):
        return _INT64
    if (pa.types.is_integer(a) or pa.types.is_floating(a)) and (
        pa.types.is_integer(b) or pa.types.is_floating(b)
    ):
        return _FLOAT64
    if pa.types.is_struct(a) and pa.types.is_struct(b) and a not in (_REGEX, _BSON_TIMESTAMP):
        fields = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = unify(fields.get(f.name), f.type) or _NULL
        return pa.struct([pa.field(name, t) for name, t in fields.items()])
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(unify(a.value_type, b.value_type) or _NULL)
    return _STRING


def convert(value: Any, t: pa.DataType) -> Any:
    """An extended JSON value as the Python value `pa.array(type=t)` takes; t comes from unify()."""
    if value is None:
        return None
    kind = _wrapper(value)
    if kind == "$undefined":
        return None
    if t == _STRING:
        return _text(value)
    if kind is not None:
        converted = _WRAPPERS[kind][1](value)
        if t == _FLOAT64 and converted is not None:
            return float(converted)
        return converted
    if pa.types.is_struct(t):
        return {f.name: convert(value.get(f.name), f.type) for f in t}
    if pa.types.is_list(t):
        item = t.value_type
        return [convert(element, item) for element in value]
    return value


def column_array(raw: list[Any], name: str) -> tuple[pa.Array | None, dict[int, Exception]]:
    """One column of extended JSON values; on failure None and the offending rows' errors."""
    inferred: pa.DataType | None = None
    for value in raw:
        inferred = unify(inferred, infer(value))
    t = settle_nulls(_NULL if inferred is None else inferred)
    values: list[Any] = []
    bad: dict[int, Exception] = {}
    for row, value in enumerate(raw):
        try:
            values.append(convert(value, t))
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            bad[row] = ValueConversionError(name, value, str(t), repr(exc))
            values.append(None)
    if bad:
        return None, bad
    return pa.array(values, type=t), bad


def key_id(key_payload: Any) -> Any:
    """The `_id` of a Debezium MongoDB key {"id": "<extended JSON of _id>"}."""
    if not isinstance(key_payload, dict) or not isinstance(key_payload.get("id"), str):
        raise DecodeError(f"the message key {key_payload!r} is not a MongoDB key {{'id': '<extended JSON>'}}")
    try:
        return orjson.loads(key_payload["id"])
    except orjson.JSONDecodeError:
        return json.loads(key_payload["id"])


def update_row(description: Any, document_id: Any) -> dict[str, Any]:
    """The partial row of an update that carries only `updateDescription` (no full document)."""
    if not isinstance(description, dict):
        raise DecodeError("update event has neither 'after' nor 'updateDescription'")
    row: dict[str, Any] = {ID: document_id}
    updated = description.get("updatedFields")
    fields = parse_document(updated, "updateDescription.updatedFields") if updated is not None else {}
    removed = description.get("removedFields") or []
    truncated = description.get("truncatedArrays") or []
    nested = [path for path in [*fields, *removed] if "." in path]
    if truncated or nested:
        what = (
            f"truncates array {truncated[0].get('field')!r}"
            if truncated
            else f"changes nested path {nested[0]!r}"
        )
        raise DecodeError(
            f"updateDescription {what} of document {document_id!r}; without the full document the lake "
            "cannot apply it to whole columns. Capture with capture.mode=change_streams_update_full and "
            "re-snapshot the collection"
        )
    row.update(fields)
    row.update(dict.fromkeys(removed))
    return row
