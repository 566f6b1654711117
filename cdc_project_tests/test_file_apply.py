"""Scope: `cdc apply` (cdc_project/file_apply.py, core/message_lines.py) and `cdc show` (show_cli.py) on
real tables, fed recorded Debezium 3.6 messages: tables resolved from the config or defaults, one commit per
batch with its offsets, re-applying a file is a no-op, poison messages become dead letters while the rest
lands, a malformed line is refused naming the file and line, every sink shows the same rows, and a file
(which has no topic ID) keeps the ID a run stored."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from cdc_project.adapters.sinks import sink_for
from cdc_project.cli import main
from cdc_project.config import load_config
from cdc_project.core.events import RawMessage, decode_batch
from cdc_project.core.merge_plan import last_offsets
from cdc_project.file_apply import resolve_topic
from cdc_project_tests.cases import load_case
from cdc_project_tests.sink_configs import postgres_sink_options

TOPIC_ID = "kZ3yQq1xTfKo0pZ7B2rW3g"


def _line(message: RawMessage) -> dict[str, Any]:
    """A message in the JSON-lines format of `cdc apply`: JSON embedded, other bytes base64."""
    record: dict[str, Any] = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
    for field, raw in (("key", message.key), ("value", message.value)):
        try:
            record[field] = None if raw is None else json.loads(raw)
        except ValueError:
            record[f"{field}_b64"] = base64.b64encode(raw or b"").decode()
    return record


def _write(path: Path, messages: list[RawMessage]) -> Path:
    path.write_text("".join(json.dumps(_line(m)) + "\n" for m in messages))
    return path


def _config(
    tmp_path: Path, tables: list[dict[str, Any]] | None = None, postgres_sink: dict[str, Any] | None = None
) -> Path:
    sources = [] if tables is None else [
        {"name": "shop", "kind": "postgres", "host": "127.0.0.1", "port": 5432, "database": "shop",
         "user": "cdc", "topic_prefix": "shop", "tables": tables}
    ]
    config = {"name": "apply_test", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
              "lake": {"root": str(tmp_path / "lake")}, "sources": sources}
    if postgres_sink is not None:
        config["postgres_sink"] = postgres_sink
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps(config))
    return path


def _apply(capsys: pytest.CaptureFixture[str], *args: str, command: str = "apply") -> tuple[int, list[dict[str, Any]]]:
    with pytest.raises(SystemExit) as exit_info:
        main([command, *args])
    out = capsys.readouterr().out
    return int(exit_info.value.code or 0), [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("tables", "source_name"),
    [
        (None, "shop"),  # a topic the config does not name: defaults (source from the topic prefix)
        ([{"name": "public.t"}, {"name": "public.nopk", "primary_key": []}], "shop"),  # configured tables
    ],
)
def test_apply_recorded_file_then_reapply_is_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tables: list[dict[str, Any]] | None, source_name: str
) -> None:
    messages = load_case("postgres/debezium_3_6_embedded.jsonl")
    events = _write(tmp_path / "events.jsonl", messages)
    config = _config(tmp_path, tables)
    code, first = _apply(capsys, "--sink", "delta", "--events", str(events), "--config", str(config),
                         "--batch-size", "3")
    assert code == 0
    by_topic = {s["topic"]: s for s in first}
    table_t = by_topic["shop.public.t"]
    assert (table_t["table"], table_t["events"], table_t["dead_letters"]) == (f"{source_name}.public.t", 7, 0)
    assert table_t["commits"] == 3 and table_t["last_offsets"] == {"0": 6}  # 7 messages in batches of 3
    assert by_topic["__debezium-heartbeat.shop"]["ignored"] == "heartbeat topic"
    current = DeltaTable(str(tmp_path / "lake" / source_name / "public" / "t" / "current")).to_pyarrow_table()
    assert sorted(current["id"].to_pylist()) == [1, 3]  # id 2 was deleted in the recording

    code, again = _apply(capsys, "--sink", "delta", "--events", str(events), "--config", str(config))
    assert code == 0
    replay = {s["topic"]: s for s in again}["shop.public.t"]
    assert (replay["commits"], replay["last_offsets"]) == (0, {"0": 6})


def test_apply_poison_messages_are_dead_lettered_and_the_rest_lands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _write(tmp_path / "poison.jsonl", load_case("postgres/poison_messages.jsonl"))
    code, summaries = _apply(capsys, "--sink", "delta", "--events", str(events), "--config", str(_config(tmp_path)))
    assert code == 0
    (summary,) = summaries
    assert (summary["events"], summary["dead_letters"], summary["upserts"]) == (4, 2, 2)
    letters = DeltaTable(str(tmp_path / "lake" / "_dead_letters")).to_pyarrow_table()
    assert sorted(letters["offset"].to_pylist()) == [1, 2]
    assert letters["table"].to_pylist() == ["public.small", "public.small"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", "events.jsonl:2: not JSON"),
        ('{"partition": 0, "offset": 1}', "events.jsonl:2: topic None is not a topic name"),
        ('{"topic": "shop.public.t", "partition": 0, "offset": -1}', "must be integers >= 0"),
        ('{"topic": "shop.public.t", "partition": 0, "offset": 1, "value_b64": "%%%"}', "value_b64 is not base64"),
    ],
)
def test_apply_refuses_a_malformed_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, error: str
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"topic": "shop.public.t", "partition": 0, "offset": 0, "key": null, "value": null}\n' + line)
    with pytest.raises(SystemExit) as exit_info:
        main(["apply", "--sink", "delta", "--events", str(events), "--config", str(_config(tmp_path))])
    assert exit_info.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize("sink", [*(k for k in ("delta", "iceberg")), pytest.param("postgres", marks=pytest.mark.live)])
def test_show_prints_current_rows_sorted_by_key_the_same_in_every_sink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, sink: str
) -> None:
    pg = postgres_sink_options(request.getfixturevalue("pg_cluster")) if sink == "postgres" else None
    config = _config(tmp_path, postgres_sink=pg)
    events = _write(tmp_path / "events.jsonl", load_case("postgres/debezium_3_6_embedded.jsonl"))
    assert _apply(capsys, "--sink", sink, "--events", str(events), "--config", str(config))[0] == 0
    code, rows = _apply(capsys, "--sink", sink, "--table", "shop.public.t", "--config", str(config), command="show")
    assert code == 0
    assert [r["id"] for r in rows] == [1, 3]  # sorted by key; id 2 was deleted
    shown = [{k: v for k, v in r.items() if k != "_cdc_ingested_at"} for r in rows]
    assert shown == SHOWN_T, shown


# public.t as every sink shows it after the recording: values rendered as `cdc decode` renders them.
SHOWN_T = [
    {"id": 1, "n": "12.34", "v": "5.5", "ts": "2026-11-22T14:57:09.457559Z", "d": "2026-11-22",
     "j": '{"a": [1, 2]}', "arr": [1, 2], "b": True, "tx": "a", "tm": "12:00:01.000000",
     "tsn": "2026-11-22T14:57:09.457559Z", "u": "c88f116d-7161-4809-b188-582db688d324", "extra": None,
     "_cdc_op": "u", "_cdc_position": "0000000000002669997600000000000026699976",
     "_cdc_source_ts": "2026-11-22T14:57:29.641646Z"},
    {"id": 3, "n": None, "v": None, "ts": None, "d": None, "j": None, "arr": None, "b": None, "tx": "zz",
     "tm": None, "tsn": None, "u": None, "extra": "e", "_cdc_op": "u",
     "_cdc_position": "0000000000002670174400000000000026726064", "_cdc_source_ts": "2026-11-22T14:58:30.138594Z"},
]


def test_apply_schemaless_topic_types_columns_from_the_tables_declared_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same recorded changes, once with schemas in every message and once without (schemas.enable=false):
    # with the table's `columns` declared in the config, both land as the same typed rows.
    topic = "rec.public.alltypes"
    with_schemas = [m for m in load_case("postgres/alltypes_default.jsonl") if m.topic == topic]
    envelope = json.loads(with_schemas[0].value or b"")["schema"]
    after = next(f for f in envelope["fields"] if f["field"] == "after")
    declared = {field["field"]: field for field in after["fields"]}
    shown = []
    for variant, columns in (("default", None), ("schemas_off", declared)):
        table: dict[str, Any] = {"name": "public.alltypes", **({"columns": columns} if columns else {})}
        config = {"name": "declared", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
                  "lake": {"root": str(tmp_path / variant)},
                  "sources": [{"name": "rec", "kind": "postgres", "host": "127.0.0.1", "port": 5432,
                               "database": "rec", "user": "cdc", "topic_prefix": "rec", "tables": [table]}]}  # fmt: skip
        path = tmp_path / f"{variant}.json"
        path.write_text(json.dumps(config))
        messages = [m for m in load_case(f"postgres/alltypes_{variant}.jsonl") if m.topic == topic]
        events = _write(tmp_path / f"{variant}.jsonl", messages)
        code, summary = _apply(capsys, "--sink", "delta", "--events", str(events), "--config", str(path))
        assert code == 0 and summary[0]["dead_letters"] == 0, summary
        code, rows = _apply(capsys, "--sink", "delta", "--table", "rec.public.alltypes", "--config", str(path),
                            command="show")  # fmt: skip
        # the two recordings were made at different times: compare data columns and ops, not positions
        shown.append([{k: v for k, v in r.items() if k == "_cdc_op" or not k.startswith("_cdc_")} for r in rows])
    assert shown[0] and shown[1] == shown[0]
    assert shown[1][0]["c_numeric"] != "tmn9LQ=="  # a decimal, not the base64 text a schemaless value is



@pytest.mark.parametrize("sink", ["delta", "iceberg", pytest.param("postgres", marks=pytest.mark.live)])
def test_keyless_event_delivered_again_under_a_new_offset_is_appended_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, sink: str
) -> None:
    # After a crash the capture re-sends events from its last flushed offset: same source position, new
    # Kafka offsets. A keyless table appends, so only the position tells the repeat from a new row.
    (recorded,) = [m for m in load_case("postgres/debezium_3_6_embedded.jsonl") if m.topic == "shop.public.nopk"]
    later = json.loads(recorded.value or b"")
    source = later["payload"]["source"]
    source["lsn"] += 1000
    source["sequence"] = json.dumps([str(source["lsn"] - 500), str(source["lsn"])])
    first = [RawMessage(recorded.topic, 0, 0, recorded.key, recorded.value)]
    again = [RawMessage(recorded.topic, 0, offset, recorded.key, recorded.value) for offset in (1, 2)]
    again.append(RawMessage(recorded.topic, 0, 3, recorded.key, json.dumps(later).encode()))
    pg = postgres_sink_options(request.getfixturevalue("pg_cluster")) if sink == "postgres" else None
    config = _config(tmp_path, [{"name": "public.nopk", "primary_key": []}], postgres_sink=pg)
    for name, batch in (("first", first), ("again", again)):
        events = _write(tmp_path / f"{name}.jsonl", batch)
        assert _apply(capsys, "--sink", sink, "--events", str(events), "--config", str(config))[0] == 0
    code, rows = _apply(capsys, "--sink", sink, "--table", "shop.public.nopk", "--config", str(config), command="show")
    assert code == 0
    positions = [r["_cdc_position"] for r in rows]
    assert len(positions) == 2 and len(set(positions)) == 2, rows  # the recorded event once, the later one


def test_apply_keeps_the_topic_id_a_run_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file has no topic ID: `cdc apply` commits offsets without one, and the sink keeps what a run stored."""
    messages = [m for m in load_case("postgres/debezium_3_6_embedded.jsonl") if m.topic == "shop.public.t"]
    config_path = _config(tmp_path)
    config = load_config(config_path)
    source, table = resolve_topic(config, "shop.public.t", messages)
    sink = sink_for(config, source, table, "delta")
    decoded = decode_batch(messages[:3], source_kind="postgres")  # what a run applied, with its topic's ID
    sink.apply(decoded.rows, decoded.key_columns, consumed_through=last_offsets(decoded.rows), topic_id=TOPIC_ID)
    events = _write(tmp_path / "events.jsonl", messages)
    code, (summary,) = _apply(capsys, "--sink", "delta", "--events", str(events), "--config", str(config_path))
    assert (code, summary["last_offsets"]) == (0, {"0": 6})
    assert sink.committed_topic_id() == TOPIC_ID
