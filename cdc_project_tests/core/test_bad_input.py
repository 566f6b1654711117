"""Bad input never raises out of a batch: each bad message is a dead letter whose reason says what and where.

Each case edits one recorded (PostgreSQL) or documented (MySQL, MongoDB, Cassandra) message and decodes it
between two good ones of the same file; the good ones must still decode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from cdc_project.config import SourceKind
from cdc_project.core.events import RawMessage, decode_batch
from cdc_project_tests.cases import load_case

Edit = Callable[[dict[str, Any]], Any]

FILES: dict[SourceKind, tuple[str, str]] = {
    "postgres": ("postgres/alltypes_default.jsonl", "rec.public.alltypes"),
    "mysql": ("mysql/inventory_customers.jsonl", "dbserver1.inventory.customers"),
    "mongodb": ("mongodb/inventory_customers.jsonl", "dbserver1.inventory.customers"),
    "cassandra": ("cassandra/inventory_customers.jsonl", "fulfillment.inventory.customers"),
}


def payload_edit(edit: Edit) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        document = orjson.loads(raw)
        edit(document["payload"])
        return orjson.dumps(document)

    return apply


def schema_edit(edit: Edit) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        document = orjson.loads(raw)
        after = next(f for f in document["schema"]["fields"] if f["field"] == "after")
        edit(after)
        return orjson.dumps(document)

    return apply


def _set(path: str, value: Any) -> Edit:
    *parents, leaf = path.split(".")

    def edit(payload: dict[str, Any]) -> None:
        for name in parents:
            payload = payload[name]
        payload[leaf] = value

    return edit


def _drop(name: str) -> Edit:
    return lambda payload: payload.pop(name)


def _unknown_logical(after: dict[str, Any]) -> None:
    after["fields"][1]["name"] = "com.example.Money"


BAD_CASES = [
    # (kind, how the message is broken, words its dead letter's reason must hold)
    ("postgres", lambda raw: raw[: len(raw) // 2], ["value is not JSON"]),  # truncated mid-message
    ("postgres", payload_edit(_drop("source")), ["no 'source' block"]),
    ("postgres", payload_edit(_drop("op")), ["no 'op'"]),
    ("postgres", payload_edit(_set("op", "x")), ["'x' is not a valid op", "Valid values are"]),
    ("postgres", payload_edit(_set("after", None)), ["op 'r' event has no row object"]),
    ("postgres", payload_edit(_set("source.sequence", "[1,2,3]")), ["source.sequence", "lastCommitLsn"]),
    ("postgres", payload_edit(lambda p: p["source"].update(sequence=None, lsn=-4)), ["source.lsn", "-4"]),
    ("postgres", schema_edit(_unknown_logical), ["com.example.Money", "type_mapping.py"]),
    ("postgres", payload_edit(_set("after.c_date", "not a day")), ["'c_date'", "not a day"]),
    ("mysql", payload_edit(_set("source.file", "binlog")), ["source.file", "binlog sequence number"]),
    ("mysql", payload_edit(_set("source.gtid", "uuid:abc")), ["source.gtid"]),
    (
        "mysql",
        payload_edit(_set("after.alarm", -3_600_000_000)),
        ["'alarm'", "outside one day"],
    ),  # TIME '-01:00'
    ("mongodb", payload_edit(_set("after", "{not extended json")), ["after is not extended JSON"]),
    ("mongodb", payload_edit(_set("after", '["a document?"]')), ["after is list, not a document"]),
    ("mongodb", payload_edit(_set("op", "t")), ["'t' is not a valid MongoDB op"]),
    ("mongodb", payload_edit(_set("source.ord", None)), ["source.ord is missing"]),
    ("cassandra", payload_edit(_set("op", "z")), ["'z' is not a valid Cassandra op"]),
    ("cassandra", payload_edit(_set("after.email", 42)), ["after.email is 42, not a cell"]),
    ("cassandra", payload_edit(_set("source.file", "x.log")), ["source.file", "commit log segment"]),
]


@pytest.mark.parametrize(("kind", "breaks", "words"), BAD_CASES)
def test_decode_batch_bad_message_is_a_dead_letter_naming_what_and_where(
    kind: SourceKind, breaks: Callable[[bytes], bytes], words: list[str]
) -> None:
    case, topic = FILES[kind]
    good = [m for m in load_case(case) if m.topic == topic and m.value is not None][:3]
    bad = dataclasses.replace(good[1], value=breaks(good[1].value or b""))
    batch = decode_batch([good[0], bad, good[2]], source_kind=kind)
    assert batch.rows.num_rows == 2
    [letter] = batch.dead_letters
    assert letter.offset == bad.offset and letter.value == bad.value  # the raw bytes, for a replay
    assert all(word in letter.error_message for word in words), letter.error_message
    assert f"@{bad.offset}" in letter.error_message or letter.stage == "type"


def test_decode_batch_non_object_payloads_are_dead_letters() -> None:
    messages = [RawMessage("t", 0, i, None, raw) for i, raw in enumerate([b"[]", b"42", b'"text"', b"null"])]
    batch = decode_batch(messages, source_kind="postgres")
    assert [letter.offset for letter in batch.dead_letters] == [0, 1, 2, 3]
    assert all("payload is" in letter.error_message for letter in batch.dead_letters)


def test_decode_batch_unreadable_key_of_a_delete_without_before_names_the_message() -> None:
    case, topic = FILES["mongodb"]
    delete = next(m for m in load_case(case) if m.topic == topic and m.value and b'"op":"d"' in m.value)
    batch = decode_batch([dataclasses.replace(delete, key=b"{not json")], source_kind="mongodb")
    [letter] = batch.dead_letters
    assert f"{topic}@{delete.offset}" in letter.error_message
