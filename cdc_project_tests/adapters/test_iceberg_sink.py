"""Scope: what is Iceberg-specific in adapters/iceberg_sink.py, iceberg_tables.py and iceberg_query.py, on
real Iceberg tables in a real SQLite SQL catalog under tmp_path: offsets and the topic ID in snapshot summaries
read back by a new sink, snapshots on replay, catalog naming, partition transforms and spec evolution, key-only deletes of
partitioned rows, crashes between the table commits (real SIGKILLs at failpoints), widening in place,
copy-on-write file rewrites, commit conflicts, and DuckDB reading the tables with the pinned extension.
The behaviour every sink shares is in test_sink_semantics.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from cdc_project.adapters import iceberg_query
from cdc_project.adapters.iceberg_sink import IcebergTableSink
from cdc_project.adapters.iceberg_tables import offsets_key, topic_id_key
from cdc_project.config import IcebergConfig, PartitionSpec, TableConfig
from cdc_project.core.columns import DELETED
from cdc_project.core.errors import ConfigError
from cdc_project.core.repair_rows import RepairRow, repair_batch
from cdc_project_tests.adapters.crash_resume import CRASH_CASES, crash_then_resume
from cdc_project_tests.change_rows import BATCH, DEFAULT_TOPIC, Event, make_rows

UTC_US = pa.timestamp("us", tz="UTC")
REPAIR_SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def make_sink(tmp_path: Path, **options: Any) -> IcebergTableSink:
    table = TableConfig(name="public.customers", sinks=["iceberg"], **options)
    return IcebergTableSink(IcebergConfig(), str(tmp_path / "lake"), "shop", table, DEFAULT_TOPIC)


def opened(sink: IcebergTableSink) -> list[Table]:
    tables = [t.open() for t in (sink.changelog, sink.current, sink.tombstones)]
    assert all(t is not None for t in tables)
    return [t for t in tables if t is not None]


def snapshot_ids(sink: IcebergTableSink) -> list[int | None]:
    return [s.snapshot_id if (s := t.current_snapshot()) else None for t in opened(sink)]


def names(sink: IcebergTableSink) -> dict[int, str | None]:
    rows = sink.read_current()
    return {} if rows is None else {r["id"]: r["name"] for r in rows.to_pylist()}


def data_files(table: Table) -> set[str]:
    return {task.file.file_path for task in table.scan().plan_files()}


def test_offsets_ride_in_each_tables_snapshot_summary_and_a_new_sink_reads_them(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    result = sink.apply(make_rows(BATCH), ["id"])
    for table in opened(sink):
        snapshot = table.current_snapshot()
        assert snapshot is not None and snapshot.summary is not None
        assert json.loads(snapshot.summary.additional_properties[offsets_key(DEFAULT_TOPIC)]) == {
            "0": 2,
            "1": 1,
        }
    assert result.changelog_version == snapshot_ids(sink)[0]
    assert make_sink(tmp_path).committed_offsets() == {0: 2, 1: 1}  # another process, another catalog handle


@pytest.mark.parametrize(
    "replayed",
    [
        BATCH,  # the whole batch again
        BATCH[:2],  # a prefix
        [BATCH[4], BATCH[0]],  # a subset, shuffled
    ],
)
def test_replay_commits_no_snapshot(tmp_path: Path, replayed: list[Event]) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows(BATCH), ["id"])
    before = snapshot_ids(sink)
    result = sink.apply(make_rows(replayed), ["id"])
    assert snapshot_ids(sink) == before
    assert (result.changelog_version, result.current_version) == (None, None)


def test_tables_are_named_from_source_schema_and_table(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows(BATCH), ["id"])
    catalog = sink.current.catalog
    assert sorted(catalog.list_tables("shop_public")) == [
        ("shop_public", "customers"),
        ("shop_public", "customers__changelog"),
        ("shop_public", "customers__tombstones"),
    ]
    assert sink.location == "cdc.shop_public.customers"
    assert (tmp_path / "lake" / "_iceberg" / "catalog.db").is_file()


def signed_up(*days: int | None) -> dict[str, pa.Array]:
    return {
        "signed_up": pa.array(
            [None if d is None else datetime(2024, 3, d, 8, tzinfo=UTC) for d in days], UTC_US
        )
    }


@pytest.mark.parametrize("transform", ["day", "month", "year", "identity"])
def test_current_table_partition_spec_is_the_configured_transform(tmp_path: Path, transform: str) -> None:
    by = PartitionSpec(column="signed_up", transform=transform)  # type: ignore[arg-type]
    sink = make_sink(tmp_path, partition_by=by)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=signed_up(9)), ["id"])
    changelog, current, _ = opened(sink)
    field = current.spec().fields[0]
    assert (current.schema().find_column_name(field.source_id), str(field.transform)) == (
        "signed_up",
        transform,
    )
    log_field = changelog.spec().fields[0]
    assert (changelog.schema().find_column_name(log_field.source_id), str(log_field.transform)) == (
        "_cdc_event_date",
        "identity",
    )
    assert "_cdc_part_signed_up_" + transform not in current.schema().column_names  # no derived column


def test_calendar_transform_of_a_non_temporal_column_is_refused(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="name", transform="day"))
    with pytest.raises(ConfigError, match="identity"):
        sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])


def test_partition_by_added_later_evolves_the_spec_and_keeps_rows(tmp_path: Path) -> None:
    make_sink(tmp_path).apply(make_rows([("c", 1, "a", "01", 0, 0)], data=signed_up(9)), ["id"])
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="day"))
    sink.apply(make_rows([("c", 2, "b", "02", 0, 1)], data=signed_up(10)), ["id"])
    current = opened(sink)[1]
    assert [str(f.transform) for f in current.spec().fields] == ["day"]
    assert names(sink) == {1: "a", 2: "b"}


def test_key_only_delete_of_a_partitioned_row_removes_it_where_it_is_stored(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="day"))
    first = make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data=signed_up(9, 10))
    sink.apply(first, ["id"])
    current = opened(sink)[1]
    day_10 = {t.file.file_path for t in current.scan(row_filter="id = 2").plan_files()}
    # A delete with REPLICA IDENTITY DEFAULT carries only the key: the partition column is null.
    sink.apply(make_rows([("d", 1, None, "03", 0, 2)], data=signed_up(None)), ["id"])
    current = opened(sink)[1]
    assert names(sink) == {2: "b"}
    assert day_10 <= data_files(current)  # the other day's file is untouched
    assert len(data_files(current)) == 1


def test_update_moving_a_row_to_another_partition_leaves_no_copy_behind(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="day"))
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=signed_up(9)), ["id"])
    sink.apply(make_rows([("u", 1, "moved", "02", 0, 1)], data=signed_up(20)), ["id"])
    rows = sink.read_current()
    assert rows is not None and rows.to_pylist()[0]["signed_up"].day == 20 and rows.num_rows == 1


def test_stale_batch_rewrites_no_file_and_only_moves_offsets(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "05", 0, 0), ("c", 2, "b", "05", 0, 1)]), ["id"])
    before = data_files(opened(sink)[1])
    result = sink.apply(make_rows([("u", 1, "old", "02", 1, 0)]), ["id"])
    assert result.stale_skipped == 1 and result.current_version is not None
    assert data_files(opened(sink)[1]) == before
    assert sink.committed_offsets() == {0: 1, 1: 0}


def test_update_rewrites_only_the_file_holding_the_key(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("c", 500, "b", "02", 0, 1)]), ["id"])  # a second file, key bounds [500, 500]
    current = opened(sink)[1]
    (untouched,) = {t.file.file_path for t in current.scan(row_filter="id = 500").plan_files()}
    sink.apply(make_rows([("u", 1, "a2", "03", 0, 2)]), ["id"])
    assert untouched in data_files(opened(sink)[1])
    assert names(sink) == {1: "a2", 500: "b"}


ICEBERG_SINK = """
import sys
from cdc_project.adapters.iceberg_sink import IcebergTableSink
from cdc_project.config import IcebergConfig, TableConfig
from cdc_project_tests.change_rows import DEFAULT_TOPIC
table = TableConfig(name="public.customers", sinks=["iceberg"])
sink = IcebergTableSink(IcebergConfig(), sys.argv[1], "shop", table, DEFAULT_TOPIC)
"""


@CRASH_CASES
def test_real_crash_mid_apply_then_resume_keeps_every_invariant(
    tmp_path: Path, failpoint: str, tombstoned: int
) -> None:
    sink = make_sink(tmp_path)
    result = crash_then_resume(sink, ICEBERG_SINK, [str(tmp_path / "lake")], failpoint)
    assert result.tombstoned_skipped == tombstoned
    assert opened(sink)[2].scan().to_arrow()["id"].to_pylist() == [1]


@pytest.mark.parametrize(
    ("policy", "stored_type"),
    [
        ("evolve", "long"),  # widened in place: same field id, new schema, no rewrite
        ("lenient", "int"),  # values that fit are cast to the stored type
    ],
)
def test_widened_column_widens_in_place_or_casts_by_policy(
    tmp_path: Path, policy: str, stored_type: str
) -> None:
    sink = make_sink(tmp_path, schema_policy=policy)
    first = make_rows(
        [("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 1, 0)], data={"score": pa.array([1, 2], pa.int32())}
    )
    sink.apply(first, ["id"])
    field_ids = [t.schema().find_field("score").field_id for t in opened(sink)[:2]]
    widening = make_rows([("u", 1, "a", "03", 0, 1)], data={"score": pa.array([7], pa.int64())})
    sink.apply(widening, ["id"])
    for table, field_id in zip(opened(sink)[:2], field_ids, strict=True):
        field = table.schema().find_field("score")
        assert (str(field.field_type), field.field_id) == (stored_type, field_id)
    rows = sink.read_current()
    assert rows is not None and {r["id"]: r["score"] for r in rows.to_pylist()} == {1: 7, 2: 2}
    before = snapshot_ids(sink)
    sink.apply(widening, ["id"])
    assert snapshot_ids(sink) == before


def test_soft_deleted_row_is_kept_marked_with_the_delete(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, deletes="soft")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 1)]), ["id"])
    (row,) = opened(sink)[1].scan().to_arrow().to_pylist()
    assert (row[DELETED], row["name"], row["_cdc_op"], row["_cdc_position"]) == (True, "a", "d", "03")


def test_purge_snapshot_restates_the_offsets(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1)]), ["id"])
    assert sink.purge_tombstones(datetime.now(UTC) + timedelta(seconds=1)) == 1
    snapshot = opened(sink)[2].current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert json.loads(snapshot.summary.additional_properties[offsets_key(DEFAULT_TOPIC)]) == {"0": 1}


def test_snapshot_of_another_writer_without_offsets_hides_nothing(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows(BATCH), ["id"])
    current = opened(sink)[1]
    current.append(current.scan().to_arrow().slice(0, 0))  # e.g. a compaction: a snapshot with no offsets
    assert sink.committed_offsets() == {0: 2, 1: 1}
    assert sink.apply(make_rows(BATCH), ["id"]).current_version is None


def test_concurrent_commit_fails_instead_of_retrying_with_stale_offsets(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    changelog = opened(sink)[0]
    stale = changelog.transaction()
    stale.set_properties({"stale": "writer"})
    stale.append(changelog.scan().to_arrow().slice(0, 0))
    sink.apply(make_rows([("c", 2, "b", "02", 0, 1)]), ["id"])  # another writer commits first
    with pytest.raises(CommitFailedException):
        stale.commit_transaction()
    assert sink.committed_offsets() == {0: 1}


def test_duckdb_reads_current_changelog_and_an_older_snapshot_without_downloading(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="month"))
    first = sink.apply(
        make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data=signed_up(9, 10)), ["id"]
    )
    sink.apply(
        make_rows([("u", 1, "a2", "03", 0, 2), ("d", 2, None, "04", 0, 3)], data=signed_up(9, None)), ["id"]
    )
    changelog, current, _ = opened(sink)
    con = iceberg_query.connect()
    assert con.sql(f"select id, name from {iceberg_query.scan(current)} order by id").fetchall() == [
        (1, "a2")
    ]
    assert con.sql(f"select count(*) from {iceberg_query.scan(changelog)}").fetchall() == [(4,)]
    older = iceberg_query.scan(current, first.current_version)
    assert con.sql(f"select id, name from {older} order by id").fetchall() == [(1, "a"), (2, "b")]


def test_topic_id_rides_in_the_summary_with_the_offsets_and_every_snapshot_restates_it(tmp_path: Path) -> None:
    """A summary is per snapshot: an apply without an ID, a repair and a purge restate the stored one next to
    the offsets, so it is read from the same summary as the offsets and expiring older snapshots loses neither."""
    topic_id = "kZ3yQq1xTfKo0pZ7B2rW3g"
    sink = make_sink(tmp_path)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"], topic_id=topic_id)
    sink.apply(make_rows([("d", 2, None, "03", 0, 2)]), ["id"])
    fix = RepairRow({"id": 1}, {"id": 1, "name": "x"}, "01")
    sink.apply_repair(repair_batch([fix], REPAIR_SCHEMA, DEFAULT_TOPIC, datetime.now(UTC)), ["id"])
    assert sink.purge_tombstones(datetime.now(UTC) + timedelta(seconds=1)) == 1
    for table in opened(sink):
        snapshot = table.current_snapshot()
        assert snapshot is not None and snapshot.summary is not None
        summary = snapshot.summary.additional_properties
        assert (json.loads(summary[offsets_key(DEFAULT_TOPIC)]), summary[topic_id_key(DEFAULT_TOPIC)]) == (
            {"0": 2},
            topic_id,
        )
    assert make_sink(tmp_path).committed_topic_id() == topic_id
