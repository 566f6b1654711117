"""core/events.py: decode_batch on recorded Debezium 3.6 events and on hand-written edge cases.

Recorded: cases/postgres/debezium_3_6_embedded.jsonl (snapshot, a two-event transaction, a delete and its
tombstone, ALTER TABLE ADD COLUMN, heartbeats, transaction metadata). Hand-written files beside it cover
poison messages, an unknown logical type, TOAST placeholders, schemas.enable=false and a truncate. A few
variations are built inline from recorded messages where a file per case would only repeat them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest

from cdc_project.core import columns as meta
from cdc_project.core.errors import KeyColumnsError, MixedTopicsError
from cdc_project.core.events import DecodedBatch, RawMessage, decode_batch
from cdc_project_tests.cases import load_case, load_postgres_case

RECORDED = load_postgres_case()
T_TOPIC = "shop.public.t"
T_MESSAGES = [m for m in RECORDED if m.topic != "shop.public.nopk"]


def decode(messages: list[RawMessage], **kwargs: Any) -> DecodedBatch:
    return decode_batch(messages, source_kind="postgres", **kwargs)


def edited(message: RawMessage, edit: Callable[[dict[str, Any]], None], **changes: Any) -> RawMessage:
    """A copy of a recorded message with its parsed value edited in place by `edit`."""
    document = orjson.loads(message.value or b"")
    edit(document)
    return dataclasses.replace(message, value=orjson.dumps(document), **changes)


@pytest.fixture(scope="module")
def t_batch() -> DecodedBatch:
    return decode(T_MESSAGES)


def test_decode_batch_recorded_values_decode_exactly(t_batch: DecodedBatch) -> None:
    snapshot = t_batch.rows.to_pylist()[0]
    assert snapshot["id"] == 1
    assert snapshot["n"] == Decimal("12.34")  # numeric(10,2)
    assert snapshot["v"] == "5.5"  # variable-scale numeric keeps its exact text
    assert snapshot["ts"] == datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc)
    assert snapshot["d"] == date(2026, 11, 22)
    assert snapshot["j"] == '{"a": [1, 2]}'
    assert snapshot["arr"] == [1, 2]
    assert snapshot["b"] is True
    assert snapshot["tx"] == "hi"
    assert snapshot["tm"] == time(12, 0, 1)
    # timestamp without time zone: its wall-clock reading as UTC, like every timestamp
    assert snapshot["tsn"] == datetime(2026, 11, 22, 14, 57, 9, 457559, tzinfo=timezone.utc)
    assert snapshot["u"] == "c88f116d-7161-4809-b188-582db688d324"


def test_decode_batch_recorded_arrow_types(t_batch: DecodedBatch) -> None:
    types = {field.name: field.type for field in t_batch.data_schema}
    assert types == {
        "id": pa.int32(),
        "n": pa.decimal128(10, 2),
        "v": pa.string(),
        "ts": pa.timestamp("us", tz="UTC"),
        "d": pa.date32(),
        "j": pa.string(),
        "arr": pa.list_(pa.int32()),
        "b": pa.bool_(),
        "tx": pa.string(),
        "tm": pa.time64("us"),
        "tsn": pa.timestamp("us", tz="UTC"),
        "u": pa.string(),
        "extra": pa.string(),  # added by ALTER TABLE in the middle of the recording
    }


def test_decode_batch_recorded_rows_and_meta(t_batch: DecodedBatch) -> None:
    rows = t_batch.rows
    assert rows.column_names == [*t_batch.data_schema.names, *(f.name for f in meta.META_FIELDS)]
    assert rows[meta.OP].to_pylist() == ["r", "u", "c", "d", "c", "u"]
    assert rows["id"].to_pylist() == [1, 1, 2, 2, 3, 3]
    assert rows["tx"].to_pylist() == ["hi", "a", None, None, None, "zz"]
    assert rows[meta.TOPIC].to_pylist() == [T_TOPIC] * 6
    assert rows[meta.PARTITION].to_pylist() == [0] * 6
    assert rows[meta.OFFSET].to_pylist() == [0, 1, 2, 3, 5, 6]  # offset 4 is the tombstone
    source_ts = datetime(2026, 11, 22, 14, 57, 14, 415570, tzinfo=timezone.utc)  # source.ts_us, in UTC
    assert rows[meta.SOURCE_TS].to_pylist()[0] == source_ts
    positions = rows[meta.POSITION].to_pylist()
    assert positions == sorted(positions)
    assert positions[0] == f"{26422064:020d}{0:020d}"  # snapshot row: the snapshot LSN, before any change
    assert positions[3] == f"{26700496:020d}{26700552:020d}"  # the delete
    assert meta.UNAVAILABLE not in rows.column_names


def test_decode_batch_recorded_schema_change_nulls_earlier_rows(t_batch: DecodedBatch) -> None:
    assert t_batch.data_schema.names[-1] == "extra"
    assert t_batch.rows["extra"].to_pylist() == [None, None, None, None, "e", "e"]


def test_decode_batch_recorded_skips_control_messages_and_tombstones(t_batch: DecodedBatch) -> None:
    heartbeats = sum(m.topic.startswith("__debezium-heartbeat") for m in T_MESSAGES)
    transactions = sum(m.topic == "shop.transaction" for m in T_MESSAGES)
    assert t_batch.skipped == heartbeats + transactions + 1  # + the tombstone after the delete
    assert t_batch.dead_letters == ()


def test_decode_batch_recorded_key_columns_follow_the_key_schema(t_batch: DecodedBatch) -> None:
    assert t_batch.key_columns == ("id",)
    nopk = decode([m for m in RECORDED if m.topic == "shop.public.nopk"])
    assert nopk.key_columns == ()
    assert nopk.rows.select(["a", "b"]).to_pylist() == [{"a": 1, "b": "x"}]


def test_decode_batch_key_override_wins() -> None:
    batch = decode(T_MESSAGES, key_override=["id", "tx"])
    assert batch.key_columns == ("id", "tx")


def test_decode_batch_key_override_naming_unknown_columns_raises() -> None:
    with pytest.raises(KeyColumnsError, match="missing_col"):
        decode(T_MESSAGES, key_override=["missing_col"])


def test_decode_batch_poison_messages_become_dead_letters() -> None:
    batch = decode(load_case("postgres/poison_messages.jsonl"))
    assert batch.rows["id"].to_pylist() == [10, 13]  # the rest of the batch decodes
    assert [(d.offset, d.stage, d.error_class) for d in batch.dead_letters] == [
        (1, "decode", "DecodeError"),  # not JSON
        (2, "decode", "DecodeError"),  # flattened record: no op
    ]
    assert batch.dead_letters[0].value == b"not json {"
    assert "no 'op'" in batch.dead_letters[1].error_message


def test_decode_batch_unknown_logical_type_is_a_type_dead_letter() -> None:
    batch = decode(load_case("postgres/unknown_logical_type.jsonl"))
    assert batch.rows["id"].to_pylist() == [20]
    [letter] = batch.dead_letters
    assert (letter.offset, letter.stage, letter.error_class) == (1, "type", "UnknownTypeError")
    assert "com.example.Money" in letter.error_message


@pytest.mark.parametrize(
    ("field", "bad_value"),
    [
        ("n", "!!not base64!!"),  # Decimal bytes that are not base64
        ("n", "AQAAAAAAAAAAAAAA"),  # a decimal beyond numeric(10,2)'s precision
        ("ts", "not a timestamp"),  # ZonedTimestamp that does not parse
        ("id", 2**40),  # int32 overflow
    ],
)
def test_decode_batch_unconvertible_value_dead_letters_only_its_event(field: str, bad_value: Any) -> None:
    def poison(document: dict[str, Any]) -> None:
        document["payload"]["after"][field] = bad_value

    messages = [T_MESSAGES[0], edited(T_MESSAGES[6], poison), T_MESSAGES[7]]
    batch = decode(messages)
    assert batch.rows[meta.OP].to_pylist() == ["r", "c"]
    [letter] = batch.dead_letters
    assert (letter.stage, letter.error_class, letter.offset) == ("type", "ValueConversionError", 1)
    assert repr(field) in letter.error_message


def test_decode_batch_toast_placeholders_are_null_and_listed() -> None:
    batch = decode(load_case("postgres/toast_placeholder.jsonl"))
    rows = batch.rows.to_pylist()
    assert batch.rows.schema.field(meta.UNAVAILABLE) == meta.UNAVAILABLE_FIELD
    assert batch.rows.column_names[-1] == meta.UNAVAILABLE  # after META_FIELDS
    assert [r[meta.UNAVAILABLE] for r in rows] == [None, ["body", "blob", "tags", "nums", "meta"], None]
    assert rows[1]["title"] == "t2"
    assert [rows[1][c] for c in ("body", "blob", "tags", "nums", "meta")] == [None] * 5
    assert rows[2]["blob"] == b"\x00\x01" and rows[2]["nums"] == [1, 2]


def test_decode_batch_schemas_disabled_infers_types() -> None:
    batch = decode(load_case("postgres/schemas_disabled.jsonl"))
    assert batch.rows[meta.OP].to_pylist() == ["c", "u", "d"]
    assert batch.skipped == 3  # heartbeat, transaction BEGIN, tombstone
    assert batch.key_columns == ("id",)
    types = {field.name: field.type for field in batch.data_schema}
    assert types == {
        "id": pa.int64(),
        "name": pa.string(),
        "score": pa.float64(),  # 1.5 then 2: widened
        "tags": pa.list_(pa.string()),
    }
    assert batch.rows["score"].to_pylist() == [1.5, 2.0, None]


def test_decode_batch_truncate_is_a_row_without_data() -> None:
    batch = decode(load_case("postgres/truncate.jsonl"))
    assert batch.rows[meta.OP].to_pylist() == ["c", "t"]
    assert batch.rows.select(["id", "name"]).to_pylist() == [
        {"id": 40, "name": "forty"},
        {"id": None, "name": None},
    ]
    assert batch.key_columns == ("id",)  # a truncate has no key and does not make the table keyless


def test_decode_batch_delete_without_before_takes_the_kafka_key() -> None:
    def nothing_before(document: dict[str, Any]) -> None:
        document["payload"]["before"] = None  # REPLICA IDENTITY NOTHING

    delete = next(m for m in T_MESSAGES if m.value and b'"op":"d"' in m.value)
    batch = decode([edited(delete, nothing_before)])
    assert batch.rows.select(["id", "tx", meta.OP]).to_pylist() == [{"id": 2, "tx": None, meta.OP: "d"}]


@pytest.mark.parametrize(
    ("op", "dead"),
    [
        ("m", False),  # logical decoding message: skipped
        ("x", True),  # not an op at all
    ],
)
def test_decode_batch_non_row_ops(op: str, dead: bool) -> None:
    def set_op(document: dict[str, Any]) -> None:
        document["payload"]["op"] = op

    batch = decode([edited(T_MESSAGES[0], set_op)])
    assert batch.rows.num_rows == 0
    assert (len(batch.dead_letters), batch.skipped) == ((1, 0) if dead else (0, 1))


def test_decode_batch_incompatible_type_change_dead_letters_the_earlier_events() -> None:
    def as_int(document: dict[str, Any]) -> None:
        after = document["schema"]["fields"][1]["fields"]
        next(f for f in after if f["field"] == "tx")["type"] = "int64"
        document["payload"]["after"]["tx"] = 7

    earlier = T_MESSAGES[0]  # tx is the string "hi", which does not cast to int64
    batch = decode([earlier, edited(T_MESSAGES[6], as_int)])
    assert batch.data_schema.field("tx").type == pa.int64()
    assert batch.rows["tx"].to_pylist() == [7]
    [letter] = batch.dead_letters
    assert (letter.offset, letter.stage, letter.error_class) == (0, "schema", "BatchSchemaConflictError")


def test_decode_batch_dropped_column_is_kept_for_earlier_rows() -> None:
    def drop_u(document: dict[str, Any]) -> None:
        for field in document["schema"]["fields"][:2]:
            field["fields"] = [f for f in field["fields"] if f["field"] != "u"]
        del document["payload"]["after"]["u"]

    batch = decode([T_MESSAGES[0], edited(T_MESSAGES[6], drop_u)])
    assert batch.data_schema.names[-1] == "u"
    assert batch.rows["u"].to_pylist() == ["c88f116d-7161-4809-b188-582db688d324", None]


def test_decode_batch_pretty_printed_json_decodes_like_compact() -> None:
    pretty = [
        dataclasses.replace(m, value=orjson.dumps(orjson.loads(m.value), option=orjson.OPT_INDENT_2))
        for m in T_MESSAGES
        if m.value is not None
    ]
    compact = decode([m for m in T_MESSAGES if m.value is not None])
    assert decode(pretty).rows.equals(compact.rows)


def test_decode_batch_rejects_several_tables() -> None:
    with pytest.raises(MixedTopicsError, match="shop.public.nopk"):
        decode(RECORDED)


def test_decode_batch_empty_has_meta_columns_only() -> None:
    batch = decode([])
    assert batch.rows.schema == pa.schema(list(meta.META_FIELDS))
    assert (batch.key_columns, batch.dead_letters, batch.skipped) == ((), (), 0)


def test_decode_batch_unknown_source_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError, match="Valid values are"):
        decode_batch(T_MESSAGES, source_kind="oracle")  # type: ignore[arg-type]


def test_decode_batch_unreadable_last_key_falls_back_to_an_earlier_key() -> None:
    rows = [m for m in T_MESSAGES if m.topic == T_TOPIC and m.value is not None]
    batch = decode([*rows[:-1], dataclasses.replace(rows[-1], key=b"garbage")])
    assert batch.key_columns == ("id",)
    assert batch.rows.num_rows == len(rows)
