"""ingest: the project's whole micro-batch path, from messages already in the broker to a committed sink
version with offsets (cdc_project/batch.run_batch), events/s, per sink kind.

Each sink kind in SINK_KINDS gets its own tables, seeded once with the base rows through the sink itself
(`TableSink.apply`, as if the rows came from the topic `benchseed.public.t`). Each timed run then reads one
workload batch from its own fresh topic (JsonConverter envelopes with schemas, produced before the clock
starts) and runs `run_batch` over exactly that offset range; the topic is deleted afterwards so the broker
holds one batch at a time. Every run reports where its time went (bench/stages.py).

Every sink is built by `sinks.sink_for(config, source, table, kind)`, as a Dagster run builds it; the
PostgreSQL sink writes to the database `bench_sink` on the bench stack's cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient

from bench.context import LABELS, BatchLabel, Context
from bench.registry import Figure, Figures, case, rate
from bench.stages import breakdown, stage_times
from bench.workload import SEED_TOPIC, TABLE, Batch, with_topic
from cdc_project.adapters.kafka_source import ensure_topics, make_producer
from cdc_project.adapters.sinks import sink_for
from cdc_project.adapters.table_sink import TableSink
from cdc_project.batch import BatchResult, run_batch
from cdc_project.config import PipelineConfig, SinkKind, parse_config
from cdc_project.core.offsets import OffsetPlan, PartitionRange
from cdc_project.stack import postgres

SINK_KINDS: tuple[SinkKind, ...] = ("delta", "iceberg", "postgres")
SINK_DATABASE = "bench_sink"  # the postgres sink's target database on the stack's cluster
KEYS = tuple(f"ingest.{kind}.{label}" for kind in SINK_KINDS for label in LABELS)


def bench_config(ctx: Context, kind: SinkKind, lake_root: str, topic_prefix: str) -> PipelineConfig:
    """One source `bench` with one table `public.t` written to `kind`; the topic is `<prefix>.public.t`.

    Every prefix shares the same sink tables (their location depends on the source name, not the topic), so
    a run over a fresh topic applies to the tables seeded under another.
    """
    settings = ctx.stack.settings
    raw: dict[str, Any] = {
        "name": "bench",
        "kafka": {"bootstrap_servers": settings.kafka_bootstrap},
        "lake": {"root": lake_root},
        "ingest": {"max_batch_events": max(ctx.sizes.large_batch, 1), "fetch_timeout_seconds": 60},
        "sources": [
            {"name": "bench", "kind": "postgres", "host": settings.host, "port": settings.ports.postgres,
             "database": "bench", "user": settings.pg_user, "topic_prefix": topic_prefix,
             "tables": [{"name": TABLE, "sinks": [kind]}]},
        ],
    }  # fmt: skip
    if kind == "postgres":
        raw["postgres_sink"] = {"host": settings.host, "port": settings.ports.postgres, "database": SINK_DATABASE,
                                "user": settings.pg_user, "password_env": "CDC_PG_PASSWORD"}  # fmt: skip
    return parse_config(raw)


def seeded_sink(ctx: Context, kind: SinkKind, lake_root: str) -> TableSink:
    """The base rows applied through the `kind` sink."""
    if kind == "postgres":
        postgres.ensure_database(ctx.stack.settings, SINK_DATABASE)
    config = bench_config(ctx, kind, lake_root, SEED_TOPIC.removesuffix(f".{TABLE}"))
    source = config.sources[0]
    sink = sink_for(config, source, source.tables[0], kind)
    base = ctx.workload.base_rows
    sink.apply(with_topic(base, SEED_TOPIC), ("id",), consumed_through={0: max(base.num_rows - 1, 0)})
    return sink


def produce(bootstrap: str, topic: str, batch: Batch) -> None:
    ensure_topics(bootstrap, [topic], partitions=1)
    producer = make_producer(bootstrap)
    for key, value in batch.envelopes(schemas=True):
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:  # the client's queue is full: let it deliver, then retry this message
                producer.poll(0.5)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"bench: the broker did not take {left} messages of {topic}")


def drop_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # held until the futures resolve
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result(timeout=30)


@dataclass(frozen=True)
class TimedRun:
    result: BatchResult
    seconds: float
    stages: dict[str, float]


def ingest_once(ctx: Context, kind: SinkKind, lake_root: str, prefix: str, batch: Batch) -> TimedRun:
    """Produce `batch` to a fresh topic, then time `run_batch` over exactly its offsets."""
    config = bench_config(ctx, kind, lake_root, prefix)
    source = config.sources[0]
    topic = source.topic_for(source.tables[0])
    bootstrap = config.kafka.bootstrap_servers
    produce(bootstrap, topic, batch)
    try:
        plan = OffsetPlan(topic, (PartitionRange(0, 0, batch.size),))
        with stage_times() as stages:
            began = time.perf_counter()
            result = run_batch(config, source, source.tables[0], plan, kind)
            seconds = time.perf_counter() - began
    finally:
        drop_topic(bootstrap, topic)
    if result.events != batch.size or result.dead_letters:
        raise RuntimeError(
            f"bench: {topic} ingested {result.events} events, {result.dead_letters} dead letters"
        )
    return TimedRun(result, seconds, breakdown(stages, seconds))


def _figure(ctx: Context, label: BatchLabel, runs: list[TimedRun]) -> Figure:
    median_run = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    apply_seconds = median_run.stages.get("apply") or 0.0
    info = {
        "batch_events": ctx.batch_size(label),
        "table_rows": ctx.sizes.table_rows,
        "stages_of_median_run": median_run.stages,
        # the sink's own rate in the median run: its apply alone, without fetch and decode
        "apply_events_per_second": round(median_run.result.events / apply_seconds) if apply_seconds else None,
    }
    return Figure("events/s", tuple(rate(r.result.events, r.seconds) for r in runs), info)


@case("ingest", needs="broker", keys=KEYS)
def ingest_case(ctx: Context) -> Figures:
    """run_batch over each timed batch, into every sink kind."""
    figures: Figures = {}
    for kind in SINK_KINDS:
        lake_root = str(ctx.scratch(f"ingest-{kind}"))
        seeded_sink(ctx, kind, lake_root)
        runs: dict[BatchLabel, list[TimedRun]] = {label: [] for label in LABELS}
        for label, batch in ctx.batches():
            runs[label].append(ingest_once(ctx, kind, lake_root, f"bench{kind}{batch.index}", batch))
        figures.update({f"ingest.{kind}.{label}": _figure(ctx, label, runs[label]) for label in LABELS})
    return figures
