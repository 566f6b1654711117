"""Every PostgreSQL type Debezium 3.6 emits, under each connector mode, from live recordings.

cases/postgres/alltypes_*.jsonl were captured here by scripts/record_postgres_cases.py with the same DML
under different decimal.handling.mode / time.precision.mode / binary.handling.mode settings and with
schemas off; the same source row must decode to the same values, each mode within its own precision.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from cdc_project.core import columns as meta
from cdc_project.core import hot_loop
from cdc_project.core.envelope import Reader, read_event
from cdc_project.core.events import DecodedBatch, DecodeOptions, decode_batch
from cdc_project.core.hot_loop import read_events, row_dict
from cdc_project.core.rendering import render
from cdc_project.core.type_mapping import BinaryMode
from cdc_project_tests.cases import load_case

TOPIC = "rec.public.alltypes"


def alltypes(variant: str, **options: Any) -> DecodedBatch:
    messages = [m for m in load_case(f"postgres/alltypes_{variant}.jsonl") if m.topic == TOPIC]
    return decode_batch(messages, source_kind="postgres", options=DecodeOptions(**options))


def first_row(batch: DecodedBatch) -> dict[str, Any]:
    return {k: render(v) for k, v in batch.rows.to_pylist()[0].items()}


# source row id=1 under the pipeline's own modes (precise, adaptive_time_microseconds, bytes)
DEFAULT_ROW = {
    "id": 1,
    "c_smallint": -32768,
    "c_bigint": 9223372036854775807,
    "c_real": 1.5,
    "c_double": -2.25e-10,
    "c_numeric": "-12345678.91",
    "c_numeric_var": "3.14159265358979323846264338327950288",
    "c_money": "1234.56",
    "c_bool": True,
    "c_char": "ab ",
    "c_varchar": "varchar",
    "c_text": "héllo wörld",
    "c_citext": "CaseText",
    "c_bytea": "AP8Q",
    "c_date": "2026-11-22",
    "c_time": "12:00:01.123456",
    "c_time3": "23:59:59.999000",
    "c_timetz": "08:15:30.250000",  # '10:15:30.25+02' as UTC
    "c_timestamp": "2026-11-22T14:57:09.457559Z",
    "c_timestamp3": "1969-07-20T20:17:40.123000Z",
    "c_timestamptz": "2026-11-22T14:57:09.457559Z",  # '2026-11-22 16:57:09.457559+02'
    "c_interval": "PT37091106.780000S",
    "c_uuid": "c88f116d-7161-4809-b188-582db688d324",
    "c_json": '{"a": [1, 2]}',
    "c_jsonb": '{"b": {"c": null}}',
    "c_xml": "<r><x>1</x></r>",
    "c_inet": "192.168.0.1",
    "c_cidr": "10.0.0.0/8",
    "c_macaddr": "08:00:2b:01:02:03",
    "c_bit": "101",
    "c_varbit": "00001101",  # BitSet bytes carry no length: bit varying(8) pads to its declared maximum
    "c_int_array": [1, None, 3],
    "c_text_array": ["x", "y z"],
    "c_point": {"x": 1.5, "y": -2.5, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAATA", "srid": None},
    "c_enum": "happy",
    "c_hstore": '{"k1":"v1","k2":null}',
    "c_ltree": "top.mid.leaf",
    "c_tsvector": "'a' 'cat' 'fat'",
    "c_int4range": "[1,10)",
    "c_oid": 4294967295,
    "c_big_text": "short",
}
DEFAULT_TYPES = {
    "id": "int32",
    "c_smallint": "int16",
    "c_bigint": "int64",
    "c_real": "float",
    "c_double": "double",
    "c_numeric": "decimal128(10, 2)",
    "c_numeric_var": "string",
    "c_money": "decimal128(38, 2)",
    "c_bool": "bool",
    "c_bytea": "binary",
    "c_date": "date32[day]",
    "c_time": "time64[us]",
    "c_timetz": "time64[us]",
    "c_timestamp": "timestamp[us, tz=UTC]",
    "c_timestamptz": "timestamp[us, tz=UTC]",
    "c_interval": "duration[us]",
    "c_int_array": "list<item: int32>",
    "c_text_array": "list<item: string>",
    "c_point": "struct<x: double, y: double, wkb: binary, srid: int32>",
    "c_oid": "int64",
}


def test_decode_batch_postgres_every_type_default_modes() -> None:
    batch = alltypes("default")
    assert batch.dead_letters == ()
    row = first_row(batch)
    assert {k: row[k] for k in DEFAULT_ROW} == DEFAULT_ROW
    types = {field.name: str(field.type) for field in batch.data_schema}
    assert {k: types[k] for k in DEFAULT_TYPES} == DEFAULT_TYPES


MODE_CASES = [
    # (variant, binary mode, columns whose value differs from the default row -> value, -> Arrow type)
    (
        "double_connect_base64",
        "base64",
        {
            "c_numeric": -12345678.91,
            "c_numeric_var": 3.141592653589793,
            "c_money": 1234.56,
            "c_time": "12:00:01.123000",
            "c_timestamp": "2026-11-22T14:57:09.457000Z",
        },  # connect: milliseconds
        {
            "c_numeric": "double",
            "c_bytea": "binary",
            "c_time": "time64[us]",
            "c_timestamp": "timestamp[us, tz=UTC]",
        },
    ),
    (
        "string_isostring_hex",
        "hex",
        {"c_interval": "P1Y2M3DT4H5M6.78S", "c_hstore": {"k1": "v1", "k2": None}},
        {
            "c_numeric": "string",
            "c_bytea": "binary",
            "c_date": "date32[day]",
            "c_interval": "string",
            "c_hstore": "map<string, string>",
        },
    ),
    ("nanoseconds", "bytes", {}, {"c_time": "time64[us]", "c_timestamp": "timestamp[us, tz=UTC]"}),
]


@pytest.mark.parametrize(
    ("variant", "binary_mode", "changed", "types"), MODE_CASES, ids=[c[0] for c in MODE_CASES]
)
def test_decode_batch_postgres_connector_modes_decode_the_same_row(
    variant: str, binary_mode: BinaryMode, changed: dict[str, Any], types: dict[str, str]
) -> None:
    batch = alltypes(variant, binary_handling_mode=binary_mode)
    assert batch.dead_letters == ()
    row = first_row(batch)
    assert {k: row[k] for k in DEFAULT_ROW} == {**DEFAULT_ROW, **changed}
    actual = {field.name: str(field.type) for field in batch.data_schema}
    assert {k: actual[k] for k in types} == types


def test_decode_batch_postgres_binary_mode_unset_keeps_base64_text() -> None:
    # binary.handling.mode=base64 without telling the decoder: the column stays the text Debezium sent
    row = first_row(alltypes("double_connect_base64"))
    assert row["c_bytea"] == "AP8Q"
    assert str(alltypes("double_connect_base64").data_schema.field("c_bytea").type) == "string"


def test_decode_batch_postgres_unchanged_toast_column_is_listed_not_nulled() -> None:
    rows = alltypes("default").rows.to_pylist()
    update = next(r for r in rows if r[meta.OP] == "u" and r["id"] == 3)
    assert update[meta.UNAVAILABLE] == ["c_big_text"]
    assert update["c_big_text"] is None and update["c_text"] == "after toast"


def _declared_schema() -> dict[str, Any]:
    recorded = next(m for m in load_case("postgres/alltypes_default.jsonl") if m.topic == TOPIC)
    envelope = orjson.loads(recorded.value or b"")["schema"]
    after = next(f for f in envelope["fields"] if f["field"] == "after")
    return {field["field"]: field for field in after["fields"]}


def test_decode_batch_schemas_off_with_a_declared_schema_types_like_schemas_on() -> None:
    typed = alltypes("default")
    declared = alltypes("schemas_off", declared=_declared_schema())
    assert declared.data_schema == typed.data_schema
    data = typed.data_schema.names
    assert declared.rows.select(data).to_pylist() == typed.rows.select(data).to_pylist()


def test_decode_batch_schemas_off_inference_keeps_json_types() -> None:
    batch = alltypes("schemas_off")
    types = {field.name: str(field.type) for field in batch.data_schema}
    # JSON numbers, strings, arrays and objects keep their JSON type; what Debezium encoded stays encoded
    assert types["c_numeric"] == "string" and first_row(batch)["c_numeric"] == "tmn9LQ=="  # base64 unscaled
    assert types["c_date"] == "int64" and first_row(batch)["c_date"] == 20779  # days since the epoch
    assert types["c_int_array"] == "list<item: int64>"
    assert types["c_point"] == "struct<x: double, y: double, wkb: string, srid: string>"  # all-null -> string
    update = next(r for r in batch.rows.to_pylist() if r[meta.OP] == "u" and r["id"] == 3)
    assert update[meta.UNAVAILABLE] == ["c_big_text"]  # the placeholder is found without a schema too


@pytest.mark.parametrize(
    "case",
    [
        "postgres/alltypes_default.jsonl",
        "postgres/alltypes_schemas_off.jsonl",
        "postgres/alltypes_string_isostring_hex.jsonl",
        "postgres/debezium_3_6_embedded.jsonl",
        "postgres/poison_messages.jsonl",
        "postgres/toast_placeholder.jsonl",
    ],
)
def test_read_events_hot_loop_agrees_with_the_careful_reader(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = load_case(case)
    reader = Reader.for_kind("postgres", "bytes", None)
    careful_calls: list[int] = []

    def counted(index: int, *args: Any) -> Any:
        careful_calls.append(index)
        return read_event(index, *args)

    monkeypatch.setattr(hot_loop, "read_event", counted)
    events, letters, ignored = read_events(messages, reader)
    hot = [e for e in events if e[0] not in careful_calls]
    assert hot, "the hot loop decoded none of the recorded inserts and updates"
    careful: list[Any] = []
    for index, message in enumerate(messages):
        if message.value is None:
            continue
        try:
            event = read_event(index, message, reader)
        except Exception:  # noqa: BLE001 - a dead letter on both paths
            assert index in letters
            continue
        if not isinstance(event, str):
            careful.append(event)
    assert [(*e[:5], dict(row_dict(e[5])), e[6]) for e in events] == careful
    assert len(events) + len(letters) + len(ignored) == len(messages)


@pytest.mark.parametrize(
    ("variant", "mode", "placeholder"),
    [
        ("string_isostring_hex", "hex", "__debezium_unavailable_value".encode().hex()),
        ("double_connect_base64", "base64", "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="),
    ],
)
def test_decode_batch_unavailable_bytea_under_binary_modes(
    variant: str, mode: BinaryMode, placeholder: str
) -> None:
    # A TOASTed bytea left unchanged by an update: Debezium writes the placeholder in the mode's encoding.
    messages = [m for m in load_case(f"postgres/alltypes_{variant}.jsonl") if m.topic == TOPIC and m.value]
    update = next(m for m in messages if b'"op":"u"' in (m.value or b""))
    document = orjson.loads(update.value or b"")
    document["payload"]["after"]["c_bytea"] = placeholder
    edited = dataclasses.replace(update, value=orjson.dumps(document))
    batch = decode_batch([edited], source_kind="postgres", options=DecodeOptions(binary_handling_mode=mode))
    [row] = batch.rows.to_pylist()
    assert row[meta.UNAVAILABLE] == ["c_bytea", "c_big_text"]  # the recorded update left c_big_text too
    assert row["c_bytea"] is None
