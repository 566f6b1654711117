"""Value schema -> plan: how to type the rows of one Debezium value schema (or a declared table schema).

JsonConverter repeats the schema in every message; its bytes are sliced off unparsed and key a cache of
plans per source family and binary.handling.mode, so only payloads are parsed (see `PlanCache.parse_value`).
A plan maps each row field through the Connect dispatch table (core/type_mapping.py) and knows the shapes
Debezium's unavailable-value placeholder takes in that field's Connect type.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import pyarrow as pa

from cdc_project.core import cassandra
from cdc_project.core.errors import CdcError
from cdc_project.core.type_mapping import (
    CONNECT_TYPES,
    LOGICAL_TYPES,
    BinaryMode,
    ColumnType,
    ConnectSchema,
    column_type,
)

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
_B64_PLACEHOLDER = base64.b64encode(PLACEHOLDER.encode()).decode()
_PLACEHOLDERS: dict[str, tuple[Any, ...]] = {
    "string": (PLACEHOLDER,),
    "bytes": (_B64_PLACEHOLDER,),
    "array": ([PLACEHOLDER], list(PLACEHOLDER.encode()), ["b68a35a7-17ad-35b3-af2a-ae46edb4545a"]),
}
# bytea under binary.handling.mode=base64/hex: a Connect string holding the placeholder's bytes so encoded
_BINARY_TEXT_PLACEHOLDERS = (_B64_PLACEHOLDER, PLACEHOLDER.encode().hex(), _B64_PLACEHOLDER.replace("+", "-"))
SCHEMALESS_PLACEHOLDERS = (PLACEHOLDER, [PLACEHOLDER], _B64_PLACEHOLDER)
_UNPARSED = object()
# msgspec rather than orjson: integers beyond 64 bits (decimal.format=NUMERIC) stay exact instead of floats
JSON = msgspec.json.Decoder()
JsonError = msgspec.MsgspecError


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


def _column(name: str, schema: ConnectSchema, binary_mode: BinaryMode) -> PlanColumn:
    mapped = column_type(schema, f"after.{name}", binary_mode)
    connect_type = str(schema.get("type"))
    if connect_type == "string" and mapped.arrow == pa.binary():
        return PlanColumn(name, mapped, _BINARY_TEXT_PLACEHOLDERS)
    return PlanColumn(name, mapped, _PLACEHOLDERS.get(connect_type, ()))


def _columns(fields: list[tuple[str, ConnectSchema]], binary_mode: BinaryMode) -> tuple[PlanColumn, ...]:
    return tuple(_column(name, schema, binary_mode) for name, schema in fields)


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
    return Plan(
        _columns([(name, _declared_field(name, spec)) for name, spec in declared.items()], binary_mode), True
    )


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
            parsed = JSON.decode(schema_bytes) if schema is _UNPARSED else schema
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
                return plan, JSON.decode(parts[1])
        document = JSON.decode(raw)
        if (
            document.__class__ is dict
            and len(document) == 2
            and "schema" in document
            and "payload" in document
        ):
            return self.plan_for(msgspec.json.encode(document["schema"]), document["schema"]), document[
                "payload"
            ]
        return None, document


_CACHES: dict[tuple[Family, BinaryMode], PlanCache] = {}


def plan_cache(family: Family, binary_mode: BinaryMode) -> PlanCache:
    cache = _CACHES.get((family, binary_mode))
    if cache is None:
        cache = _CACHES[family, binary_mode] = PlanCache(family, binary_mode)
    return cache
