"""Offset planning and the ingest decision (pure): ranges, regression, run keys, one run per table."""

from __future__ import annotations

import pytest

from cdc_project.core.errors import OffsetRegressionError
from cdc_project.core.offsets import PartitionRange, decide_ingest, decode_ranges, plan_ranges


@pytest.mark.parametrize(
    ("committed", "ends", "max_events", "expected"),
    [
        # nothing applied yet: read from offset 0
        ({}, {0: 5}, None, [PartitionRange(0, 0, 5)]),
        # applied through 4: next start is 5
        ({0: 4}, {0: 9}, None, [PartitionRange(0, 5, 9)]),
        # caught up (or an under-reported end): nothing to do for that partition
        ({0: 8, 1: 2}, {0: 9, 1: 10}, None, [PartitionRange(1, 3, 10)]),
        # the batch budget caps the plan across partitions
        ({}, {0: 10, 1: 10}, 15, [PartitionRange(0, 0, 10), PartitionRange(1, 0, 5)]),
        # the local broker under-reports the end: committed past it is not a regression by itself
        ({0: 149}, {0: 101}, None, None),
    ],
)
def test_plan_ranges_cases(committed, ends, max_events, expected) -> None:
    plan = plan_ranges("t", committed, ends, max_events=max_events)
    assert (None if plan is None else list(plan.ranges)) == expected


def test_plan_ranges_regression_names_topic_partition_offsets() -> None:
    with pytest.raises(OffsetRegressionError) as info:
        plan_ranges("shop.public.orders", {0: 149}, {0: 3}, missing_committed=frozenset({0}))
    err = info.value
    assert (err.topic, err.partition, err.committed, err.broker_end) == ("shop.public.orders", 0, 149, 3)
    assert "shop.public.orders[0]" in str(err) and "149" in str(err)


def test_ranges_encode_round_trip() -> None:
    plan = plan_ranges("t", {0: 4}, {0: 9, 1: 3})
    assert plan is not None
    assert decode_ranges("t", plan.encode()) == plan


@pytest.mark.parametrize(
    ("in_flight", "failed", "has_plan", "run_key", "reason"),
    [
        # a run in flight blocks a second one for the same table
        ("run-1", 0, True, None, "still in flight"),
        # caught up: skip with a reason
        (None, 0, False, None, "caught up"),
        # the same range planned twice gets the same key (Dagster dedups the repeated tick)
        (None, 0, True, "shop.public.t|0:5-9|attempt-1", None),
        # a failed range is retried by a run with a new key
        (None, 2, True, "shop.public.t|0:5-9|attempt-3", None),
    ],
)
def test_decide_ingest_cases(in_flight, failed, has_plan, run_key, reason) -> None:
    plan = plan_ranges("t", {0: 4}, {0: 9}) if has_plan else None
    decision = decide_ingest("shop.public.t", plan, in_flight_run=in_flight, failed_attempts=failed)
    assert decision.run_key == run_key
    if reason:
        assert reason in (decision.skip_reason or "")
