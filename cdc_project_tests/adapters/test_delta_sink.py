"""Scope: what is Delta-specific in adapters/delta_sink.py and delta_tables.py, on real Delta tables in
tmp_path: Delta versions on replay, crashes between the changelog, current and tombstone commits (real
SIGKILLs at failpoints), soft-delete rows as stored, widening by rewrite, partition columns, Delta type
mapping, the topic ID's txn versions. The behaviour every sink shares is in test_sink_semantics.py."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.delta_tables import TxnAdvance, append, stored_topic_id, topic_id_app_id
from cdc_project.config import PartitionSpec, TableConfig
from cdc_project.core.columns import DELETED, EVENT_DATE
from cdc_project.core.delta_types import to_delta_compatible
from cdc_project.core.errors import ConfigError, SchemaChangeError
from cdc_project.core.lake_rows import changelog_rows
from cdc_project.core.merge_plan import last_offsets
from cdc_project.core.repair_rows import RepairRow, repair_batch
from cdc_project_tests.adapters.crash_resume import CRASH_CASES, crash_then_resume
from cdc_project_tests.change_rows import BATCH, DEFAULT_TOPIC, Event, make_rows


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


DELTA_SINK = """
import sys
from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.config import TableConfig
from cdc_project_tests.change_rows import DEFAULT_TOPIC
sink = DeltaTableSink(sys.argv[1], "shop", TableConfig(name="public.customers"), DEFAULT_TOPIC)
"""


@CRASH_CASES
def test_real_crash_mid_apply_then_resume_keeps_every_invariant(
    tmp_path: Path, failpoint: str, tombstoned: int
) -> None:
    sink = make_sink(tmp_path)
    result = crash_then_resume(sink, DELTA_SINK, [str(tmp_path / "lake")], failpoint)
    assert result.tombstoned_skipped == tombstoned
    assert DeltaTable(sink.tombstones.uri).to_pyarrow_table()["id"].to_pylist() == [1]


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


@pytest.mark.parametrize(
    ("policy", "stored_type"),
    [
        ("evolve", pa.int64()),  # the tables are rewritten at the wider type
        ("lenient", pa.int32()),  # values that fit are cast to the stored type
    ],
)
def test_widened_column_rewrites_or_casts_by_policy(
    tmp_path: Path, policy: str, stored_type: pa.DataType
) -> None:
    by_name = PartitionSpec(column="name", transform="identity")
    sink = make_sink(tmp_path, schema_policy=policy, partition_by=by_name)
    first = make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 1, 0)], data={"score": pa.array([1, 2], pa.int32())})
    sink.apply(first, ["id"])
    sink.apply(make_rows([("u", 1, "a", "03", 0, 1)], data={"score": pa.array([7], pa.int64())}), ["id"])
    assert {k: r["score"] for k, r in current(sink).items()} == {1: 7, 2: 2}
    for table in (sink.changelog, sink.current):
        dt = DeltaTable(table.uri)
        assert pa.schema(dt.schema().to_arrow()).field("score").type == stored_type
    # the rewrite keeps partitioning and the committed offsets, so a replay is still a no-op
    assert DeltaTable(sink.current.uri).metadata().partition_columns == ["_cdc_part_name_identity"]
    assert sink.committed_offsets() == {0: 1, 1: 0}
    before = versions(sink)
    sink.apply(make_rows([("u", 1, "a", "03", 0, 1)], data={"score": pa.array([7], pa.int64())}), ["id"])
    assert versions(sink) == before and changelog_count(sink) == 3


def test_soft_deleted_row_is_kept_marked_with_the_delete(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, deletes="soft")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 1)]), ["id"])
    row = current(sink)[1]
    assert (row[DELETED], row["name"], row["_cdc_op"], row["_cdc_position"]) == (True, "a", "d", "03")
    assert sink.read_current() is not None and sink.read_current().num_rows == 0


def test_time64_column_lands_as_string(tmp_path: Path) -> None:
    sink = make_sink(tmp_path)
    opens = {"opens_at": pa.array([time(9, 30)], pa.time64("us"))}
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=opens), ["id"])
    assert current(sink)[1]["opens_at"] == "09:30:00.000000"
    assert DeltaTable(sink.current.uri).schema().to_arrow().field("opens_at").type == pa.string()


def test_current_table_is_partitioned_by_the_derived_column(tmp_path: Path) -> None:
    sink = make_sink(tmp_path, partition_by=PartitionSpec(column="signed_up", transform="month"))
    signed_up = {"signed_up": pa.array([datetime(2024, 3, 9, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))}
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=signed_up), ["id"])
    assert DeltaTable(sink.current.uri).metadata().partition_columns == ["_cdc_part_signed_up_month"]
    assert DeltaTable(sink.changelog.uri).metadata().partition_columns == [EVENT_DATE]
    assert current(sink)[1]["_cdc_part_signed_up_month"] == "2024-03"


def test_topic_id_rides_as_txn_versions_in_every_tables_offsets_commit(tmp_path: Path) -> None:
    """The ID's characters, 8 to a txn version, in each table's commit; kept through commits without it, a
    widening rewrite and a checkpoint; a repair commit carries none."""
    topic_id = "/AAAAAAAAAAPwAAAAAAAAA"  # standard alphabet, as confluent-kafka prints it: read back as given
    sink = make_sink(tmp_path)
    first = make_rows([("c", 1, "a", "01", 0, 0)], data={"score": pa.array([1], pa.int32())})
    sink.apply(first, ["id"], topic_id=topic_id)
    chunks = [b"/AAAAAAA", b"AAAPwAAA", b"AAAAAA\0\0"]
    for table in (sink.changelog, sink.current, sink.tombstones):
        dt = DeltaTable(table.uri)
        versions = [dt.transaction_version(topic_id_app_id(DEFAULT_TOPIC, i)) for i in range(3)]
        assert versions == [int.from_bytes(c, "big") for c in chunks]
        assert stored_topic_id(dt, DEFAULT_TOPIC) == topic_id
    wider = make_rows([("u", 1, "a", "02", 0, 1)], data={"score": pa.array([2**40], pa.int64())})
    sink.apply(wider, ["id"])  # no ID; the table is rewritten at the wider type
    DeltaTable(sink.current.uri).create_checkpoint()
    fix, schema = RepairRow({"id": 1}, {"id": 1, "name": "x"}, "02"), pa.schema([("id", pa.int64()), ("name", pa.string())])
    sink.apply_repair(repair_batch([fix], schema, DEFAULT_TOPIC, datetime.now(UTC)), ["id"])
    assert DeltaTable(sink.current.uri).history(1)[0]["cdc.operation"] == "reconcile-repair"
    assert make_sink(tmp_path).committed_topic_id() == topic_id
