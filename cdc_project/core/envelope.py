"""One Kafka message -> one change event (or the reason it is no change), for every Debezium source family.

Reads the JsonConverter envelope (`before`, `after`, `source`, `op`, `transaction`) with schemas.enable true
or false. The row is family specific: relational connectors (PostgreSQL, MySQL, MariaDB) send column values,
MongoDB sends extended JSON strings (core/mongodb.py), Cassandra sends cells (core/cassandra.py). Heartbeats,
transaction BEGIN/END markers, schema-change events and PostgreSQL logical decoding messages are no change:
they come back as a reason string. Anything unreadable raises DecodeError naming the field and the message.

Speed: value schemas become cached plans (core/plans.py); a batch is read by core/hot_loop.py, which takes
PostgreSQL inserts and updates fast and hands every other message to `read_event`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdc_project.core import cassandra, mongodb
from cdc_project.core.errors import DecodeError
from cdc_project.core.ordering import POSITION_ENCODERS, PositionEncoder, commit_micros, is_snapshot
from cdc_project.core.plans import FAMILIES, JSON, Family, JsonError, Plan, PlanCache, plan_cache
from cdc_project.core.type_mapping import BinaryMode

if TYPE_CHECKING:
    from cdc_project.core.events import RawMessage

_EMPTY_ROW: dict[str, Any] = {}  # a truncate's row; shared, never mutated
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


def parse_key(raw: bytes) -> tuple[Any, Any]:
    """(schema, payload) of a Kafka key, parsed whole: keys are small and read once per batch or delete."""
    document = JSON.decode(raw)
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
        if family == "mongodb":  # BSON values carry their own types; a declared schema has nothing to add
            declared = None
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
    except (DecodeError, JsonError) as exc:  # JsonError: an unreadable Kafka key
        raise _fail(message, str(exc)) from None
    if plan is None:
        plan = reader.declared
    return (index, plan, op, position, commit_micros(reader.kind, source), row, partial)


def _mongodb_row(
    op: str, payload: Mapping[str, Any], message: RawMessage
) -> tuple[str, dict[str, Any], bool]:
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
