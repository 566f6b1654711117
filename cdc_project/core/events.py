"""Decode one table's Debezium change events (Kafka Connect JsonConverter) into one Arrow table.

Reads the full envelope (`before`, `after`, `source`, `op`) with schemas.enable=true or false. Without a
schema, Arrow types are inferred from values, which is lossy (decimals stay base64 text, times integers).
ExtractNewRecordState-flattened records have no `op` and are dead-lettered.

Speed: JsonConverter repeats the schema in every message; its bytes are sliced off unparsed and key a cache
of converter plans, so only payloads are parsed, and each column is one pa.array call over a Python list.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from cdc_project.core import columns as meta
from cdc_project.core.dead_letters import DeadLetter
from cdc_project.core.errors import BatchSchemaConflictError, CdcError, DecodeError
from cdc_project.core.errors import KeyColumnsError, MixedTopicsError
from cdc_project.core.ordering import POSITION_ENCODERS, PositionEncoder
from cdc_project.core.type_mapping import ARROW_ERRORS, ColumnType, column_type, inferred_array, typed_array

if TYPE_CHECKING:  # core stays importable without pydantic/yaml, which cdc_project.config pulls in
    from cdc_project.config import SourceKind

# Debezium's default unavailable.value.placeholder in the shape each connect type carries it: text as is,
# bytea base64-encoded, text[]/json[] as a one-element array, int[]/bigint[] as the placeholder's bytes,
# uuid[] as the placeholder's name-based UUID (DBZ-4941, DBZ-5936, DBZ-6720).
PLACEHOLDER = "__debezium_unavailable_value"
_PLACEHOLDERS: dict[str, tuple[Any, ...]] = {
    "string": (PLACEHOLDER,),
    "bytes": (base64.b64encode(PLACEHOLDER.encode()).decode(),),
    "array": ([PLACEHOLDER], list(PLACEHOLDER.encode()), ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]),
}
_SCHEMALESS_PLACEHOLDERS = (PLACEHOLDER, [PLACEHOLDER])
_EMPTY_ROW: dict[str, Any] = {}  # a truncate's row; shared, never mutated


@dataclass(frozen=True)
class RawMessage:
    """One Kafka record as the consumer delivered it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass(frozen=True)
class DecodedBatch:
    """One table's change events of one batch.

    `rows`: one row per change event in input order: data columns, META_FIELDS, then `_cdc_unavailable` if
    any event had unavailable (unchanged TOAST) values. `data_schema` is the latest schema in the batch;
    earlier rows get null for columns added later, and a column it dropped is appended, not lost. Data
    fields are all nullable: deletes may carry only key columns, truncates none.
    """

    rows: pa.Table
    key_columns: tuple[str, ...]
    data_schema: pa.Schema
    dead_letters: tuple[DeadLetter, ...]
    skipped: int


@dataclass(frozen=True)
class _Column:
    name: str
    type: ColumnType
    placeholders: tuple[Any, ...]


@dataclass(frozen=True)
class _Plan:  # how to decode the rows of one value schema; schemaless events have no plan (None)
    columns: tuple[_Column, ...]
    is_envelope: bool


@dataclass(frozen=True)
class _Event:
    index: int  # position in the input batch
    plan: _Plan | None
    op: str
    position: str
    source_ts_us: int | None
    row: Mapping[str, Any]


_PLANS: dict[bytes, _Plan | CdcError | None] = {}
_PLAN_CACHE_LIMIT = 1024  # schemas seen by one process; cleared wholesale when exceeded, churn is rare
_UNPARSED = object()


def _build_plan(schema: Any) -> _Plan:
    fields = {f.get("field"): f for f in schema.get("fields", ())} if isinstance(schema, dict) else {}
    row = fields.get("after") or fields.get("before") or {}
    columns = tuple(
        _Column(f["field"], column_type(f, f"after.{f['field']}"), _PLACEHOLDERS.get(f.get("type"), ()))
        for f in row.get("fields", ())
    )
    return _Plan(columns, is_envelope="op" in fields)


def _plan_for(schema_bytes: bytes, schema: Any = _UNPARSED) -> _Plan | None:
    entry = _PLANS.get(schema_bytes, _UNPARSED)
    if entry is _UNPARSED:
        parsed = orjson.loads(schema_bytes) if schema is _UNPARSED else schema
        try:
            entry = None if parsed is None else _build_plan(parsed)
        except CdcError as exc:  # remembered too: every message with this schema fails the same way
            entry = exc
        if len(_PLANS) >= _PLAN_CACHE_LIMIT:
            _PLANS.clear()
        _PLANS[schema_bytes] = entry
    if isinstance(entry, CdcError):
        raise entry.with_traceback(None)
    return entry  # type: ignore[return-value]


_SCHEMA_HINT = [b""]  # the last value schema seen: consecutive messages of a topic almost always share it


def _split(raw: bytes) -> tuple[bytes, bytes] | None:
    """(schema, payload) bytes of a compact JsonConverter record, found without parsing.

    `,"payload":` cannot occur inside a JSON string (its quotes would be escaped): its first occurrence ends
    the schema, unless the schema has a `payload` key; that slice is not valid JSON and the caller parses
    in full. Returning the hint object (its hash is cached) spares rehashing kilobytes per message.
    """
    if raw.startswith(b'{"schema":') and raw.endswith(b"}"):
        known = _SCHEMA_HINT[0]
        end = 10 + len(known)
        if known and raw.startswith(known, 10) and raw.startswith(b',"payload":', end):
            return known, raw[end + 11 : -1]
        cut = raw.find(b',"payload":')
        if cut > 0:
            return raw[10:cut], raw[cut + 11 : -1]
    return None


def _parse_value(raw: bytes) -> tuple[_Plan | None, Any]:
    parts = _split(raw)
    if parts is not None:
        try:
            plan = _plan_for(parts[0])
        except orjson.JSONDecodeError:
            pass  # not a whole schema: the split guessed wrong
        else:
            _SCHEMA_HINT[0] = parts[0]
            return plan, orjson.loads(parts[1])
    document = orjson.loads(raw)
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return _plan_for(orjson.dumps(document["schema"]), document["schema"]), document["payload"]
    return None, document


def _parse_key(raw: bytes) -> tuple[Any, Any]:
    """(schema, payload) of a Kafka key, parsed whole: keys are small and read once per batch or delete."""
    document = orjson.loads(raw)
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["schema"], document["payload"]
    return None, document


def key_columns_of(key: bytes | None) -> tuple[str, ...]:
    """Key column names from a Debezium key: its schema's fields, or a schemaless key's own names."""
    if key is None:
        return ()
    schema, payload = _parse_key(key)
    if isinstance(schema, dict):
        return tuple(f["field"] for f in schema.get("fields", ()))
    if not isinstance(payload, dict):
        raise DecodeError(f"the message key is {type(payload).__name__}, not a JSON object")
    return tuple(payload)


def _latest_key_columns(keys: list[bytes | None]) -> tuple[str, ...]:
    # An unreadable key falls back to an earlier event's rather than stalling the partition on one message.
    for key in reversed(keys):
        try:
            return key_columns_of(key)
        except (DecodeError, orjson.JSONDecodeError, TypeError, KeyError):
            continue
    if keys:
        raise DecodeError("no key of this batch's change events is readable JSON")
    return ()


def _is_control(payload: Mapping[str, Any]) -> bool:
    # Heartbeats ({"ts_ms"}), transaction BEGIN/END metadata and schema-change events are not row changes.
    control = payload.keys() == {"ts_ms"} or payload.get("status") in ("BEGIN", "END")
    return control or "ddl" in payload or "tableChanges" in payload


def _decode(index: int, message: RawMessage, position_of: PositionEncoder) -> _Event | None:
    """The message's change event; None for a message that is no row change (skipped, not dead)."""

    def fail(text: str) -> DecodeError:
        return DecodeError(text, topic=message.topic, offset=message.offset)

    try:
        plan, payload = _parse_value(message.value or b"")
    except orjson.JSONDecodeError as exc:
        raise fail(f"value is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise fail(f"payload is {type(payload).__name__}, not an object")
    op = payload.get("op")
    if op == "m" or (op is None and _is_control(payload)):  # "m": pg_logical_emit_message messages
        return None
    if op is None:
        raise fail("event has no 'op': expected the full Debezium envelope, not a flattened record")
    if op not in meta.VALID_OPS:
        raise fail(f"{op!r} is not a valid op. Valid values are: {sorted(meta.VALID_OPS)}")
    if plan is not None and not plan.is_envelope:
        raise fail("the value schema is not a Debezium change-event envelope")
    source = payload.get("source")
    if not isinstance(source, dict):
        raise fail("event has no 'source' block")
    if op == "t":
        row: Any = _EMPTY_ROW
    elif op == "d":
        row = payload.get("before")
        if row is None:  # REPLICA IDENTITY NOTHING: only the Kafka key says which row went
            row = _parse_key(message.key)[1] if message.key else _EMPTY_ROW
    else:
        row = payload.get("after")
    if not isinstance(row, dict):
        raise fail(f"op {op!r} event has no row object ({type(row).__name__})")
    ts_ms = source.get("ts_ms")
    source_ts_us = ts_ms * 1000 if isinstance(ts_ms, int) else None
    return _Event(index, plan, op, position_of(source), source_ts_us, row)


@dataclass(frozen=True)
class _Segment:  # consecutive events decoded under one plan, as Arrow columns
    events: tuple[_Event, ...]
    fields: tuple[pa.Field, ...]
    arrays: tuple[pa.Array, ...]
    unavailable: tuple[list[str] | None, ...]


def _blank_placeholders(raw: list[Any], name: str, shapes: tuple[Any, ...], unavailable: list[Any]) -> None:
    if not any(shape in raw for shape in shapes):  # C-level scans: the common case ends here
        return
    for row, value in enumerate(raw):
        if value is not None and value in shapes:
            raw[row] = None
            unavailable[row] = [*(unavailable[row] or ()), name]


def _build_segment(plan: _Plan | None, events: list[_Event], bad: dict[int, Exception]) -> _Segment | None:
    """Arrow columns of `events`, or None with `bad` (input index -> error) naming the events to drop."""
    rows = [event.row for event in events]
    unavailable: list[list[str] | None] = [None] * len(rows)
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    failed: dict[int, Exception] = {}
    if plan is None:
        for name in dict.fromkeys(name for row in rows for name in row):
            raw = [row.get(name) for row in rows]
            _blank_placeholders(raw, name, _SCHEMALESS_PLACEHOLDERS, unavailable)
            arrays.append(inferred_array(raw))
            fields.append(pa.field(name, arrays[-1].type))
    else:
        for column in plan.columns:
            raw = [row.get(column.name) for row in rows]
            if column.placeholders:
                _blank_placeholders(raw, column.name, column.placeholders, unavailable)
            array, column_failed = typed_array(raw, column.type, column.name)
            failed.update(column_failed)
            if array is not None:
                arrays.append(array)
                fields.append(pa.field(column.name, column.type.arrow))
    if failed:
        bad.update((events[row].index, exc) for row, exc in failed.items())
        return None
    return _Segment(tuple(events), tuple(fields), tuple(arrays), tuple(unavailable))


def _segments(events: list[_Event], bad: dict[int, Exception]) -> list[_Segment]:
    """Split at every plan change; within a plan, drop events with unconvertible values and rebuild."""
    segments = []
    for _, group in groupby(events, key=lambda event: id(event.plan)):
        run = list(group)
        while run:
            segment = _build_segment(run[0].plan, run, bad)
            if segment is not None:
                segments.append(segment)
                break
            run = [event for event in run if event.index not in bad]
    return segments


def _conform(segment: _Segment, schema: pa.Schema) -> list[pa.Array]:
    """The segment's columns in the batch schema: nulls where it lacks a column, older types cast."""
    own = dict(zip((field.name for field in segment.fields), segment.arrays))
    arrays = []
    for field in schema:
        array = own.get(field.name)
        if array is None:
            array = pa.nulls(len(segment.events), field.type)
        elif array.type != field.type:
            try:
                array = array.cast(field.type)
            except ARROW_ERRORS:
                raise BatchSchemaConflictError(field.name, str(array.type), str(field.type)) from None
        arrays.append(array)
    return arrays


def decode_batch(
    messages: Sequence[RawMessage], *, source_kind: SourceKind, key_override: Sequence[str] | None = None
) -> DecodedBatch:
    """Decode one table's messages; heartbeats, transaction metadata and tombstones may be mixed in."""
    position_of = POSITION_ENCODERS.get(source_kind)
    if position_of is None:
        valid = sorted(POSITION_ENCODERS)
        raise ValueError(f"{source_kind!r} is not a valid source kind. Valid values are: {valid}")
    events: list[_Event] = []
    letters: dict[int, DeadLetter] = {}
    skipped = 0
    for index, message in enumerate(messages):
        try:
            # A null value is the Kafka tombstone after a delete: the delete event already said it all.
            event = None if message.value is None else _decode(index, message, position_of)
        except Exception as exc:  # noqa: BLE001 - one poison message must not stop the batch
            letters[index] = DeadLetter.from_failed_decode(message, exc)
            continue
        if event is None:
            skipped += 1
        else:
            events.append(event)
    topics = {messages[event.index].topic for event in events}
    if len(topics) > 1:
        raise MixedTopicsError(sorted(topics))

    bad: dict[int, Exception] = {}
    segments = _segments(events, bad)
    letters.update((i, DeadLetter.from_failed_decode(messages[i], exc)) for i, exc in bad.items())
    latest_first: dict[str, pa.Field] = {}
    for segment in reversed(segments):
        for field in segment.fields:
            latest_first.setdefault(field.name, field)
    schema = pa.schema(list(latest_first.values()))

    chunks: list[list[pa.Array]] = [[] for _ in schema]
    kept: list[_Event] = []
    unavailable: list[list[str] | None] = []
    for segment in segments:
        try:
            arrays = _conform(segment, schema)
        except BatchSchemaConflictError as exc:
            for event in segment.events:
                letters[event.index] = DeadLetter.from_schema_change(messages[event.index], exc)
            continue
        for column, array in zip(chunks, arrays):
            column.append(array)
        kept.extend(segment.events)
        unavailable.extend(segment.unavailable)

    origins = [messages[event.index] for event in kept]
    meta_values: list[list[Any]] = [
        *([e.op for e in kept], [e.position for e in kept], [e.source_ts_us for e in kept]),
        *([m.topic for m in origins], [m.partition for m in origins], [m.offset for m in origins]),
    ]
    fields = [*schema, *meta.META_FIELDS]
    columns: list[pa.Array | pa.ChunkedArray] = [
        *(pa.chunked_array(column, type=field.type) for column, field in zip(chunks, schema)),
        *(pa.array(values, type=field.type) for values, field in zip(meta_values, meta.META_FIELDS)),
    ]
    if any(names is not None for names in unavailable):
        fields.append(meta.UNAVAILABLE_FIELD)
        columns.append(pa.array(unavailable, type=meta.UNAVAILABLE_FIELD.type))

    if key_override is not None:
        key_columns = tuple(key_override)
        missing = [name for name in key_columns if name not in schema.names]
        if kept and missing:
            raise KeyColumnsError(missing, schema.names)
    else:  # the latest row event's key schema; truncates carry no key and say nothing about it
        key_columns = _latest_key_columns([messages[e.index].key for e in kept if e.op != "t"])
    return DecodedBatch(
        rows=pa.Table.from_arrays(columns, schema=pa.schema(fields)),
        key_columns=key_columns,
        data_schema=schema,
        dead_letters=tuple(letters[i] for i in sorted(letters)),
        skipped=skipped,
    )
