"""Canonical forms of column values, so a PostgreSQL source and a lake table hash equal when their data is.

Reconciliation hashes rows in two engines (PostgreSQL SQL, DuckDB over Delta/Arrow) and must not see
representation differences as drift. Each source column gets a `Canon` from its PostgreSQL type (a dispatch
table; an unknown type is refused), and every canon has one canonical text, produced in SQL by
`core/hash_sql.py` and, as the final authority on rows whose hashes differ, by `normalize` here:

  integer    decimal digits                     decimal    digits without trailing fractional zeros
  real/float shortest round-trip text           boolean    'true' / 'false'
  text       as is; char(n) without pad         uuid/bytes lowercase hex text
  date       days since 1970-01-01              timestamp  microseconds since the epoch (UTC instant:
  time       microseconds since midnight                   the zone a value is written in is irrelevant)
  json       sorted keys, compact, numbers      array      JSON array of canonical elements
             without trailing zeros

The SQL texts make timestamp zones and decimal scale hash equal. JSON key order, float spelling and array
element spelling may still hash differently across engines; such rows are then compared column by column
with `normalize`, which is exact, so they cost extra work but are never reported as drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cdc_project.core.errors import UnsupportedReconcileTypeError

Canon = Literal[
    "integer",
    "decimal",
    "real",
    "float",
    "boolean",
    "text",
    "char",
    "uuid",
    "bytes",
    "date",
    "timestamp",
    "time",
    "json",
    "array",
]
# Canons whose text can contain the row separator: length-prefixed in the row text (core/hash_sql.py).
FREE_TEXT: frozenset[Canon] = frozenset({"text", "char"})
# Canons a key range can be ordered by identically in PostgreSQL and DuckDB.
ORDERABLE_KEYS: frozenset[Canon] = frozenset({"integer", "decimal", "text", "uuid", "date", "timestamp"})

_PG_TYPES: dict[str, Canon] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid"), "integer"),
    "numeric": "decimal",
    "float4": "real",
    "float8": "float",
    "bool": "boolean",
    **dict.fromkeys(
        (
            "text",
            "varchar",
            "name",
            "citext",
            "inet",
            "cidr",
            "macaddr",
            "macaddr8",
            "xml",
            "ltree",
            "bit",
            "varbit",
        ),
        "text",
    ),
    "bpchar": "char",
    "uuid": "uuid",
    "bytea": "bytes",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamp",
    "time": "time",
    "json": "json",
    "jsonb": "json",
}


@dataclass(frozen=True)
class CanonicalColumn:
    """One compared column: its name, canon and (arrays) the canon of its elements."""

    name: str
    canon: Canon
    element: Canon | None = None


def canon_for_pg_type(
    column: str,
    type_name: str,
    *,
    is_enum: bool = False,
    element: str | None = None,
    element_is_enum: bool = False,
) -> CanonicalColumn:
    """The canon of a PostgreSQL column from its catalog type name (a domain resolved to its base)."""
    if element is not None:
        inner = canon_for_pg_type(column, element, is_enum=element_is_enum)
        if inner.canon == "array":
            raise UnsupportedReconcileTypeError(column, f"{type_name} (nested array)")
        return CanonicalColumn(column, "array", inner.canon)
    if is_enum:
        return CanonicalColumn(column, "text")
    canon = _PG_TYPES.get(type_name)
    if canon is None:
        raise UnsupportedReconcileTypeError(column, type_name)
    return CanonicalColumn(column, canon)


def _decimal_text(value: Decimal) -> str:
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _decimal(text: str) -> str:
    try:
        return _decimal_text(Decimal(text))
    except InvalidOperation:
        return text  # not a number: compared as written, so it differs from any number


def _float(text: str) -> str:
    try:
        return repr(float(text))  # 'NaN', 'Infinity', 'inf', '1e+20' and '1e20' all parse
    except ValueError:
        return text


def _dump(value: Any) -> str:
    """Compact JSON with sorted keys; numbers are Decimals written without trailing zeros."""
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return json.dumps(value, ensure_ascii=False)  # strings, true, false, null


def _parse(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def canonical_json(text: str) -> str:
    """Sorted keys, no whitespace, numbers without trailing zeros; a later duplicate key wins, as in jsonb."""
    try:
        return _dump(_parse(text))
    except ValueError:
        return text


_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _element(value: Any, canon: Canon) -> Any:
    """One array element, parsed from either engine's JSON rendering, in canonical form."""
    if value is None:
        return None
    if canon in ("date", "timestamp") and isinstance(value, str):
        return _temporal_element(value, canon)
    if canon in ("decimal", "integer") and isinstance(value, Decimal):
        return _decimal_text(value)
    if canon in ("real", "float"):
        return _float(str(value))
    if canon in ("uuid", "bytes") and isinstance(value, str):
        return value.lower()
    return value


def _temporal_element(text: str, canon: Canon) -> str:
    try:
        if canon == "date":
            return str((date.fromisoformat(text[:10]) - _EPOCH_DATE).days)
        parsed = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # timestamp without zone: the nominal instant, as in SQL
    delta = parsed - _EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def canonical_array(text: str, element: Canon) -> str:
    try:
        parsed = _parse(text)
    except ValueError:
        return text
    if not isinstance(parsed, list):
        return text
    return _dump([_element(v, element) for v in parsed])


def normalize(text: str | None, column: CanonicalColumn) -> str | None:
    """The exact canonical text of one value as either engine's SQL rendered it (None stays None)."""
    if text is None:
        return None
    canon = column.canon
    if canon in ("integer", "decimal"):
        return _decimal(text)
    if canon in ("real", "float"):
        return _float(text)
    if canon == "boolean":
        return {"t": "true", "f": "false"}.get(text.lower(), text.lower())
    if canon == "char":
        return text.rstrip(" ")
    if canon in ("uuid", "bytes"):
        return text.lower()
    if canon == "json":
        return canonical_json(text)
    if canon == "array":
        return canonical_array(text, column.element or "text")
    return text
