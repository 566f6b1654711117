"""Offset ranges, run keys and the ingest decision: which Kafka offsets the next micro-batch reads.

Conventions (Kafka's): a sink's *committed* offset for a partition is the last offset it read through (the
Delta txn version; possibly a transaction's commit marker, which is never delivered); the next run starts at
committed + 1. A broker *end* offset is exclusive (the last stable offset for a read_committed client).

Continuity (`check_continuity`, before every plan and every run): the sink's offsets belong to the log it
reads only if the topic ID it stored with them is the topic's ID now, every committed offset is below the
partition's end and no partition's first offset has passed committed + 1. Otherwise the stream stops with
an error naming both IDs and the offsets: skipping ahead would lose data, starting over would re-apply it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cdc_project.core.errors import OffsetRegressionError, TopicRecreatedError


@dataclass(frozen=True)
class TopicState:
    """What the broker says of a topic now (kafka_source.topic_state)."""

    topic: str
    topic_id: str
    starts: Mapping[int, int]  # partition -> first offset still in the log
    ends: Mapping[int, int]  # partition -> end offset (exclusive)


def check_continuity(
    topic: str, state: TopicState | None, stored_topic_id: str | None, committed: Mapping[int, int]
) -> None:
    """Raise unless the sink's committed offsets continue the topic's log as it is now.

    `stored_topic_id` None (a sink written before topic IDs were stored, or only by `cdc apply`) skips the
    ID check; the next commit stores the ID.
    """
    if not committed:
        return
    if state is None:
        partition, offset = min(committed.items())
        raise OffsetRegressionError(topic, partition, offset, 0, reason="the topic does not exist")
    if stored_topic_id is not None and stored_topic_id != state.topic_id:
        raise TopicRecreatedError(state.topic, stored_topic_id, state.topic_id, dict(committed), dict(state.ends))
    for partition, offset in sorted(committed.items()):
        if partition not in state.ends:
            raise OffsetRegressionError(state.topic, partition, offset, 0, reason="the partition does not exist")
        if offset + 1 > state.ends[partition]:
            raise OffsetRegressionError(state.topic, partition, offset, state.ends[partition])
        if offset + 1 < state.starts.get(partition, 0):
            raise OffsetRegressionError(
                state.topic, partition, offset, state.ends[partition],
                reason=f"the log now starts at {state.starts[partition]}: offsets {offset + 1}.."
                f"{state.starts[partition] - 1} were deleted (retention) before the sink applied them",
            )


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    start: int  # first offset to read
    end: int  # exclusive planned end (the broker's end offset when planned)


@dataclass(frozen=True)
class OffsetPlan:
    topic: str
    ranges: tuple[PartitionRange, ...]

    @property
    def starts(self) -> dict[int, int]:
        return {r.partition: r.start for r in self.ranges}

    @property
    def ends(self) -> dict[int, int]:
        return {r.partition: r.end for r in self.ranges}

    @property
    def planned_events(self) -> int:
        return sum(r.end - r.start for r in self.ranges)

    def encode(self) -> str:
        """Stable text form: the run key stem and the run's config/tag value."""
        return ",".join(f"{r.partition}:{r.start}-{r.end}" for r in self.ranges)


def decode_ranges(topic: str, text: str) -> OffsetPlan:
    ranges = []
    for part in filter(None, text.split(",")):
        partition, span = part.split(":")
        start, end = span.split("-")
        ranges.append(PartitionRange(int(partition), int(start), int(end)))
    return OffsetPlan(topic, tuple(ranges))


def next_start(committed: Mapping[int, int], partition: int) -> int:
    return committed.get(partition, -1) + 1


def plan_ranges(
    topic: str,
    committed: Mapping[int, int],
    ends: Mapping[int, int],
    max_events: int | None = None,
) -> OffsetPlan | None:
    """The ranges with unread offsets, or None when every partition is caught up (after check_continuity)."""
    ranges = []
    budget = max_events
    for partition in sorted(ends):
        start = next_start(committed, partition)
        end = ends[partition]
        if end <= start:
            continue
        if budget is not None:
            if budget <= 0:
                break
            end = min(end, start + budget)
            budget -= end - start
        ranges.append(PartitionRange(partition, start, end))
    return OffsetPlan(topic, tuple(ranges)) if ranges else None


@dataclass(frozen=True)
class IngestDecision:
    plan: OffsetPlan | None
    run_key: str | None
    skip_reason: str | None


def decide_ingest(
    table_key: str,
    plan: OffsetPlan | None,
    *,
    in_flight_run: str | None,
    failed_attempts: int,
) -> IngestDecision:
    """One run per table at a time; a repeated tick yields the same run_key (so Dagster dedups it).

    `failed_attempts` counts earlier failed runs that started at the same offsets: it is part of the run
    key so that a failed range is retried by a new run instead of being deduplicated away forever.
    """
    if in_flight_run is not None:
        return IngestDecision(None, None, f"run {in_flight_run} for {table_key} is still in flight")
    if plan is None:
        return IngestDecision(None, None, f"{table_key} is caught up")
    run_key = f"{table_key}|{plan.encode()}|attempt-{failed_attempts + 1}"
    return IngestDecision(plan, run_key, None)


def encode_offsets(offsets: Mapping[int, int]) -> str:
    return json.dumps({str(k): v for k, v in sorted(offsets.items())})
