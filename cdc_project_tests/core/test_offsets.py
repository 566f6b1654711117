"""Offset planning and the ingest decision (pure): ranges, continuity of the sink's offsets with the topic
(topic ID, truncation, retention), run keys, one run per table."""

from __future__ import annotations

import pytest

from cdc_project.core.errors import OffsetRegressionError, TopicRecreatedError
from cdc_project.core.offsets import (
    PartitionRange,
    TopicState,
    check_continuity,
    decide_ingest,
    decode_ranges,
    plan_ranges,
)


@pytest.mark.parametrize(
    ("committed", "ends", "max_events", "expected"),
    [
        # nothing applied yet: read from offset 0
        ({}, {0: 5}, None, [PartitionRange(0, 0, 5)]),
        # applied through 4: next start is 5
        ({0: 4}, {0: 9}, None, [PartitionRange(0, 5, 9)]),
        # caught up (committed through a commit marker at end - 1): nothing to do for that partition
        ({0: 8, 1: 2}, {0: 9, 1: 10}, None, [PartitionRange(1, 3, 10)]),
        # the batch budget caps the plan across partitions
        ({}, {0: 10, 1: 10}, 15, [PartitionRange(0, 0, 10), PartitionRange(1, 0, 5)]),
    ],
)
def test_plan_ranges_cases(committed, ends, max_events, expected) -> None:
    plan = plan_ranges("t", committed, ends, max_events=max_events)
    assert (None if plan is None else list(plan.ranges)) == expected


ID = "mIbLriIUTri1Bu-vPKRKxA"


def _state(ends: dict[int, int], starts: dict[int, int] | None = None, topic_id: str = ID) -> TopicState:
    return TopicState("shop.public.orders", topic_id, starts or {p: 0 for p in ends}, ends)


@pytest.mark.parametrize(
    ("state", "stored", "committed"),
    [
        (_state({0: 10}), ID, {0: 9}),  # caught up through a marker at 9
        (_state({0: 10}), ID, {0: 3}),  # behind
        (_state({0: 10}), None, {0: 9}),  # no ID stored yet (an older sink, or only `cdc apply`): offsets only
        (_state({0: 10}, {0: 4}), ID, {0: 3}),  # the log starts right after what was applied
        (None, None, {}),  # nothing committed, no topic yet
        (_state({0: 0}), ID, {}),
    ],
)
def test_continuity_holds(state: TopicState | None, stored: str | None, committed: dict[int, int]) -> None:
    check_continuity("shop.public.orders", state, stored, committed)


def test_recreated_topic_names_both_ids_even_when_the_new_log_grew_past_the_offsets() -> None:
    with pytest.raises(TopicRecreatedError) as info:
        check_continuity("shop.public.orders", _state({0: 500}, topic_id="NEWxLriIUTri1Bu-vPKRKx"), ID, {0: 149})
    err = info.value
    assert (err.stored_id, err.current_id, err.committed) == (ID, "NEWxLriIUTri1Bu-vPKRKx", {0: 149})
    assert ID in str(err) and "NEWxLriIUTri1Bu-vPKRKx" in str(err) and "149" in str(err)
    assert "make reset" in str(err)


@pytest.mark.parametrize(
    ("state", "committed", "broker_end", "says"),
    [
        (_state({0: 3}), {0: 149}, 3, "ends at 3"),  # truncated / shrunk log
        (_state({0: 200}, {0: 160}), {0: 149}, 200, "were deleted (retention)"),  # a gap before the log start
        (_state({0: 10}), {1: 4}, 0, "partition does not exist"),
        (None, {0: 4}, 0, "topic does not exist"),
    ],
)
def test_offset_regression_names_topic_partition_offsets(
    state: TopicState | None, committed: dict[int, int], broker_end: int, says: str
) -> None:
    with pytest.raises(OffsetRegressionError) as info:
        check_continuity("shop.public.orders", state, ID, committed)
    err = info.value
    partition, offset = next(iter(committed.items()))
    assert (err.topic, err.partition, err.committed, err.broker_end) == ("shop.public.orders", partition, offset, broker_end)
    assert f"shop.public.orders[{partition}]" in str(err) and str(offset) in str(err) and says in str(err)


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
