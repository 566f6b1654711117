"""Kafka messages as JSON lines: the input of `cdc apply` and `cdc decode`, and how incidents are replayed.

One object per line: `{"topic", "partition", "offset", "key", "value"}`. `key` and `value` are the
message's JSON (an object, or null for a Kafka tombstone); a JSON *string* is taken as the message's text
(how the recorded cases under cdc_project_tests/cases store it); `"key_b64"`/`"value_b64"` carry raw bytes
that are not JSON (a poison message is replayed byte for byte). A missing partition is 0 and a missing
offset counts up per topic and partition in file order, as a broker would number them (Debezium's embedded
engine, which recorded the cases, assigns none). `timestamp` (ms) is optional.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cdc_project.core.errors import MessageFileError
from cdc_project.core.events import RawMessage

if TYPE_CHECKING:  # core stays importable without pydantic, which cdc_project.config pulls in
    from cdc_project.config import SourceKind

_JSON = msgspec.json.Decoder()
_ENCODE = msgspec.json.Encoder()

# Debezium's `source.connector` -> the pipeline's source kind.
CONNECTOR_KINDS: dict[str, SourceKind] = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "mongodb": "mongodb",
    "cassandra": "cassandra",
}


class MessageLines:
    """Parses lines one by one, numbering offsets that a line leaves out."""

    def __init__(self, source: str) -> None:
        self.source = source  # a file name or `<stdin>`, for errors
        self._next_offset: dict[tuple[str, int], int] = {}

    def parse(self, text: str, number: int) -> RawMessage:
        where = (self.source, number)
        try:
            record = _JSON.decode(text)
        except msgspec.DecodeError as exc:
            raise MessageFileError(*where, f"not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise MessageFileError(*where, f"a JSON {type(record).__name__}, not an object")
        topic = record.get("topic")
        if not isinstance(topic, str) or not topic:
            raise MessageFileError(*where, f"topic {topic!r} is not a topic name")
        partition = 0 if record.get("partition") is None else record["partition"]
        offset = record.get("offset")
        offset = self._next_offset.get((topic, partition), 0) if offset is None else offset
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (partition, offset)):
            raise MessageFileError(*where, f"partition {partition!r} and offset {offset!r} must be integers >= 0")
        self._next_offset[topic, partition] = offset + 1
        timestamp = record.get("timestamp")
        return RawMessage(
            topic=topic,
            partition=partition,
            offset=offset,
            key=_bytes(record, "key", where),
            value=_bytes(record, "value", where),
            timestamp_ms=timestamp if isinstance(timestamp, int) else None,
        )


def _bytes(record: dict[str, Any], field: str, where: tuple[str, int]) -> bytes | None:
    raw_field = f"{field}_b64"
    if record.get(raw_field) is not None:
        try:
            return base64.b64decode(record[raw_field], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise MessageFileError(*where, f"{raw_field} is not base64 ({exc})") from None
    value = record.get(field)
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else _ENCODE.encode(value)


def parse_lines(lines: Iterable[str], source: str) -> Iterator[RawMessage]:
    """Every non-blank line of `source`, in order; the first malformed line raises MessageFileError."""
    reader = MessageLines(source)
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield reader.parse(text, number)


def source_block(message: RawMessage) -> Mapping[str, Any]:
    """The Debezium `source` block of a change message (schemas on or off); {} when it has none."""
    try:
        document = _JSON.decode(message.value or b"null")
    except msgspec.DecodeError:
        return {}
    if isinstance(document, dict) and "payload" in document and "schema" in document:
        document = document["payload"]
    source = document.get("source") if isinstance(document, dict) else None
    return source if isinstance(source, dict) else {}


def connector_kind(messages: Sequence[RawMessage]) -> SourceKind | None:
    """The source kind the first message naming its Debezium connector names; None if none does."""
    for message in messages:
        kind = CONNECTOR_KINDS.get(str(source_block(message).get("connector")))
        if kind is not None:
            return kind
    return None
