"""One Kafka message -> one change event (or the reason it is no change), for every Debezium source family.

Reads the JsonConverter envelope (`before`, `after`, `source`, `op`, `transaction`) with schemas.enable true
or false. The row is family specific: relational connectors (PostgreSQL, MySQL, MariaDB) send column values,
MongoDB sends extended JSON strings (core/mongodb.py), Cassandra sends cells (core/cassandra.py). Heartbeats,
transaction BEGIN/END markers, schema-change events and PostgreSQL logical decoding messages are no change:
they come back as a reason string. Anything unreadable raises DecodeError naming the field and the message.

Speed: JsonConverter repeats the schema in every message; its bytes are sliced off unparsed and key a cache
of converter plans, so only payloads are parsed (see `PlanCache.parse_value`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from cdc_project.core import cassandra, mongodb
from cdc_project.core.dead_letters import DeadLetter
from cdc_project.core.errors import CdcError, DecodeError
from cdc_project.core.ordering import NOT_SNAPSHOT as _NOT_SNAPSHOT
from cdc_project.core.ordering import POSITION_ENCODERS, PositionEncoder, commit_micros, is_snapshot
from cdc_project.core.type_mapping import (
    CONNECT_TYPES,
    LOGICAL_TYPES,
    BinaryMode,
    ColumnType,
    ConnectSchema,
    column_type,
)

if TYPE_CHECKING:
    from cdc_project.core.events import RawMessage

Family = Literal["relational", "mongodb", "cassandra"]
FAMILIES: dict[str, Family] = {
    "postgres": "relational",
    "mysql": "relational",
    "mariadb": "relational",
    "mongodb": "mongodb",
    "cassandra": "cassandra",
}

# Debezium's default unavailable.value.placeholder in the shape each connect type carries it: text as is,
# bytea base64-encoded, text[]/json[] as a one-element array, int[]/bigint[] as the placeholder's bytes,
# uuid[] as the placeholder's name-based UUID (DBZ-4941, DBZ-5936, DBZ-6720).
PLACEHOLDER = "__debezium_unavailable_value"
_PLACEHOLDERS: dict[str, tuple[Any, ...]] = {
    "string": (PLACEHOLDER, PLACEHOLDER.encode().hex()),  # binary.handling.mode=hex spells bytea in hex
    "bytes": (base64.b64encode(PLACEHOLDER.encode()).decode(),),
    "array": ([PLACEHOLDER], list(PLACEHOLDER.encode()), ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]),
}
SCHEMALESS_PLACEHOLDERS = (PLACEHOLDER, [PLACEHOLDER], base64.b64encode(PLACEHOLDER.encode()).decode())
_EMPTY_ROW: dict[str, Any] = {}  # a truncate's row; shared, never mutated
_UNPARSED = object()
# msgspec rather than orjson: integers beyond 64 bits (decimal.format=NUMERIC) stay exact instead of floats
_JSON = msgspec.json.Decoder()
JsonError = msgspec.MsgspecError

# (input index, plan, op, position, commit time in us, row, partial). A plain tuple: building one per event
# is the cheapest record Python has, and this runs for every message.
Event = tuple[int, "Plan | None", str, str, "int | None", Mapping[str, Any], bool]


@dataclass(frozen=True)
class Ignored:
    """A message that is no row change: tombstone, heartbeat, transaction marker, schema change."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass(frozen=True)
class PlanColumn:
    name: str
    type: ColumnType
    placeholders: tuple[Any, ...]


@dataclass(frozen=True, eq=False)  # compared by identity: plans are cached singletons
class Plan:
    """How to type the rows of one value schema; schemaless events have no plan (None) or a declared one."""

    columns: tuple[PlanColumn, ...]
    is_envelope: bool


def _columns(fields: list[tuple[str, ConnectSchema]], binary_mode: BinaryMode) -> tuple[PlanColumn, ...]:
    return tuple(
        PlanColumn(name, column_type(schema, f"after.{name}", binary_mode), _PLACEHOLDERS.get(str(schema.get("type")), ()))
        for name, schema in fields
    )


def _build_plan(schema: Any, family: Family, binary_mode: BinaryMode) -> Plan:
    fields = {f.get("field"): f for f in schema.get("fields", ())} if isinstance(schema, dict) else {}
    row = fields.get("after") or fields.get("before") or {}
    if family == "mongodb":  # after/before are extended JSON strings, typed from their values
        return Plan((), is_envelope="op" in fields)
    if family == "cassandra":
        cells = [f for f in row.get("fields", ()) if not cassandra.is_range_field(f["field"])]
        pairs = [(f["field"], cassandra.value_schema(f, f["field"])) for f in cells]
    else:
        pairs = [(f["field"], f) for f in row.get("fields", ())]
    return Plan(_columns(pairs, binary_mode), is_envelope="op" in fields)


def declared_plan(declared: Mapping[str, ConnectSchema | str], binary_mode: BinaryMode) -> Plan:
    """A plan for schemaless events from a declared table schema: column -> Connect field schema or shorthand.

    Shorthands: a Connect type (`int64`, `string`, `bytes`, ...), a logical name with one physical type
    (`io.debezium.time.MicroTimestamp`), or `decimal(p,s)` for Connect Decimal (base64 unscaled bytes).
    """
    return Plan(_columns([(name, _declared_field(name, spec)) for name, spec in declared.items()], binary_mode), True)


def _declared_field(name: str, spec: ConnectSchema | str) -> ConnectSchema:
    if not isinstance(spec, str):
        return spec
    if spec in CONNECT_TYPES:
        return {"type": spec}
    if spec in LOGICAL_TYPES and len(LOGICAL_TYPES[spec]) == 1:
        return {"type": next(iter(LOGICAL_TYPES[spec])), "name": spec}
    if spec.startswith("decimal(") and spec.endswith(")"):
        precision, _, scale = spec[8:-1].partition(",")
        parameters = {"scale": scale.strip() or "0", "connect.decimal.precision": precision.strip()}
        return {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": parameters}
    valid = sorted([*CONNECT_TYPES, *LOGICAL_TYPES, "decimal(p,s)"])
    raise ValueError(f"declared type {spec!r} of column {name!r} is not a type. Valid values are: {valid}")


@dataclass
class PlanCache:
    """Plans by value-schema bytes for one (family, binary mode); `hint` is the last schema seen."""

    family: Family
    binary_mode: BinaryMode
    plans: dict[bytes, Plan | CdcError] = field(default_factory=dict)
    hint: bytes = b""

    LIMIT = 1024  # schemas seen by one process; cleared wholesale when exceeded, churn is rare

    def plan_for(self, schema_bytes: bytes, schema: Any = _UNPARSED) -> Plan | None:
        entry = self.plans.get(schema_bytes)
        if entry is None:
            parsed = _JSON.decode(schema_bytes) if schema is _UNPARSED else schema
            if parsed is None:
                return None
            try:
                entry = _build_plan(parsed, self.family, self.binary_mode)
            except CdcError as exc:  # remembered too: every message with this schema fails the same way
                entry = exc
            if len(self.plans) >= self.LIMIT:
                self.plans.clear()
            self.plans[schema_bytes] = entry
        if isinstance(entry, CdcError):
            raise entry.with_traceback(None)
        return entry

    def split(self, raw: bytes) -> tuple[bytes, bytes] | None:
        """(schema, payload) bytes of a compact JsonConverter record, found without parsing.

        `,"payload":` cannot occur inside a JSON string (its quotes would be escaped): its first occurrence
        ends the schema, unless the schema has a `payload` key; that slice is not valid JSON and the caller
        parses in full. Returning the hint object (its hash is cached) spares rehashing kilobytes per message.
        """
        if raw.startswith(b'{"schema":') and raw.endswith(b"}"):
            known = self.hint
            end = 10 + len(known)
            if known and raw.startswith(known, 10) and raw.startswith(b',"payload":', end):
                return known, raw[end + 11 : -1]
            cut = raw.find(b',"payload":')
            if cut > 0:
                return raw[10:cut], raw[cut + 11 : -1]
        return None

    def parse_value(self, raw: bytes) -> tuple[Plan | None, Any]:
        parts = self.split(raw)
        if parts is not None:
            try:
                plan = self.plan_for(parts[0])
            except JsonError:
                pass  # not a whole schema: the split guessed wrong
            else:
                self.hint = parts[0]
                return plan, _JSON.decode(parts[1])
        document = _JSON.decode(raw)
        if document.__class__ is dict and len(document) == 2 and "schema" in document and "payload" in document:
            return self.plan_for(msgspec.json.encode(document["schema"]), document["schema"]), document["payload"]
        return None, document


_CACHES: dict[tuple[Family, BinaryMode], PlanCache] = {}


def plan_cache(family: Family, binary_mode: BinaryMode) -> PlanCache:
    cache = _CACHES.get((family, binary_mode))
    if cache is None:
        cache = _CACHES[family, binary_mode] = PlanCache(family, binary_mode)
    return cache


def parse_key(raw: bytes) -> tuple[Any, Any]:
    """(schema, payload) of a Kafka key, parsed whole: keys are small and read once per batch or delete."""
    document = _JSON.decode(raw)
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["schema"], document["payload"]
    return None, document


def control_reason(payload: Mapping[str, Any]) -> str | None:
    """Why an event without `op` is no row change, or None when it should have had one."""
    if payload.keys() == {"ts_ms"}:
        return "heartbeat"
    status = payload.get("status")
    if status in ("BEGIN", "END"):
        return f"transaction {status}"
    if "ddl" in payload or "tableChanges" in payload:
        return "schema change"
    return None


@dataclass(frozen=True)
class Reader:
    """Everything that decoding one message of a batch needs, resolved once per batch."""

    kind: str
    family: Family
    position_of: PositionEncoder
    cache: PlanCache
    declared: Plan | None

    @classmethod
    def for_kind(cls, kind: str, binary_mode: BinaryMode, declared: Plan | None) -> Reader:
        position_of = POSITION_ENCODERS.get(kind)
        if position_of is None:
            valid = sorted(POSITION_ENCODERS)
            raise ValueError(f"{kind!r} is not a valid source kind. Valid values are: {valid}")
        family = FAMILIES[kind]
        return cls(kind, family, position_of, plan_cache(family, binary_mode), declared)


def _fail(message: RawMessage, text: str) -> DecodeError:
    return DecodeError(text, topic=message.topic, offset=message.offset)


def read_event(index: int, message: RawMessage, reader: Reader) -> Event | str:
    """The message's change event, or the reason it is no row change (heartbeat, marker, ...)."""
    try:
        plan, payload = reader.cache.parse_value(message.value or b"")
    except JsonError as exc:
        raise _fail(message, f"value is not JSON ({exc})") from None
    if payload.__class__ is not dict:
        raise _fail(message, f"payload is {type(payload).__name__}, not an object")
    op = payload.get("op")
    if op is None:
        reason = control_reason(payload)
        if reason is not None:
            return reason
        raise _fail(message, "event has no 'op': expected the full Debezium envelope, not a flattened record")
    if plan is not None and not plan.is_envelope:
        raise _fail(message, "the value schema is not a Debezium change-event envelope")
    source = payload.get("source")
    if source.__class__ is not dict:
        raise _fail(message, "event has no 'source' block")
    try:
        if reader.family == "relational":
            if op == "c" or op == "u" or op == "r":
                row = payload.get("after")
            elif op == "d":
                row = payload.get("before")
                if row is None:  # REPLICA IDENTITY NOTHING: only the Kafka key says which row went
                    row = parse_key(message.key)[1] if message.key else _EMPTY_ROW
            elif op == "t":
                row = _EMPTY_ROW
            elif op == "m":  # pg_logical_emit_message
                return "logical decoding message"
            else:
                raise DecodeError(f"{op!r} is not a valid op. Valid values are: ['c', 'd', 'r', 't', 'u']")
            if row.__class__ is not dict:
                raise DecodeError(f"op {op!r} event has no row object ({type(row).__name__})")
            partial = False
        elif reader.family == "mongodb":
            plan = None
            op, row, partial = _mongodb_row(op, payload, message)
        else:
            op, row, partial = cassandra.row_of(payload, is_snapshot(source))
        position = reader.position_of(source, payload.get("transaction"))
    except DecodeError as exc:
        raise _fail(message, str(exc)) from None
    if plan is None:
        plan = reader.declared
    return (index, plan, op, position, commit_micros(reader.kind, source), row, partial)


def _mongodb_row(op: str, payload: Mapping[str, Any], message: RawMessage) -> tuple[str, dict[str, Any], bool]:
    after, before = payload.get("after"), payload.get("before")
    if op in ("c", "r"):
        return op, mongodb.parse_document(after, "after"), False
    if op == "u":
        if after is not None:
            return op, mongodb.parse_document(after, "after"), False
        return op, mongodb.update_row(payload.get("updateDescription"), _mongodb_key(message)), True
    if op == "d":
        if before is not None:  # capture.mode=*_with_pre_image
            return op, mongodb.parse_document(before, "before"), False
        return op, {mongodb.ID: _mongodb_key(message)}, False
    raise DecodeError(f"{op!r} is not a valid MongoDB op. Valid values are: ['c', 'd', 'r', 'u']")


def _mongodb_key(message: RawMessage) -> Any:
    if message.key is None:
        raise DecodeError("MongoDB event has no Kafka key, so the document's _id is unknown")
    return mongodb.key_id(parse_key(message.key)[1])


class _Careful(Exception):
    """The hot loop met something it does not handle; read_event takes the message from the start."""


class _HotSource(msgspec.Struct):
    sequence: str
    snapshot: str | bool | None = None
    ts_us: int | None = None
    ts_ms: int | None = None


class _HotEnvelope(msgspec.Struct):
    """The fields of a PostgreSQL insert/update the hot loop reads; msgspec skips the rest unparsed."""

    op: str
    source: _HotSource
    after: dict[str, Any] | None = None


_HOT = msgspec.json.Decoder(_HotEnvelope)
_MAX_LSN = "18446744073709551615"


def _lsn_text(text: str) -> str:
    """A decimal LSN padded to 20 digits, as ordering.postgres_position writes it; raises if not one."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or (len(text) == 20 and text > _MAX_LSN):
        raise _Careful
    return text.zfill(20)


def read_events(
    messages: Sequence[RawMessage], reader: Reader
) -> tuple[list[Event], dict[int, DeadLetter], list[Ignored]]:
    """Every message's event, dead letter or reason to ignore it, in input order.

    PostgreSQL inserts and updates take a hot loop: msgspec decodes only the fields it needs, and the
    position is the two LSNs of `source.sequence` padded, with no number conversion. Every other message
    (snapshot rows, deletes, control messages, other sources, anything odd) is read by read_event, which
    raises with the reason. Both produce the same event for a well-formed message (tested on recordings).
    """
    events: list[Event] = []
    letters: dict[int, DeadLetter] = {}
    ignored: list[Ignored] = []
    hot = reader.kind == "postgres"
    cache, declared, decode = reader.cache, reader.declared, _HOT.decode
    for index, message in enumerate(messages):
        value = message.value
        if value is None:  # the Kafka tombstone after a delete: the delete event already said it all
            ignored.append(Ignored(message.topic, message.partition, message.offset, "tombstone"))
            continue
        if hot:
            try:
                plan, header = None, b""
                if value.startswith(b'{"schema":'):
                    parts = cache.split(value)
                    if parts is None:
                        raise _Careful
                    header, value = parts
                    plan = cache.plan_for(header)
                envelope = decode(value)
                op, row, source = envelope.op, envelope.after, envelope.source
                if (op != "u" and op != "c") or row is None or source.snapshot not in _NOT_SNAPSHOT:
                    raise _Careful
                if plan is not None:
                    if not plan.is_envelope:
                        raise _Careful
                    cache.hint = header
                lsns = source.sequence.split('"')
                if len(lsns) != 5 or lsns[0] != "[" or lsns[2] != "," or lsns[4] != "]":
                    raise _Careful
                ts = source.ts_us
                if ts is None and source.ts_ms is not None:
                    ts = source.ts_ms * 1000
                position = _lsn_text(lsns[1]) + _lsn_text(lsns[3])
                events.append((index, declared if plan is None else plan, op, position, ts, row, False))
                continue
            except Exception:  # noqa: BLE001, S112 - read carefully below, which names what is wrong
                pass
        try:
            event = read_event(index, message, reader)
        except Exception as exc:  # noqa: BLE001 - one poison message must not stop the batch
            letters[index] = DeadLetter.from_failed_decode(message, exc)
            continue
        if isinstance(event, str):
            ignored.append(Ignored(message.topic, message.partition, message.offset, event))
        else:
            events.append(event)
    return events, letters, ignored
