"""Scope: adapters/delta_sink.py (with delta_tables.py and dead_letter_table.py) on real Delta tables in
tmp_path: exactly-once offsets and replays, source order across batches, tombstones, hard and soft deletes,
schema evolution and refusal, keyless tables, unchanged-TOAST values, Delta type mapping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.delta_tables import TxnAdvance, append
from cdc_project.config import PartitionSpec, TableConfig
from cdc_project.core.columns import DELETED, EVENT_DATE
from cdc_project.core.delta_types import to_delta_compatible
from cdc_project.core.errors import ConfigError, SchemaChangeError
from cdc_project.core.lake_rows import changelog_rows
from cdc_project.core.merge_plan import last_offsets
from cdc_project_tests.change_rows import DEFAULT_TOPIC, Event, make_rows


def make_sink(tmp_path: Path, **options: Any) -> DeltaTableSink:
    table = TableConfig(name="public.customers", **options)
    return DeltaTableSink(str(tmp_path / "lake"), "shop", table, DEFAULT_TOPIC)


def current(sink: DeltaTableSink) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in DeltaTable(sink.current.uri).to_pyarrow_table().to_pylist()}


def names(sink: DeltaTableSink) -> dict[int, str | None]:
    return {key: row["name"] for key, row in current(sink).items()}


def versions(sink: DeltaTableSink) -> list[int | None]:
    tables = [sink.changelog, sink.current, sink.tombstones]
    return [dt.version() if (dt := t.open()) is not None else None for t in tables]


def changelog_count(sink: DeltaTableSink) -> int:
    return DeltaTable(sink.changelog.uri).count()


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # a burst on one key spread over two partitions and delivered out of order
        ([("u", 1, "b", "02", 1, 0), ("c", 1, "a", "01", 0, 0), ("u", 1, "c", "03", 0, 1)], {1: "c"}),
        # insert then delete in one batch: never visible
        ([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1), ("c", 2, "b", "03", 0, 2)], {2: "b"}),
        # delete then re-insert in one batch: present with the new value
        (
            [("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1), ("c", 1, "again", "03", 0, 2)],
            {1: "again"},
        ),
    ],
)
def test_apply_last_event_per_key_wins(tmp_path: Path, events: list[Event], expected: dict[int, str]) -> None:
    sink = make_sink(tmp_path)
    result = sink.apply(make_rows(events), ["id"])
    assert names(sink) == expected
    assert result.changelog_rows == len(events) == changelog_count(sink)


@pytest.mark.parametrize(
    ("late", "expected_name", "stale"),
    [
        (("u", 1, "older", "02", 1, 0), "newest", 1),  # lower position, later offset: refused
        (("u", 1, "again", "05", 1, 0), "newest", 1),  # equal position (a redelivered event): refused
        (("u", 1, "newer", "06", 1, 0), "newer", 0),  # a genuinely newer event applies
    ],
)
def test_older_event_in_later_batch_does_not_overwrite(
    tmp_path: Path, late: Event, expected_name: str, stale: int
) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "first", "01", 0, 0), ("u", 1, "newest", "05", 0, 1)]), ["id"])
    result = sink.apply(make_rows([late]), ["id"])
    assert names(sink) == {1: expected_name}
    assert result.stale_skipped == stale


BATCH: list[Event] = [
    ("c", 1, "a", "01", 0, 0),
    ("c", 2, "b", "02", 1, 0),
    ("u", 1, "a2", "03", 0, 1),
    ("d", 2, None, "04", 1, 1),
    ("c", 3, "c", "05", 0, 2),
]


@pytest.mark.parametrize(
    "replayed",
    [
        BATCH,  # the whole batch again
        BATCH[:2],  # a prefix
        [BATCH[4], BATCH[0]],  # a subset, shuffled
    ],
)
def test_replay_creates_no_version(tmp_path: Path, replayed: list[Event]) -> None:
    sink = make_sink(tmp_path)
    first = sink.apply(make_rows(BATCH), ["id"])
    before = versions(sink)
    result = sink.apply(make_rows(replayed), ["id"])
    assert versions(sink) == before
    assert (result.changelog_version, result.current_version, result.changelog_rows) == (None, None, 0)
    assert result.committed == first.committed == sink.committed_offsets() == {0: 2, 1: 1}
    assert names(sink) == {1: "a2", 3: "c"}
    assert changelog_count(sink) == len(BATCH)


def test_overlapping_range_applies_only_the_new_offsets(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows(BATCH[:3]), ["id"])
    result = sink.apply(make_rows(BATCH[1:]), ["id"])
    assert result.changelog_rows == 2
    assert changelog_count(sink) == len(BATCH)
    assert names(sink) == {1: "a2", 3: "c"}


def apply_changelog_only(sink: DeltaTableSink, rows: pa.Table) -> None:
    """The first commit of `apply` alone: what a crash right after the changelog commit leaves behind."""
    log_rows = changelog_rows(to_delta_compatible(rows), datetime.now(UTC))
    dt = sink.changelog.open() or sink.changelog.create(log_rows.schema, [EVENT_DATE])
    append(dt, log_rows, advance=TxnAdvance(DEFAULT_TOPIC, last_offsets(rows)))


def test_crash_between_changelog_and_current_leaves_no_duplicates(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows(BATCH[:2]), ["id"])
    apply_changelog_only(sink, make_rows(BATCH[2:]))
    assert sink.committed_offsets() == {0: 0, 1: 0}  # the laggards decide where the next run starts
    changelog_version = DeltaTable(sink.changelog.uri).version()

    result = sink.apply(make_rows(BATCH[1:]), ["id"])  # the resumed run re-reads from the laggard

    assert result.changelog_version is None
    assert DeltaTable(sink.changelog.uri).version() == changelog_version
    assert changelog_count(sink) == len(BATCH)
    assert names(sink) == {1: "a2", 3: "c"}
    assert result.committed == {0: 2, 1: 1}


def test_crash_before_the_first_current_commit_resumes_from_scratch(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    apply_changelog_only(sink, make_rows(BATCH))
    assert sink.committed_offsets() == {}
    sink.apply(make_rows(BATCH), ["id"])
    assert changelog_count(sink) == len(BATCH)
    assert names(sink) == {1: "a2", 3: "c"}


CRASH_SCRIPT = """
import json, sys
from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.config import TableConfig
from cdc_project_tests.change_rows import DEFAULT_TOPIC, make_rows
root, events = sys.argv[1], [tuple(e) for e in json.loads(sys.argv[2])]
sink = DeltaTableSink(root, "shop", TableConfig(name="public.customers"), DEFAULT_TOPIC)
sink.apply(make_rows(events), ["id"])
"""


def apply_and_crash(sink_root: Path, events: list[Event], failpoint: str) -> None:
    """Run `apply` in a child process that SIGKILLs itself at `failpoint` (cdc_project/failpoints.py)."""
    env = {**os.environ, "CDC_FAILPOINTS": failpoint}
    done = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(sink_root), json.dumps(events)], env=env)
    assert done.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("failpoint", "tombstoned"),
    [
        ("after_changelog_commit", 0),  # current never saw the delete: the fold orders the two events
        ("after_current_commit", 1),  # current applied the delete, the tombstone table did not: the guard
    ],
)
def test_real_crash_mid_apply_then_resume_keeps_every_invariant(
    tmp_path: Path, failpoint: str, tombstoned: int
) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    crashed: list[Event] = [("d", 1, None, "05", 0, 2)]
    apply_and_crash(tmp_path / "lake", crashed, failpoint)
    assert sink.committed_offsets() == {0: 1}  # a table still lacks offset 2: the next run starts there

    # The resumed run re-reads offset 2 and, from another partition, an event older than the delete.
    result = sink.apply(make_rows([*crashed, ("c", 1, "zombie", "03", 1, 0)]), ["id"])

    assert names(sink) == {2: "b"}
    assert result.tombstoned_skipped == tombstoned
    assert changelog_count(sink) == 4
    assert DeltaTable(sink.tombstones.uri).to_pyarrow_table()["id"].to_pylist() == [1]
    assert result.committed == {0: 2, 1: 0}


@pytest.mark.parametrize(
    ("late", "expected"),
    [
        (("c", 1, "zombie", "03", 1, 0), {}),  # older than the delete: stays deleted
        (("u", 1, "zombie", "05", 1, 0), {}),  # the delete's own position: stays deleted
        (("c", 1, "reborn", "07", 1, 0), {1: "reborn"}),  # newer: a genuine re-insert
    ],
)
def test_delete_then_late_older_insert_stays_deleted(
    tmp_path: Path, late: Event, expected: dict[int, str]
) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "05", 0, 1)]), ["id"])
    result = sink.apply(make_rows([late]), ["id"])
    assert names(sink) == expected
    assert result.tombstoned_skipped == (0 if expected else 1)


def test_purge_tombstones_removes_those_older_than_the_horizon(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 2), ("d", 2, None, "04", 0, 3)]), ["id"])
    assert sink.purge_tombstones(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert sink.purge_tombstones(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert DeltaTable(sink.tombstones.uri).count() == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        sink.purge_tombstones(datetime.now())


def test_soft_deletes_mark_rows_and_a_newer_insert_revives_them(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, deletes="soft")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 2)]), ["id"])
    rows = current(sink)
    assert (rows[1][DELETED], rows[1]["name"], rows[1]["_cdc_op"]) == (True, "a", "d")
    assert rows[2][DELETED] is False
    sink.apply(make_rows([("c", 1, "back", "04", 0, 3)]), ["id"])
    assert (current(sink)[1][DELETED], current(sink)[1]["name"]) == (False, "back")


ZIP = pa.struct([("zip", pa.int32())])
ZIP_CITY = pa.struct([("zip", pa.int32()), ("city", pa.string())])


@pytest.mark.parametrize(
    ("first", "second", "column", "expected"),
    [
        # a new top-level column: null for the rows the update did not touch
        ({}, {"email": pa.array(["a@x.org"])}, "email", {1: "a@x.org", 2: None}),
        # a new field inside a struct column (delta-rs MERGE needs the workaround in merge_current)
        (
            {"addr": pa.array([{"zip": 1}, {"zip": 2}], ZIP)},
            {"addr": pa.array([{"zip": 9, "city": "Oslo"}], ZIP_CITY)},
            "addr",
            {1: {"zip": 9, "city": "Oslo"}, 2: {"zip": 2, "city": None}},
        ),
    ],
)
def test_new_source_column_appears_in_changelog_and_current(
    tmp_path: Path,
    first: dict[str, pa.Array],
    second: dict[str, pa.Array],
    column: str,
    expected: dict[int, Any],
) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data=first), ["id"])
    sink.apply(make_rows([("u", 1, "a", "03", 0, 2)], data=second), ["id"])
    assert {k: r[column] for k, r in current(sink).items()} == expected
    assert column in DeltaTable(sink.changelog.uri).schema().to_arrow().names


SCORE_32 = {"score": pa.array([1], pa.int32())}


@pytest.mark.parametrize(
    ("policy", "second_data"),
    [
        ("evolve", {"score": pa.array(["high"])}),  # int -> string: incompatible under every policy
        ("strict", {**SCORE_32, "email": pa.array(["a@x.org"])}),  # strict refuses an added column
        ("strict", {"score": pa.array([2], pa.int64())}),  # ...and a widened one
        ("lenient", {"score": pa.array([2**40], pa.int64())}),  # a widened value the stored type cannot hold
    ],
)
def test_refused_schema_change_commits_nothing(
    tmp_path: Path, policy: str, second_data: dict[str, pa.Array]
) -> None:
    sink = make_sink(tmp_path, schema_policy=policy)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=SCORE_32), ["id"])
    before, committed = versions(sink), sink.committed_offsets()
    with pytest.raises(SchemaChangeError) as info:
        sink.apply(make_rows([("u", 1, "b", "02", 0, 1)], data=second_data), ["id"])
    assert info.value.table == "public.customers"
    assert versions(sink) == before
    assert sink.committed_offsets() == committed


def test_widened_values_that_fit_keep_the_stored_type(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=SCORE_32), ["id"])
    sink.apply(make_rows([("u", 1, "a", "02", 0, 1)], data={"score": pa.array([7], pa.int64())}), ["id"])
    assert current(sink)[1]["score"] == 7
    assert DeltaTable(sink.current.uri).schema().to_arrow().field("score").type == pa.int32()


def test_keyless_table_appends_inserted_rows_only(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, primary_key=[])
    events: list[Event] = [("c", 1, "a", "01", 0, 0), ("c", 1, "a", "02", 0, 1), ("u", 1, "b", "03", 0, 2),
                           ("d", 1, None, "04", 0, 3), ("r", 2, "s", "05", 0, 4)]
    result = sink.apply(make_rows(events), [])
    rows = DeltaTable(sink.current.uri).to_pyarrow_table().sort_by("_cdc_position").to_pylist()
    assert [(r["id"], r["_cdc_op"]) for r in rows] == [(1, "c"), (1, "c"), (2, "r")]
    assert (result.upserts, result.changelog_rows, result.committed) == (3, 5, {0: 4})
    assert sink.tombstones.open() is None
    before = versions(sink)
    sink.apply(make_rows(events), [])
    assert versions(sink) == before


def test_keyed_table_without_key_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="primary_key"):
        make_sink(tmp_path).apply(make_rows([("c", 1, "a", "01", 0, 0)]), [])


def test_unavailable_toast_value_keeps_the_stored_value(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "big document", "01", 0, 0)], data=SCORE_32), ["id"])
    update = make_rows(
        [("u", 1, None, "02", 0, 1), ("c", 2, None, "03", 0, 2)],
        data={"score": pa.array([9, 3], pa.int32())},
        unavailable=[["name"], ["name"]],
    )
    sink.apply(update, ["id"])
    got = {k: (r["name"], r["score"]) for k, r in current(sink).items()}
    assert got == {1: ("big document", 9), 2: (None, 3)}  # a new key has no stored value: null
    log = DeltaTable(sink.changelog.uri).to_pyarrow_table().sort_by("_cdc_position")
    assert log["_cdc_unavailable"].to_pylist() == [None, ["name"], ["name"]]  # the changelog keeps the list
    assert "_cdc_unavailable" not in current(sink)[1]


def test_time64_column_lands_as_string(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    opens = {"opens_at": pa.array([time(9, 30)], pa.time64("us"))}
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=opens), ["id"])
    assert current(sink)[1]["opens_at"] == "09:30:00.000000"
    assert DeltaTable(sink.current.uri).schema().to_arrow().field("opens_at").type == pa.string()


def test_consumed_through_commits_offsets_that_produced_no_rows(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"], consumed_through={0: 3})
    assert sink.committed_offsets() == {0: 3}
    before = versions(sink)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"], consumed_through={0: 3})
    assert versions(sink) == before
    result = sink.apply(make_rows([]), ["id"], consumed_through={0: 8, 1: 2})
    assert result.committed == {0: 8, 1: 2}
    with pytest.raises(ValueError, match="behind"):
        sink.apply(make_rows([("c", 1, "a", "09", 0, 12)]), ["id"], consumed_through={0: 10})


def test_batch_of_only_kafka_tombstones_moves_offsets_without_key_columns(tmp_path: Path) -> None:
    """The decoder gives meta columns only (no data columns, no key) when every message was a Kafka
    tombstone or a dead letter; the offsets must still move, or the sensor re-plans that range forever."""
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1)]), ["id"])
    meta_only = make_rows([]).drop_columns(["id", "name"])
    result = sink.apply(meta_only, [], consumed_through={0: 2})
    assert result.committed == {0: 2} and sink.committed_offsets() == {0: 2}
    assert current(sink) == {}


def test_committed_offsets_keep_partitions_a_later_batch_does_not_touch(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 2, 0)]), ["id"])
    result = sink.apply(make_rows([("u", 1, "a2", "03", 0, 1)]), ["id"])
    assert result.committed == sink.committed_offsets() == {0: 1, 2: 0}  # partition 1 never had an event


def test_current_table_is_partitioned_by_the_derived_column(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="month"))
    signed_up = {"signed_up": pa.array([datetime(2024, 3, 9, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))}
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=signed_up), ["id"])
    assert DeltaTable(sink.current.uri).metadata().partition_columns == ["_cdc_part_signed_up_month"]
    assert DeltaTable(sink.changelog.uri).metadata().partition_columns == [EVENT_DATE]
    assert current(sink)[1]["_cdc_part_signed_up_month"] == "2024-03"


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        (make_rows([("c", 1, "a", "01", 0, 0)], topic="shop.public.orders"), "topic"),  # another table's
        (make_rows([("c", 1, "a", "01", 0, 0)]).drop_columns(["_cdc_offset"]), "meta columns"),
        (make_rows([("x", 1, "a", "01", 0, 0)]), "Valid values"),  # an op outside the vocabulary
    ],
)
def test_apply_refuses_malformed_batches(tmp_path: Path, rows: pa.Table, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make_sink(tmp_path).apply(rows, ["id"])
