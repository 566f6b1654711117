"""Decoded values as plain JSON, the way `cdc decode` shows what the pipeline makes of a message.

Decimals are exact strings, timestamps ISO-8601 UTC with microseconds and `Z`, dates `YYYY-MM-DD`, times
`HH:MM:SS.ffffff`, durations ISO-8601 seconds (`PT90.000000S`), bytes base64, UUIDs their canonical text
(already so in every decoded column), NaN and infinities the strings JSON lacks them as ("NaN",
"Infinity", "-Infinity"). Structs are objects, lists arrays, and maps objects when every key is a string,
else arrays of [key, value] pairs.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

_UTC = timezone.utc


def _timestamp(value: datetime) -> str:
    instant = value.astimezone(_UTC) if value.tzinfo is not None else value
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration(value: timedelta) -> str:
    micros = value // timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    return f"{sign}PT{seconds}.{fraction:06d}S"


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _list(value: list[Any]) -> Any:
    if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):  # an Arrow map
        if all(isinstance(k, str) for k, _ in value):
            return {k: render(v) for k, v in value}
        return [[render(k), render(v)] for k, v in value]
    return [render(item) for item in value]


_RENDERERS: dict[type, Callable[[Any], Any]] = {
    Decimal: lambda v: format(v, "f"),
    datetime: _timestamp,
    date: lambda v: v.isoformat(),
    time: lambda v: v.strftime("%H:%M:%S.%f"),
    timedelta: _duration,
    bytes: lambda v: base64.b64encode(v).decode(),
    float: _float,
    list: _list,
    dict: lambda v: {k: render(item) for k, item in v.items()},
}


def render(value: Any) -> Any:
    """One Python value from `pa.Array.to_pylist()` as a JSON-ready value."""
    if value is None:
        return None
    renderer = _RENDERERS.get(type(value))
    return value if renderer is None else renderer(value)


def qualified_table(source: Mapping[str, Any]) -> str | None:
    """`<database>.<schema or db>.<table>` from a Debezium source block, for every connector."""
    database = source.get("db") or source.get("keyspace")
    table = source.get("table") or source.get("collection")
    if database is None or table is None:
        return None
    return f"{database}.{source.get('schema') or database}.{table}"
