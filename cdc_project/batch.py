"""One micro-batch of one table: read an offset range, decode, apply to the lake, dead-letter the rest.

This is the application service the Dagster asset calls (the asset body stays glue). It holds the
batch-level invariants:
- the run starts from the sink's committed offsets, never from the plan's starts blindly: a plan made
  before a crashed run is still safe to execute (already-applied offsets are skipped by the sink);
- a message that cannot be decoded, or a batch whose schema change the table's policy refuses, goes to the
  dead-letter table, and the offsets still advance so the stream is not blocked;
- dead letters are written *before* the data commit that advances offsets past them, so a crash between
  the two re-runs the batch and writes them once more, which the dead-letter table dedupes (never loses one).
"""

from __future__ import annotations

import ctypes
import dataclasses
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.adapters import kafka_source
from cdc_project.adapters.dead_letter_table import write_dead_letters
from cdc_project.adapters.sinks import sink_for
from cdc_project.adapters.table_sink import ApplyResult, TableSink
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core import columns
from cdc_project.core.dead_letters import DeadLetter, to_arrow
from cdc_project.core.events import DecodedBatch, DecodeOptions, RawMessage, decode_batch
from cdc_project.core.merge_plan import drop_redelivered, lowest_streamed_position
from cdc_project.core.offsets import OffsetPlan, check_continuity, plan_ranges
from cdc_project.refused_writes import Coordinates, ReadRaw, apply_or_dead_letter


@dataclass(frozen=True)
class BatchResult:
    table: str
    sink: SinkKind
    topic: str
    events: int
    changelog_rows: int
    upserts: int
    deletes: int
    dead_letters: int
    skipped: int
    stale_skipped: int
    first_offsets: dict[int, int]
    last_offsets: dict[int, int]
    lag_offsets: int
    lag_seconds_p50: float | None
    lag_seconds_p95: float | None
    lag_seconds_max: float | None
    fetch_seconds: float
    duration_seconds: float
    append_only: bool
    ends_after: dict[int, int]  # the topic's end offsets read after the commit: the next batch plans from them
    apply: ApplyResult = field(repr=False)


def _lag_seconds(rows: pa.Table, committed_at: datetime) -> tuple[float | None, float | None, float | None]:
    if rows.num_rows == 0 or columns.SOURCE_TS not in rows.column_names:
        return None, None, None
    source_ts = rows.column(columns.SOURCE_TS).drop_null()
    if len(source_ts) == 0:
        return None, None, None
    now = pa.scalar(committed_at, type=pa.timestamp("us", tz="UTC"))
    lag_us = pc.subtract(now, source_ts).cast(pa.int64())
    seconds = pc.divide(lag_us.cast(pa.float64()), 1_000_000.0)
    p50, p95 = pc.quantile(seconds, q=[0.5, 0.95]).to_pylist()
    return float(p50), float(p95), float(pc.max(seconds).as_py())


def run_batch(
    config: PipelineConfig, source: SourceConfig, table: TableConfig, plan: OffsetPlan, sink_kind: SinkKind
) -> BatchResult:
    began = time.monotonic()
    kafka = config.kafka
    sink = sink_for(config, source, table, sink_kind)
    committed = sink.committed_offsets()
    state = kafka_source.topic_state(kafka, plan.topic)
    # The sink's offsets must continue this very log (same topic ID, nothing truncated): else stop, loudly.
    check_continuity(plan.topic, state, sink.committed_topic_id(), committed)
    topic_id = None if state is None else state.topic_id
    # Start from what the sink has, not from the plan: a re-executed run after a crash resumes exactly.
    starts = {p: committed.get(p, -1) + 1 for p in plan.ends}
    read = kafka_source.read_range(
        kafka,
        plan.topic,
        starts,
        plan.ends,
        max_events=config.ingest.max_batch_events,
        timeout=config.ingest.fetch_timeout_seconds,
    )
    events = len(read.messages)

    def read_again(coordinates: Sequence[Coordinates]) -> list[RawMessage]:
        return kafka_source.read_messages(kafka, plan.topic, coordinates, config.ingest.fetch_timeout_seconds)

    applied = apply_messages(
        config, source, table, sink, read.messages, read.last_offsets, read_again=read_again, topic_id=topic_id
    )
    apply_result = applied.result
    lag_p50, lag_p95, lag_max = _lag_seconds(applied.decoded.rows, datetime.now(UTC))
    ends_now = kafka_source.end_offsets(kafka, plan.topic)
    lag_offsets = sum(max(0, ends_now.get(p, 0) - (read.last_offsets.get(p, starts[p] - 1) + 1)) for p in starts)
    first = {p: starts[p] for p in read.last_offsets}
    return BatchResult(
        table=table.name,
        sink=sink_kind,
        topic=plan.topic,
        events=events,
        changelog_rows=apply_result.changelog_rows,
        upserts=apply_result.upserts,
        deletes=apply_result.deletes,
        dead_letters=applied.dead_letters,
        skipped=applied.decoded.skipped,
        stale_skipped=apply_result.stale_skipped + apply_result.tombstoned_skipped,
        first_offsets=first,
        last_offsets=dict(read.last_offsets),
        lag_offsets=lag_offsets,
        lag_seconds_p50=lag_p50,
        lag_seconds_p95=lag_p95,
        lag_seconds_max=lag_max,
        fetch_seconds=read.fetch_seconds,
        duration_seconds=time.monotonic() - began,
        append_only=table.append_only,
        ends_after=ends_now,
        apply=apply_result,
    )


def follow_batches(
    config: PipelineConfig, source: SourceConfig, table: TableConfig, plan: OffsetPlan, sink_kind: SinkKind
) -> Iterator[BatchResult]:
    """`plan`'s batch, then the batches that arrived meanwhile, until caught up or `follow_seconds` passed.

    Each batch is a `run_batch` of its own: one commit with its offsets, planned from what the sink
    committed, so a run that dies between batches resumes exactly where the sink stands.
    """
    began = time.monotonic()
    next_plan: OffsetPlan | None = plan
    while next_plan is not None:
        result = run_batch(config, source, table, next_plan, sink_kind)
        yield result
        if time.monotonic() - began >= config.ingest.follow_seconds:
            return
        # The next batch plans from the ends this one read after its commit; its own run_batch checks the
        # topic's continuity again before it reads.
        committed = result.apply.committed
        next_plan = plan_ranges(plan.topic, committed, result.ends_after, max_events=config.ingest.max_batch_events)


@dataclass(frozen=True)
class Applied:
    decoded: DecodedBatch
    result: ApplyResult
    dead_letters: int


def apply_messages(
    config: PipelineConfig,
    source: SourceConfig,
    table: TableConfig,
    sink: TableSink,
    messages: list[RawMessage],
    consumed_through: dict[int, int],
    *,
    read_again: ReadRaw | None = None,
    topic_id: str | None = None,
) -> Applied:
    """Decode one table's messages and apply them to one sink in one commit with their offsets.

    The shared step of a Dagster run (after its Kafka read) and `cdc apply` (after reading a file), so
    both go through exactly the same code. Dead letters are written *before* the commit that moves the
    offsets past them: a crash between the two re-runs the batch and writes them once (the dead-letter
    table dedupes by offset), never loses them.

    With `read_again` (the messages are still in the broker) `messages` is emptied once decoded: the raw
    bytes, most of a large batch's memory, are freed before the sink's merge needs its own; a refused
    write reads back the messages it dead-letters.
    """
    key_override = table.primary_key if table.primary_key is not None else None
    options = DecodeOptions(declared=table.columns, binary_handling_mode=source.binary_handling_mode)
    decoded = decode_batch(messages, source_kind=source.kind, key_override=key_override, options=options)
    coordinates = [(m.partition, m.offset) for m in messages]
    if read_again is None:
        held = dict(zip(coordinates, messages, strict=True))
        read_again = lambda wanted: [held[c] for c in wanted]
    else:
        messages.clear()  # the caller's list too: it hands the batch over
        _return_freed_memory()
    # The decoder does not know the table's name; dead letters are queried by it.
    letters = [dataclasses.replace(letter, table=letter.table or table.name) for letter in decoded.dead_letters]
    _write_letters(config, letters)
    rows = decoded.rows
    lowest = lowest_streamed_position(rows) if table.append_only or not decoded.key_columns else None
    if lowest is not None:
        # Keyless rows are appended, so an event the capture delivered again (after a crash, under a new
        # offset) would be a duplicate: it is recognised by its source position. Keyed tables need no
        # lookup: their ordered merge makes a redelivered event a no-op.
        rows = drop_redelivered(rows, sink.stored_positions(lowest))
    # What the sink refuses for good (a schema its policy forbids, rows its storage cannot hold) goes to
    # dead letters and the offsets move on, so later batches (after a fix) are not blocked.
    result, refused = apply_or_dead_letter(
        sink, rows, decoded.key_columns, coordinates, read_again, consumed_through, table.name,
        lambda found: _write_letters(config, found),
        topic_id,
    )
    return Applied(decoded, result, len(letters) + len(refused))


def _return_freed_memory() -> None:
    """Give the pages of freed raw messages back to the OS (glibc keeps them otherwise): the sink's merge
    allocates through its own allocator and could not reuse them, so the run's peak would be their sum."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc: nothing to trim
        pass


def _write_letters(config: PipelineConfig, letters: list[DeadLetter]) -> None:
    if letters:
        write_dead_letters(
            config.lake.root,
            to_arrow(letters),
            table_name=config.lake.dead_letter_table,
            storage_options=config.lake.resolved_storage_options() or None,
        )
