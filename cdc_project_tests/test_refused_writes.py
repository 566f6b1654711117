"""Scope: cdc_project/refused_writes.py through batch.apply_messages on real sinks: a row the PostgreSQL
server refuses (a NUL in text) is isolated by splitting the batch and dead-lettered alone while every other
event lands and the offsets move past it; a schema the policy refuses dead-letters the whole batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from cdc_project.batch import apply_messages
from cdc_project.config import SinkKind
from cdc_project.core.events import RawMessage
from cdc_project_tests.cases import load_case
from cdc_project_tests.sink_configs import build_sink, pipeline_for

TOPIC = "shop.public.customers"


def _messages(names: list[str]) -> list[RawMessage]:
    """Debezium 3.6 inserts of public.customers (the recorded public.small shape), one per name."""
    template = load_case("postgres/poison_messages.jsonl")[0]
    key, value = json.loads(template.key or b""), json.loads(template.value or b"")
    messages = []
    for offset, name in enumerate(names):
        key["payload"]["id"] = offset
        value["payload"]["after"] = {"id": offset, "name": name}
        value["payload"]["source"]["sequence"] = json.dumps(["100", str(200 + offset)])
        value["payload"]["source"]["lsn"] = 200 + offset
        messages.append(RawMessage(TOPIC, 0, offset, json.dumps(key).encode(), json.dumps(value).encode()))
    return messages


def _apply(kind: SinkKind, tmp_path: Path, request: pytest.FixtureRequest, messages: list[RawMessage],
           read_again: Any = None, **table: Any) -> tuple[Any, Any]:
    config = pipeline_for(kind, tmp_path, request, **table)
    source = config.sources[0]
    sink = build_sink(kind, tmp_path, request, **table)
    consumed = {0: messages[-1].offset}
    return sink, apply_messages(config, source, source.tables[0], sink, messages, consumed, read_again=read_again)


def _letters(tmp_path: Path) -> list[dict[str, Any]]:
    return DeltaTable(str(tmp_path / "lake" / "_dead_letters")).to_pyarrow_table().to_pylist()


@pytest.mark.live
@pytest.mark.parametrize("poisoned", [0, 5, 9])  # first, middle, last of the batch
def test_row_refused_by_postgres_is_isolated_and_dead_lettered(
    tmp_path: Path, request: pytest.FixtureRequest, poisoned: int
) -> None:
    names = [f"name {i}" for i in range(10)]
    names[poisoned] = "nul \x00 inside"  # PostgreSQL text cannot hold NUL
    messages, kept = _messages(names), _messages(names)
    asked: list[list[tuple[int, int]]] = []

    def read_again(coordinates: list[tuple[int, int]]) -> list[RawMessage]:  # as a run reads the broker again
        asked.append(list(coordinates))
        return [m for c in coordinates for m in kept if (m.partition, m.offset) == c]

    sink, applied = _apply("postgres", tmp_path, request, messages, read_again)
    assert messages == []  # handed over: the raw bytes are freed before the sink's merge
    assert asked == [[(0, poisoned)]]  # only the refused message is read again
    assert applied.dead_letters == 1
    (letter,) = _letters(tmp_path)
    assert (letter["offset"], letter["stage"], letter["sink"]) == (poisoned, "write", "postgres")
    assert letter["value"] == kept[poisoned].value
    assert "RowsRefusedError" == letter["error_class"] and "public.customers" in letter["error_message"]
    current = sink.read_current()
    assert current is not None and sorted(current["id"].to_pylist()) == [i for i in range(10) if i != poisoned]
    assert sink.committed_offsets() == {0: 9}
    log = sink.read_changelog(["_cdc_offset"])
    assert log is not None and sorted(log["_cdc_offset"].to_pylist()) == [i for i in range(10) if i != poisoned]


@pytest.mark.parametrize("kind", ["delta", "iceberg"])
def test_schema_refused_by_policy_dead_letters_the_whole_batch(
    tmp_path: Path, request: pytest.FixtureRequest, kind: SinkKind
) -> None:
    sink, _ = _apply(kind, tmp_path, request, _messages(["a", "b"]), schema_policy="strict")
    value = json.loads(_messages(["c"])[0].value or b"")
    value["schema"]["fields"][1]["fields"].append({"type": "string", "optional": True, "field": "email"})
    value["payload"]["after"] = {"id": 7, "name": "c", "email": "c@x.org"}  # strict: no new column
    added = [RawMessage(TOPIC, 0, 2, _messages(["c"])[0].key, json.dumps(value).encode())]
    config = pipeline_for(kind, tmp_path, request, schema_policy="strict")
    applied = apply_messages(config, config.sources[0], config.sources[0].tables[0], sink, added, {0: 2})
    assert applied.dead_letters == 1
    assert [(r["offset"], r["stage"], r["sink"]) for r in _letters(tmp_path)] == [(2, "schema", kind)]
    assert sink.committed_offsets() == {0: 2}
