"""The ingest sensor evaluated with build_sensor_context against the real broker and a real Delta lake:
run requests for explicit ranges, idempotent run keys, one run per table, offset regression, and a topic
deleted and re-created under the same name (a new topic ID) refused even after its new log grew past the
sink's offsets."""

from __future__ import annotations

import uuid
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from confluent_kafka.admin import AdminClient

from cdc_project.adapters.kafka_source import ensure_topics, make_producer, topic_state
from cdc_project.adapters.sinks import sink_for
from cdc_project.batch import run_batch
from cdc_project.config import PipelineConfig, parse_config
from cdc_project.core import columns
from cdc_project.core.errors import OffsetRegressionError, TopicRecreatedError
from cdc_project.core.offsets import plan_ranges
from cdc_project.defs.ingest.assets import TableAssets, build_ingest_asset
from cdc_project.defs.ingest.sensors import build_ingest_sensor, gather_facts
from cdc_project.settings import StackSettings
from cdc_project_tests.live.helpers import wait_for

pytestmark = pytest.mark.live


def _config(stack: StackSettings, lake: Path, prefix: str) -> PipelineConfig:
    return parse_config(
        {
            "name": "sensor_test",
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap},
            "lake": {"root": str(lake)},
            "sources": [
                {
                    "name": "src",
                    "kind": "postgres",
                    "host": "127.0.0.1",
                    "port": 5432,
                    "database": "x",
                    "user": "x",
                    "topic_prefix": prefix,
                    "tables": [{"name": "public.t"}],
                }
            ],
        }
    )


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = make_producer(bootstrap)
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=b"{}")
    assert producer.flush(10) == 0


def _sensor_on_fresh_topic(
    stack: StackSettings, lake: Path, messages: int
) -> tuple[PipelineConfig, TableAssets, dg.SensorDefinition]:
    """A table whose topic is new on the real broker and holds `messages` messages; its lake is empty."""
    config = _config(stack, lake, f"sensor{uuid.uuid4().hex[:8]}")
    source = config.sources[0]
    names = TableAssets(source, source.tables[0], "delta")
    job = dg.define_asset_job(f"ingest_{names.slug}_job", selection=[build_ingest_asset(config, names)])
    ensure_topics(stack.kafka_bootstrap, [names.topic], partitions=1)
    _produce(stack.kafka_bootstrap, names.topic, messages)
    return config, names, build_ingest_sensor(config, names, job)


def test_sensor_requests_explicit_range_with_stable_run_key(stack: StackSettings, tmp_path: Path) -> None:
    _config_, _names, sensor = _sensor_on_fresh_topic(stack, tmp_path, 3)
    instance = dg.DagsterInstance.ephemeral()

    first = sensor(dg.build_sensor_context(instance=instance))
    second = sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(first, dg.SensorResult) and len(first.run_requests or []) == 1
    request = first.run_requests[0]
    assert request.run_key == second.run_requests[0].run_key  # a repeated tick is harmless
    assert request.tags["cdc/table"] == "src.public.t"
    assert request.tags["cdc/ranges"].startswith("0:0-")
    assert request.run_key.startswith("src.public.t@delta|0:0-")


def test_sensor_skips_while_a_run_for_the_table_is_in_flight(stack: StackSettings, tmp_path: Path) -> None:
    _config_, names, sensor = _sensor_on_fresh_topic(stack, tmp_path, 2)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_run(
        dg.DagsterRun(job_name="ingest_src_t_delta_job", run_id="in-flight-run", status=dg.DagsterRunStatus.STARTED,
                      tags=names.tags)
    )
    result = sensor(dg.build_sensor_context(instance=instance))
    assert not result.run_requests
    assert "in-flight-run" in (result.skip_reason.skip_message if result.skip_reason else "")


def test_sensor_and_run_refuse_offset_regression(stack: StackSettings, tmp_path: Path) -> None:
    """The lake applied offsets 0..149 of a topic the broker holds 3 messages of (a truncated log)."""
    config, names, sensor = _sensor_on_fresh_topic(stack, tmp_path, 3)
    rows = pa.table(
        {
            "id": pa.array(range(150), pa.int32()),
            columns.OP: ["c"] * 150,
            columns.POSITION: [f"{i:032x}" for i in range(150)],
            columns.SOURCE_TS: pa.array([0] * 150, pa.timestamp("us", tz="UTC")),
            columns.TOPIC: [names.topic] * 150,
            columns.PARTITION: pa.array([0] * 150, pa.int32()),
            columns.OFFSET: pa.array(range(150), pa.int64()),
        }
    )
    sink_for(config, names.source, names.table, "delta").apply(rows, ["id"])

    with pytest.raises(OffsetRegressionError) as info:
        sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert (info.value.topic, info.value.partition, info.value.committed) == (names.topic, 0, 149)
    assert "149" in str(info.value) and names.topic in str(info.value)

    facts = gather_facts(config, names, dg.DagsterInstance.ephemeral())
    assert facts.topic is not None and facts.topic.ends == {0: 3}
    with pytest.raises(OffsetRegressionError):
        run_batch(config, names.source, names.table, plan_ranges(names.topic, {}, {0: 3}), "delta")  # type: ignore[arg-type]


def test_sensor_and_run_refuse_a_recreated_topic_naming_both_ids(stack: StackSettings, tmp_path: Path) -> None:
    config, names, sensor = _sensor_on_fresh_topic(stack, tmp_path, 3)
    plan = plan_ranges(names.topic, {}, {0: 3})
    assert plan is not None
    run_batch(config, names.source, names.table, plan, "delta")
    sink = sink_for(config, names.source, names.table, "delta")
    old_id = sink.committed_topic_id()
    assert old_id is not None and sink.committed_offsets() == {0: 2}

    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    admin.delete_topics([names.topic], operation_timeout=10)[names.topic].result()
    wait_for(lambda: topic_state(stack.kafka_bootstrap, names.topic) is None, 30, "the topic's deletion")
    ensure_topics(stack.kafka_bootstrap, [names.topic], partitions=1)
    _produce(stack.kafka_bootstrap, names.topic, 10)  # the new log grows past the stored offset 2
    new_state = topic_state(stack.kafka_bootstrap, names.topic)
    assert new_state is not None and new_state.topic_id != old_id and new_state.ends == {0: 10}

    with pytest.raises(TopicRecreatedError) as info:
        sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert (info.value.stored_id, info.value.current_id) == (old_id, new_state.topic_id)
    assert old_id in str(info.value) and new_state.topic_id in str(info.value)
    with pytest.raises(TopicRecreatedError):
        run_batch(config, names.source, names.table, plan_ranges(names.topic, {0: 2}, {0: 10}), "delta")  # type: ignore[arg-type]
    assert sink.committed_offsets() == {0: 2}  # nothing skipped, nothing applied
