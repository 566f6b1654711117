"""core/dead_letters.py: the named constructors pick the stage, and to_arrow keeps the raw bytes."""

from __future__ import annotations

import dataclasses
from datetime import timezone

import pyarrow as pa
import pytest

from cdc_project.core.dead_letters import DEAD_LETTER_SCHEMA, DeadLetter, to_arrow
from cdc_project.core.errors import DecodeError, SchemaChangeError, UnknownTypeError, ValueConversionError
from cdc_project.core.events import RawMessage

MESSAGE = RawMessage(topic="shop.public.t", partition=2, offset=41, key=b'{"id":1}', value=b"not json {")


@pytest.mark.parametrize(
    ("exc", "stage"),
    [
        (DecodeError("value is not JSON"), "decode"),
        (ValueError("anything unexpected"), "decode"),
        (UnknownTypeError("int64", "com.example.Money", "after.price"), "type"),  # fixable by a mapping
        (ValueConversionError("after.n", "x", "int32", "bad"), "type"),  # the value, not the envelope
    ],
)
def test_from_failed_decode_picks_the_stage(exc: Exception, stage: str) -> None:
    letter = DeadLetter.from_failed_decode(MESSAGE, exc, table="public.t")
    assert letter.stage == stage
    assert letter.error_class == type(exc).__name__
    assert letter.error_message == str(exc)
    assert (letter.topic, letter.partition, letter.offset) == ("shop.public.t", 2, 41)
    assert (letter.key, letter.value, letter.table) == (MESSAGE.key, MESSAGE.value, "public.t")
    assert letter.failed_at.tzinfo == timezone.utc


@pytest.mark.parametrize(
    ("constructor", "stage"),
    [(DeadLetter.from_schema_change, "schema"), (DeadLetter.from_failed_write, "write")],
)
def test_named_constructors_set_their_stage(constructor: object, stage: str) -> None:
    exc = SchemaChangeError("public.t", "n", "int32", "string", "strict")
    letter = constructor(MESSAGE, exc)  # type: ignore[operator]
    assert letter.stage == stage
    assert letter.table is None


def test_dead_letter_is_frozen() -> None:
    letter = DeadLetter.from_failed_decode(MESSAGE, DecodeError("x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        letter.stage = "write"  # type: ignore[misc]


def test_to_arrow_has_exactly_the_dead_letter_schema() -> None:
    tombstone = dataclasses.replace(MESSAGE, key=None, value=None)
    letters = [
        DeadLetter.from_failed_decode(MESSAGE, DecodeError("bad")),
        DeadLetter.from_failed_write(tombstone, RuntimeError("sink down"), table="public.t"),
    ]
    table = to_arrow(letters)
    assert table.schema == DEAD_LETTER_SCHEMA
    assert table.column_names == (
        "topic partition offset key value stage error_class error_message table sink failed_at".split()
    )
    rows = table.to_pylist()
    assert rows[0]["value"] == b"not json {"
    assert rows[1]["key"] is None and rows[1]["table"] == "public.t" and rows[1]["stage"] == "write"
    assert rows[0]["failed_at"] == letters[0].failed_at


def test_to_arrow_empty_keeps_the_schema() -> None:
    table = to_arrow([])
    assert table.num_rows == 0
    assert table.schema == DEAD_LETTER_SCHEMA
    assert DEAD_LETTER_SCHEMA.field("failed_at").type == pa.timestamp("us", tz="UTC")
