"""Decode one table's Debezium change events (Kafka Connect JsonConverter) into one Arrow table.

Per message, core/envelope.py reads the envelope of any source family; here the events of a batch become
Arrow columns. With a value schema each column is typed by the Connect dispatch table (core/type_mapping.py);
without one (schemas.enable=false) by a declared table schema when one is given (`DecodeOptions.declared`),
else by inference: JSON booleans, integers (int64), numbers (float64 when any is fractional), strings,
objects (struct) and arrays (list) keep their JSON type, a column whose values disagree becomes string
holding each value's JSON text, and an all-null column is string. Inference cannot know that a string is a
timestamp or that base64 text is a decimal: declare the schema to type those. MongoDB documents are typed
from their BSON types (core/mongodb.py). Each column is one pa.array call over a Python list.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby, repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.core import columns as meta
from cdc_project.core import mongodb
from cdc_project.core.dead_letters import DeadLetter
from cdc_project.core.envelope import Event, Ignored, Reader, parse_key
from cdc_project.core.errors import BatchSchemaConflictError, DecodeError, KeyColumnsError, MixedTopicsError
from cdc_project.core.hot_loop import has_struct_rows, read_events, row_columns, row_dict
from cdc_project.core.plans import PLACEHOLDER, SCHEMALESS_PLACEHOLDERS, Plan, declared_plan
from cdc_project.core.type_mapping import ARROW_ERRORS, BinaryMode, ConnectSchema, inferred_array, typed_array

if TYPE_CHECKING:  # core stays importable without pydantic/yaml, which cdc_project.config pulls in
    from cdc_project.config import SourceKind


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
class DecodeOptions:
    """How to read a table's messages beyond what they say themselves.

    `declared`: column -> Connect field schema (or shorthand, see envelope.declared_plan) typing schemaless
    relational and Cassandra events. `binary_handling_mode`: the connector's binary.handling.mode; for
    base64/hex, string columns whose propagated source type is binary (column.propagate.source.type) or that
    are declared as such decode to bytes.
    """

    declared: Mapping[str, ConnectSchema | str] | None = None
    binary_handling_mode: BinaryMode = "bytes"


@dataclass(frozen=True)
class DecodedBatch:
    """One table's change events of one batch.

    `rows`: one row per change event in input order: data columns, META_FIELDS, then `_cdc_unavailable` if
    any event left columns unchanged (unchanged TOAST, a partial MongoDB or Cassandra row). `data_schema` is
    the latest schema in the batch; earlier rows get null for columns added later, and a column it dropped
    is appended, not lost. Data fields are all nullable: deletes may carry only key columns, truncates none.
    """

    rows: pa.Table
    key_columns: tuple[str, ...]
    data_schema: pa.Schema
    dead_letters: tuple[DeadLetter, ...]
    skipped: int
    ignored: tuple[Ignored, ...] = field(default=())


# C-level accessors: over a batch of 100,000 events a Python-level loop per pass costs more than the pass
_GET: Any = dict.get  # map(dict.get, rows, repeat(name)) extracts a column
_INDEX, _ROW, _PARTIAL = itemgetter(0), itemgetter(5), itemgetter(6)
_TOPIC = attrgetter("topic")


@dataclass(frozen=True)
class _Segment:  # consecutive events decoded under one plan, as Arrow columns
    events: tuple[Event, ...]
    fields: tuple[pa.Field, ...]
    arrays: tuple[pa.Array, ...]
    unavailable: tuple[list[str] | None, ...]


def _blank_placeholders(raw: list[Any], name: str, shapes: tuple[Any, ...], unavailable: list[Any]) -> bool:
    """Null the placeholder values of one column in place, listing the column as unavailable in their rows."""
    if not any(shape in raw for shape in shapes):  # C-level scans: the common case ends here
        return False
    for row, value in enumerate(raw):
        if value is not None and value in shapes:
            raw[row] = None
            unavailable[row] = [*(unavailable[row] or ()), name]
    return True


_PLACEHOLDER_TEXTS = pa.array(
    [*(p for p in SCHEMALESS_PLACEHOLDERS if isinstance(p, str)), f'["{PLACEHOLDER}"]']
)
_PLACEHOLDER_LIST_LENGTHS = pa.array(sorted({len(p) for p in SCHEMALESS_PLACEHOLDERS if isinstance(p, list)}))


def _inferred_column(raw: list[Any], name: str, unavailable: list[Any]) -> pa.Array:
    """A schemaless column; placeholders are found on the Arrow array, not by a Python scan per column."""
    array = inferred_array(raw)
    if pa.types.is_string(array.type):
        mask = pc.is_in(array, value_set=_PLACEHOLDER_TEXTS)
        if not pc.any(mask).as_py():
            return array
        for row in pc.indices_nonzero(mask).to_pylist():
            unavailable[row] = [*(unavailable[row] or ()), name]
        return pc.if_else(mask, pa.scalar(None, array.type), array)
    if pa.types.is_list(array.type):
        if pc.any(pc.is_in(pc.list_value_length(array), value_set=_PLACEHOLDER_LIST_LENGTHS)).as_py():
            if _blank_placeholders(raw, name, SCHEMALESS_PLACEHOLDERS, unavailable):
                return inferred_array(raw)
    return array


def _column_names(rows: list[Mapping[str, Any]]) -> list[str]:
    """Every key of `rows` in first-seen order; the union is taken in C, the order only looked for when
    some row has a key the first lacks (a rare schema change within schemaless events)."""
    names = list(rows[0]) if rows else []
    union = set().union(*rows)
    if len(union) > len(names):
        seen = dict.fromkeys(names)
        for row in rows:
            if len(seen) == len(union):
                break
            seen.update(dict.fromkeys(row))
        names = list(seen)
    return names


def _column_source(rows: list[Any]) -> tuple[list[str], Callable[[str], list[Any]]]:
    """The rows' column names and a function giving one column's values as a fresh list."""
    n = len(rows)
    transposed = row_columns(rows)  # the hot loop's struct rows: one C-level transposition
    if transposed is not None:
        return list(transposed), lambda name: transposed.pop(name, None) or [None] * n
    if has_struct_rows(rows):
        rows = list(map(row_dict, rows))
    return _column_names(rows), lambda name: list(map(_GET, rows, repeat(name, n)))


def _build_segment(
    plan: Plan | None, events: list[Event], family: str, bad: dict[int, Exception]
) -> _Segment | None:
    """Arrow columns of `events`, or None with `bad` (input index -> error) naming the events to drop."""
    names, values_of = _column_source(list(map(_ROW, events)))
    unavailable: list[list[str] | None] = [None] * len(events)
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    failed: dict[int, Exception] = {}
    if plan is None:
        for name in names:
            raw = values_of(name)
            if family == "mongodb":
                array, column_failed = mongodb.column_array(raw, name)
                failed.update(column_failed)
            else:
                array = _inferred_column(raw, name, unavailable)
            if array is not None:
                arrays.append(array)
                fields.append(pa.field(name, array.type))
    else:
        for column in plan.columns:
            raw = values_of(column.name)
            if column.placeholders:
                _blank_placeholders(raw, column.name, column.placeholders, unavailable)
            array, column_failed = typed_array(raw, column.type, column.name)
            failed.update(column_failed)
            if array is not None:
                arrays.append(array)
                fields.append(pa.field(column.name, column.type.arrow))
    if failed:
        bad.update((events[row][0], exc) for row, exc in failed.items())
        return None
    return _Segment(tuple(events), tuple(fields), tuple(arrays), tuple(unavailable))


def _segments(events: list[Event], family: str, bad: dict[int, Exception]) -> list[_Segment]:
    """Split at every plan change; within a plan, drop events with unconvertible values and rebuild."""
    segments = []
    for plan, group in groupby(events, key=itemgetter(1)):
        run = list(group)
        while run:
            segment = _build_segment(plan, run, family, bad)
            if segment is not None:
                segments.append(segment)
                break
            run = [event for event in run if event[0] not in bad]
    return segments


def _conform(segment: _Segment, schema: pa.Schema) -> list[pa.Array]:
    """The segment's columns in the batch schema: nulls where it lacks a column, older types cast."""
    own = dict(zip((field.name for field in segment.fields), segment.arrays))
    arrays = []
    for field_ in schema:
        array = own.get(field_.name)
        if array is None:
            array = pa.nulls(len(segment.events), field_.type)
        elif array.type != field_.type:
            try:
                array = array.cast(field_.type)
            except ARROW_ERRORS:
                raise BatchSchemaConflictError(field_.name, str(array.type), str(field_.type)) from None
        arrays.append(array)
    return arrays


def key_columns_of(key: bytes | None) -> tuple[str, ...]:
    """Key column names from a Debezium key: its schema's fields, or a schemaless key's own names."""
    if key is None:
        return ()
    schema, payload = parse_key(key)
    if isinstance(schema, dict):
        return tuple(f["field"] for f in schema.get("fields", ()))
    if not isinstance(payload, dict):
        raise DecodeError(f"the message key is {type(payload).__name__}, not a JSON object")
    return tuple(payload)


def _latest_key_columns(latest_first: Iterator[bytes | None]) -> tuple[str, ...]:
    # An unreadable key falls back to an earlier event's rather than stalling the partition on one message.
    seen = False
    for key in latest_first:
        seen = True
        try:
            return key_columns_of(key)
        except (DecodeError, ValueError, TypeError, KeyError):
            continue
    if seen:
        raise DecodeError("no key of this batch's change events is readable JSON")
    return ()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Decoding allocates dicts for every message and frees none before the batch ends, so the cyclic
    collector would rescan the growing heap over and over; decoding makes no reference cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_batch(
    messages: Sequence[RawMessage],
    *,
    source_kind: SourceKind,
    key_override: Sequence[str] | None = None,
    options: DecodeOptions | None = None,
) -> DecodedBatch:
    """Decode one table's messages; heartbeats, transaction metadata and tombstones may be mixed in."""
    options = options or DecodeOptions()
    declared = (
        None if options.declared is None else declared_plan(options.declared, options.binary_handling_mode)
    )
    reader = Reader.for_kind(source_kind, options.binary_handling_mode, declared)
    with _collector_paused():
        return _decode(messages, reader, key_override)


def _decode(
    messages: Sequence[RawMessage], reader: Reader, key_override: Sequence[str] | None
) -> DecodedBatch:
    events, letters, ignored = read_events(messages, reader)
    topics = set(map(_TOPIC, map(messages.__getitem__, map(_INDEX, events))))
    if len(topics) > 1:
        raise MixedTopicsError(sorted(topics))
    bad: dict[int, Exception] = {}
    segments = _segments(events, reader.family, bad)
    letters.update((i, DeadLetter.from_failed_decode(messages[i], exc)) for i, exc in bad.items())
    latest_first: dict[str, pa.Field] = {}
    for segment in reversed(segments):
        for field_ in segment.fields:
            latest_first.setdefault(field_.name, field_)
    schema = pa.schema(list(latest_first.values()))

    chunks: list[list[pa.Array]] = [[] for _ in schema]
    kept: list[Event] = []
    unavailable: list[list[str] | None] = []
    for segment in segments:
        try:
            arrays = _conform(segment, schema)
        except BatchSchemaConflictError as exc:
            for event in segment.events:
                letters[event[0]] = DeadLetter.from_schema_change(messages[event[0]], exc)
            continue
        for column, array in zip(chunks, arrays):
            column.append(array)
        kept.extend(segment.events)
        unavailable.extend(segment.unavailable)
    for i, event in enumerate(kept) if any(map(_PARTIAL, kept)) else ():
        if event[6]:  # a partial row: every column it does not carry is unchanged, not null
            row = event[5]
            unavailable[i] = [
                *(unavailable[i] or ()),
                *(name for name in schema.names if name not in row),
            ] or None

    indices, _, ops, positions, commit_times, _, _ = zip(*kept) if kept else ((),) * 7
    origins = list(map(messages.__getitem__, indices))
    meta_values: list[Sequence[Any]] = [
        ops,
        positions,
        commit_times,
        [origins[0].topic] * len(origins) if origins else [],  # one topic per batch, checked above
        list(map(attrgetter("partition"), origins)),
        list(map(attrgetter("offset"), origins)),
    ]
    fields = [*schema, *meta.META_FIELDS]
    columns: list[pa.Array | pa.ChunkedArray] = [
        *(pa.chunked_array(column, type=field_.type) for column, field_ in zip(chunks, schema)),
        *(pa.array(values, type=field_.type) for values, field_ in zip(meta_values, meta.META_FIELDS)),
    ]
    if unavailable.count(None) != len(unavailable):
        fields.append(meta.UNAVAILABLE_FIELD)
        columns.append(pa.array(unavailable, type=meta.UNAVAILABLE_FIELD.type))

    if key_override is not None:
        key_columns = tuple(key_override)
        missing = [name for name in key_columns if name not in schema.names]
        if kept and missing:
            raise KeyColumnsError(missing, schema.names)
    elif reader.family == "mongodb":
        key_columns = mongodb.KEY_COLUMNS if kept else ()
    else:  # the latest row event's key schema; truncates carry no key and say nothing about it
        key_columns = _latest_key_columns(messages[e[0]].key for e in reversed(kept) if e[2] != "t")
    return DecodedBatch(
        rows=pa.Table.from_arrays(columns, schema=pa.schema(fields)),
        key_columns=key_columns,
        data_schema=schema,
        dead_letters=tuple(letters[i] for i in sorted(letters)),
        skipped=len(ignored),
        ignored=tuple(ignored),
    )
