"""One micro-batch (batch.run_batch) on the real broker and real Delta tables, fed recorded Debezium 3.6
events: a new source column appears without a restart, and a type change the lake cannot take is refused
loudly, its events dead-lettered, while the stream moves on. A following run (batch.follow_batches) goes
on past its planned range only when `ingest.follow_seconds` allows."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from cdc_project.adapters.kafka_source import ensure_topics, make_producer
from cdc_project.adapters.sinks import sink_for
from cdc_project.batch import follow_batches, run_batch
from cdc_project.config import PipelineConfig, parse_config
from cdc_project.core.offsets import plan_ranges
from cdc_project.settings import StackSettings

pytestmark = pytest.mark.live

CASE = Path(__file__).parent / "cases" / "postgres" / "debezium_3_6_embedded.jsonl"


def _recorded(topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """The public.t events of the recording, in order: snapshot, update, insert, delete, tombstone,
    then (after ALTER TABLE ... ADD COLUMN extra) an insert and an update carrying the new column."""
    rows = [json.loads(line) for line in CASE.read_text().splitlines()]
    return [(r["key"] and r["key"].encode(), r["value"] and r["value"].encode()) for r in rows if r["topic"] == topic]


def _setup(
    stack: StackSettings,
    tmp_path: Path,
    policy: str = "evolve",
    follow_seconds: float = 0.0,
    max_batch_events: int = 200_000,
) -> tuple[PipelineConfig, str]:
    prefix = f"batch{uuid.uuid4().hex[:8]}"
    config = parse_config(
        {
            "name": "batch_test",
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap},
            "ingest": {"follow_seconds": follow_seconds, "max_batch_events": max_batch_events},
            "lake": {"root": str(tmp_path)},
            "sources": [
                {"name": "src", "kind": "postgres", "host": "127.0.0.1", "port": 5432, "database": "x",
                 "user": "x", "topic_prefix": prefix, "tables": [{"name": "public.t", "schema_policy": policy}]}
            ],
        }
    )
    topic = f"{prefix}.public.t"
    ensure_topics(stack.kafka_bootstrap, [topic], partitions=1)
    return config, topic


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = make_producer(bootstrap)
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


def _run(config: PipelineConfig, topic: str, end: int):  # type: ignore[no-untyped-def]
    source = config.sources[0]
    committed = sink_for(config, source, source.tables[0], "delta").committed_offsets()
    plan = plan_ranges(topic, committed, {0: end})
    assert plan is not None
    return run_batch(config, source, source.tables[0], plan, "delta")


def test_batch_new_source_column_appears_in_lake(stack: StackSettings, tmp_path: Path) -> None:
    config, topic = _setup(stack, tmp_path)
    events = _recorded("shop.public.t")
    _produce(stack.kafka_bootstrap, topic, events[:5])
    first = _run(config, topic, 5)
    assert (first.events, first.upserts, first.deletes) == (5, 1, 1)
    _produce(stack.kafka_bootstrap, topic, events[5:])
    second = _run(config, topic, len(events))
    assert second.dead_letters == 0
    current = DeltaTable(f"{tmp_path}/src/public/t/current").to_pyarrow_table()
    assert "extra" in current.column_names
    assert dict(zip(current["id"].to_pylist(), current["extra"].to_pylist(), strict=True))[3] is not None


def test_batch_incompatible_type_change_goes_to_dead_letters(stack: StackSettings, tmp_path: Path) -> None:
    config, topic = _setup(stack, tmp_path)
    events = _recorded("shop.public.t")
    _produce(stack.kafka_bootstrap, topic, events[:5])
    _run(config, topic, 5)
    # The same insert, but `b` now arrives as text: boolean -> string cannot be widened.
    key, value = events[2]
    envelope = json.loads(value or b"")
    for struct in envelope["schema"]["fields"][:2]:
        for field in struct["fields"]:
            if field["field"] == "b":
                field["type"] = "string"
    envelope["payload"]["after"]["b"] = "yes"
    envelope["payload"]["source"]["sequence"] = '["99999999","99999999"]'
    _produce(stack.kafka_bootstrap, topic, [(key, json.dumps(envelope).encode())])
    result = _run(config, topic, 6)
    assert result.dead_letters == 1 and result.upserts == 0
    letters = DeltaTable(f"{tmp_path}/_dead_letters").to_pyarrow_table()
    refused = letters.filter(pc.equal(letters["offset"], 5))
    assert refused["stage"].to_pylist() == ["schema"]
    assert "b" in refused["error_message"][0].as_py() and refused["table"][0].as_py() == "public.t"
    # the stream is not blocked: offsets moved past the refused event, and the lake kept its type
    source = config.sources[0]
    assert sink_for(config, source, source.tables[0], "delta").committed_offsets() == {0: 5}
    current = DeltaTable(f"{tmp_path}/src/public/t/current").to_pyarrow_table()
    assert str(current.schema.field("b").type) == "bool"


@pytest.mark.parametrize(("follow_seconds", "batches"), [(0.0, [(0, 1)]), (60.0, [(0, 1), (2, 3), (4, 4)])])
def test_run_follows_what_arrived_after_its_range_only_when_configured(
    stack: StackSettings, tmp_path: Path, follow_seconds: float, batches: list[tuple[int, int]]
) -> None:
    # batches of at most two events: five events are a planned batch and, when following, two more
    config, topic = _setup(stack, tmp_path, follow_seconds=follow_seconds, max_batch_events=2)
    _produce(stack.kafka_bootstrap, topic, _recorded("shop.public.t")[:5])
    source = config.sources[0]
    plan = plan_ranges(topic, {}, {0: 2})
    assert plan is not None
    results = list(follow_batches(config, source, source.tables[0], plan, "delta"))
    # each batch its own commit, starting where the sink stood; the run ends once caught up
    assert [(r.first_offsets[0], r.last_offsets[0]) for r in results] == batches
    assert sink_for(config, source, source.tables[0], "delta").committed_offsets() == {0: batches[-1][1]}
