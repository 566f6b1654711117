"""Exactly once and source order on the real stack: replays are no-ops, older events never win, poison
messages become dead letters while their batch lands, and a killed ingest run loses and duplicates nothing
(killed transport processes: test_transport_faults.py)."""

from __future__ import annotations

import json

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from cdc_project import failpoints
from cdc_project.adapters.kafka_source import make_producer, read_range
from cdc_project.config import PipelineConfig
from cdc_project.core import columns
from cdc_project.demo.generator import WorkloadMix, run_generator
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres
from cdc_project_tests.live.helpers import (
    assert_lake_equals_source,
    assert_no_offset_applied_twice,
    changelog,
    runs,
    table,
    versions,
    wait_for,
)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def changes_flowed(stack: StackSettings) -> StackSettings:
    """Bursts of changes on single keys went through the live path (once for the module)."""
    postgres_dsn = postgres.dsn(stack, stack.pg_source_db)
    run_generator(postgres_dsn, rate=50.0, duration=4.0, mix=WorkloadMix(burst_probability=0.3), seed=23)
    return stack


@pytest.fixture()
def caught_up(changes_flowed: StackSettings, pipeline_config: PipelineConfig) -> StackSettings:
    assert_lake_equals_source(changes_flowed, pipeline_config)
    return changes_flowed


def test_replaying_a_finished_range_leaves_delta_versions_unchanged(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    from cdc_project.definitions import defs

    key = "shop.public.customers"
    finished = runs(caught_up, key, dg.DagsterRunStatus.SUCCESS, sink="delta")
    assert finished
    before = versions(pipeline_config, "public.customers")
    instance = dg.DagsterInstance.from_config(str(caught_up.dagster_home))
    try:
        for run in finished[:3]:  # the latest three ranges, re-executed as new runs
            result = defs.resolve_job_def("ingest_shop_customers_delta_job").execute_in_process(
                run_config=run.run_config, instance=instance, tags={"cdc/replay-of": run.run_id}
            )
            assert result.success
    finally:
        instance.dispose()
    assert versions(pipeline_config, "public.customers") == before


def test_poison_message_is_dead_lettered_and_older_replayed_event_does_not_win(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    source, tbl = table(pipeline_config, "public.customers")
    topic = source.topic_for(tbl)
    log = changelog(pipeline_config, tbl.name)
    # A key changed more than once: its first event is older than the stored row.
    counts = log.group_by("id").aggregate([(columns.OFFSET, "min"), (columns.OFFSET, "count")])
    updated = counts.filter(pc.greater(counts.column(f"{columns.OFFSET}_count"), 1))
    assert updated.num_rows > 0
    old_offset = updated.column(f"{columns.OFFSET}_min")[0].as_py()
    old = read_range(pipeline_config.kafka.bootstrap_servers, topic, {0: old_offset}, {0: old_offset + 1},
                     max_events=1, timeout=10).messages[0]

    delivered: list[tuple[bytes | None, int]] = []
    producer = make_producer(pipeline_config.kafka.bootstrap_servers)
    for key, value in ((b'{"not": "a debezium key"', b"\x00\x01 not json {{"), (old.key, old.value)):
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, msg: delivered.append((msg.value(), msg.offset())))
    assert producer.flush(10) == 0
    poison_offset = next(offset for value, offset in delivered if value and value.startswith(b"\x00"))
    replay_offset = next(offset for value, offset in delivered if value == old.value)

    letters_path = f"{pipeline_config.lake.root}/{pipeline_config.lake.dead_letter_table}"
    wait_for(lambda: DeltaTable.is_deltatable(letters_path), 90, "the dead-letter table")
    letters = DeltaTable(letters_path).to_pyarrow_table()
    mine = letters.filter(pc.and_(pc.equal(letters["topic"], topic), pc.equal(letters["offset"], poison_offset)))
    assert mine.num_rows == 1
    assert mine["value"][0].as_py() == b"\x00\x01 not json {{" and mine["stage"][0].as_py() == "decode"
    assert mine["error_message"][0].as_py()
    # the rest of the batch landed: the replayed event is in the changelog...
    wait_for(lambda: replay_offset in changelog(pipeline_config, tbl.name).column(columns.OFFSET).to_pylist(), 60,
             "the replayed event in the changelog")
    # ...and did not overwrite the newer stored row.
    assert_lake_equals_source(caught_up, pipeline_config, timeout=60)


def test_a_write_the_postgres_sink_refuses_is_dead_lettered_with_bytes_read_back_from_the_broker(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    # A run lets go of its raw messages once decoded (batch.apply_messages); a refused write reads the
    # refused message back from the broker for its dead letter. PostgreSQL text cannot hold NUL, so this
    # replayed (older) customer with a NUL in its name is refused by the postgres sink alone: Delta and
    # Iceberg take it as the stale event it is.
    source, tbl = table(pipeline_config, "public.customers")
    assert "postgres" in tbl.sinks
    topic = source.topic_for(tbl)
    first = changelog(pipeline_config, tbl.name).sort_by(columns.OFFSET)[columns.OFFSET][0].as_py()
    old = read_range(pipeline_config.kafka.bootstrap_servers, topic, {0: first}, {0: first + 1},
                     max_events=1, timeout=10).messages[0]
    envelope = json.loads(old.value or b"")
    row = envelope["payload"]["after"]
    text = next(name for name, value in row.items() if isinstance(value, str) and name != "id")
    row[text] = "nul\x00inside"
    value = json.dumps(envelope).encode()
    delivered: list[int] = []
    producer = make_producer(pipeline_config.kafka.bootstrap_servers)
    producer.produce(topic, key=old.key, value=value, on_delivery=lambda err, msg: delivered.append(msg.offset()))
    assert producer.flush(10) == 0 and delivered
    letters_path = f"{pipeline_config.lake.root}/{pipeline_config.lake.dead_letter_table}"

    def letter() -> pa.Table:
        if not DeltaTable.is_deltatable(letters_path):
            return pa.table({})
        letters = DeltaTable(letters_path).to_pyarrow_table()
        return letters.filter(pc.and_(pc.equal(letters["topic"], topic), pc.equal(letters["offset"], delivered[0])))

    wait_for(lambda: letter().num_rows > 0, 90, "the postgres sink's dead letter")
    mine = letter()
    assert mine.num_rows == 1, mine.to_pylist()
    assert mine["sink"][0].as_py() == "postgres" and mine["stage"][0].as_py() == "write"
    assert mine["value"][0].as_py() == value and mine["key"][0].as_py() == old.key
    assert_lake_equals_source(caught_up, pipeline_config, timeout=60)


def test_killing_an_ingest_run_mid_batch_loses_and_duplicates_nothing(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    def failed_runs() -> int:
        return sum(len(runs(caught_up, f"{s.name}.{t.name}", dg.DagsterRunStatus.FAILURE))
                   for s, t in pipeline_config.tables())

    failed_before = failed_runs()
    # The next run to reach this point (after its changelog commit, before current state) dies by SIGKILL.
    marker = failpoints.arm_once(caught_up.state_dir, "after_changelog_commit")
    dsn = postgres.dsn(caught_up, caught_up.pg_source_db)
    run_generator(dsn, rate=40.0, duration=4.0, seed=37)
    wait_for(lambda: not marker.exists(), 120, "an ingest run to hit the failpoint")
    assert_lake_equals_source(caught_up, pipeline_config)
    assert_no_offset_applied_twice(pipeline_config)
    # the killed run is visible in Dagster as a failure (run monitoring notices its worker died)
    wait_for(lambda: failed_runs() > failed_before, 120, "the killed run to be marked failed")
