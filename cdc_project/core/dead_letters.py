"""Dead letters: messages the pipeline could not decode, type, evolve into the table or write.

A dead letter keeps the raw key and value bytes, so it can be replayed once the cause is fixed, and the
stage it failed at, so an operator knows where to look. They land in the lake's dead-letter table
(`lake.dead_letter_table`) with DEAD_LETTER_SCHEMA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from cdc_project.core.errors import UnknownTypeError, ValueConversionError

if TYPE_CHECKING:  # events.py imports this module; RawMessage is only needed for annotations here
    from cdc_project.core.events import RawMessage

Stage = Literal["decode", "type", "schema", "write"]

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("error_class", pa.string(), nullable=False),
        pa.field("error_message", pa.string(), nullable=False),
        pa.field("table", pa.string()),
        # The sink that refused the message (schema, write); null when no sink could take it (decode, type).
        pa.field("sink", pa.string()),
        pa.field("failed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class DeadLetter:
    """One message that did not make it into its table, with the raw bytes needed to replay it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    stage: Stage
    error_class: str
    error_message: str
    table: str | None = None
    sink: str | None = None
    failed_at: datetime = field(default_factory=_now)

    @classmethod
    def _from(
        cls, message: RawMessage, exc: BaseException, stage: Stage, table: str | None, sink: str | None = None
    ) -> DeadLetter:
        return cls(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            stage=stage,
            error_class=type(exc).__name__,
            error_message=str(exc),
            table=table,
            sink=sink,
        )

    @classmethod
    def from_failed_decode(
        cls, message: RawMessage, exc: BaseException, table: str | None = None
    ) -> DeadLetter:
        """Unreadable envelope -> stage "decode"; a type without mapping or a bad value -> stage "type"."""
        stage: Stage = "type" if isinstance(exc, (UnknownTypeError, ValueConversionError)) else "decode"
        return cls._from(message, exc, stage, table)

    @classmethod
    def from_schema_change(
        cls, message: RawMessage, exc: BaseException, table: str | None = None, sink: str | None = None
    ) -> DeadLetter:
        """The event's schema cannot be reconciled with the table's (or with later events in its batch)."""
        return cls._from(message, exc, "schema", table, sink)

    @classmethod
    def from_failed_write(
        cls, message: RawMessage, exc: BaseException, table: str | None = None, sink: str | None = None
    ) -> DeadLetter:
        """The sink refused the row (e.g. a constraint in a PostgreSQL sink)."""
        return cls._from(message, exc, "write", table, sink)


def to_arrow(letters: Sequence[DeadLetter]) -> pa.Table:
    """Dead letters as a table with DEAD_LETTER_SCHEMA, ready to append to the dead-letter table."""
    columns = {name: [getattr(letter, name) for letter in letters] for name in DEAD_LETTER_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=DEAD_LETTER_SCHEMA)
