"""Offset ranges, run keys and the ingest decision: which Kafka offsets the next micro-batch reads.

Conventions (Kafka's): a sink's *committed* offset for a partition is the last offset it applied (the Delta
txn version); the next run starts at committed + 1. A broker *end* offset is exclusive.

The local broker under-reports end offsets (last batch's base offset + 1), so committed >= end is normal
when caught up; only a probe of the committed offset itself can tell "caught up" from "the topic lost
data" (OffsetRegressionError). That probe result comes in as `missing_committed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cdc_project.core.errors import OffsetRegressionError


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
    missing_committed: frozenset[int] = frozenset(),
    max_events: int | None = None,
) -> OffsetPlan | None:
    """The ranges with unread offsets, or None when every partition is caught up.

    Raises OffsetRegressionError when the sink has applied an offset the broker no longer has: skipping
    ahead would lose data and starting over would re-apply it, so a human must decide.
    """
    for partition in sorted(missing_committed):
        if partition in committed:
            raise OffsetRegressionError(topic, partition, committed[partition], ends.get(partition, 0))
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
