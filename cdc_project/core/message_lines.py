"""Kafka messages as JSON lines: the input of `cdc apply` and `cdc decode`, and how incidents are replayed.

One object per line: `{"topic", "partition", "offset", "key", "value"}`, where `key` and `value` are the
message's JSON (an object, or null for a Kafka tombstone), or `"key_b64"`/`"value_b64"` for raw bytes that
are not JSON (a poison message is replayed byte for byte). `timestamp` (ms) is optional.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from cdc_project.core.errors import MessageFileError
from cdc_project.core.events import RawMessage


def _bytes(record: dict[str, Any], field: str, where: tuple[str, int]) -> bytes | None:
    raw_field = f"{field}_b64"
    if raw_field in record:
        try:
            return base64.b64decode(record[raw_field], validate=True)
        except (ValueError, TypeError) as exc:
            raise MessageFileError(*where, f"{raw_field} is not base64 ({exc})") from None
    value = record.get(field)
    return None if value is None else orjson.dumps(value)

def parse_line(text: str, where: tuple[str, int]) -> RawMessage:
    """One line -> RawMessage; `where` is (file name, line number) for the error."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MessageFileError(*where, f"not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise MessageFileError(*where, f"a JSON {type(record).__name__}, not an object")
    missing = [f for f in ("topic", "partition", "offset") if f not in record]
    if missing:
        raise MessageFileError(*where, f"missing {missing}")
    topic, partition, offset = record["topic"], record["partition"], record["offset"]
    if not isinstance(topic, str) or not topic:
        raise MessageFileError(*where, f"topic {topic!r} is not a topic name")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (partition, offset)):
        raise MessageFileError(*where, f"partition {partition!r} and offset {offset!r} must be integers >= 0")
    timestamp = record.get("timestamp")
    return RawMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        key=_bytes(record, "key", where),
        value=_bytes(record, "value", where),
        timestamp_ms=timestamp if isinstance(timestamp, int) else None,
    )

def parse_lines(lines: Iterable[str], source: str) -> Iterator[RawMessage]:
    """Every non-blank line of `source` (a file name or `<stdin>`), in order."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield parse_line(text, (source, number))
