"""Scope: the contract every sink keeps (adapters/table_sink.py), one table-driven suite run against each
sink kind on its real storage: last event per key wins, an older event never overwrites or resurrects,
replays are no-ops that commit nothing, offsets move past messages that made no row, TOAST-unchanged
values keep the stored value, schema evolution and refusal, hard/soft deletes, keyless tables,
reconciliation repairs (apply_repair) ordered among real events without touching offsets or the changelog,
and the topic ID stored with the offsets (kept, replaced, left alone by repairs and replays, refused malformed).

Only the TableSink interface is used here; storage-specific checks live in each sink's own test module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cdc_project.adapters.table_sink import ApplyResult, TableSink
from cdc_project.core.columns import DELETED, OP, POSITION, UNAVAILABLE
from cdc_project.core.errors import ConfigError, RepairRefusedError, SchemaChangeError
from cdc_project.core.repair_rows import RepairRow, repair_batch
from cdc_project_tests.change_rows import BATCH, Event, make_rows
from cdc_project_tests.sink_configs import build_sink, sink_params

MakeSink = Callable[..., TableSink]


@pytest.fixture(params=sink_params())
def make_sink(request: pytest.FixtureRequest, tmp_path: Path) -> MakeSink:
    def build(*, with_changelog: bool = True, **table: Any) -> TableSink:
        return build_sink(request.param, tmp_path, request, with_changelog=with_changelog, **table)

    return build


def current(sink: TableSink) -> dict[int, dict[str, Any]]:
    rows = sink.read_current()
    return {} if rows is None else {r["id"]: r for r in rows.to_pylist()}


def names(sink: TableSink) -> dict[int, str | None]:
    return {key: row["name"] for key, row in current(sink).items()}


def changelog_count(sink: TableSink) -> int:
    log = sink.read_changelog([OP])
    return 0 if log is None else log.num_rows


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # a burst on one key spread over two partitions and delivered out of order
        ([("u", 1, "b", "02", 1, 0), ("c", 1, "a", "01", 0, 0), ("u", 1, "c", "03", 0, 1)], {1: "c"}),
        # insert then delete in one batch: never visible
        ([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1), ("c", 2, "b", "03", 0, 2)], {2: "b"}),
        # delete then re-insert in one batch: present with the new value
        ([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1), ("c", 1, "again", "03", 0, 2)], {1: "again"}),
    ],
)
def test_sink_last_event_per_key_wins(make_sink: MakeSink, events: list[Event], expected: dict[int, str]) -> None:
    sink = make_sink()
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
def test_sink_older_event_in_later_batch_does_not_overwrite(
    make_sink: MakeSink, late: Event, expected_name: str, stale: int
) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "first", "01", 0, 0), ("u", 1, "newest", "05", 0, 1)]), ["id"])
    result = sink.apply(make_rows([late]), ["id"])
    assert names(sink) == {1: expected_name}
    assert result.stale_skipped == stale


@pytest.mark.parametrize(
    "replayed",
    [
        BATCH,  # the whole batch again
        BATCH[:2],  # a prefix
        [BATCH[4], BATCH[0]],  # a subset, shuffled
    ],
)
def test_sink_replay_commits_nothing(make_sink: MakeSink, replayed: list[Event]) -> None:
    sink = make_sink()
    first = sink.apply(make_rows(BATCH), ["id"])
    result = sink.apply(make_rows(replayed), ["id"])
    assert (result.changelog_version, result.current_version, result.changelog_rows) == (None, None, 0)
    assert result.committed == first.committed == sink.committed_offsets() == {0: 2, 1: 1}
    assert names(sink) == {1: "a2", 3: "c"}
    assert changelog_count(sink) == len(BATCH)


def test_sink_overlapping_range_applies_only_the_new_offsets(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows(BATCH[:3]), ["id"])
    result = sink.apply(make_rows(BATCH[1:]), ["id"])
    assert result.changelog_rows == 2
    assert changelog_count(sink) == len(BATCH)
    assert names(sink) == {1: "a2", 3: "c"}


@pytest.mark.parametrize(
    ("late", "expected"),
    [
        (("c", 1, "zombie", "03", 1, 0), {}),  # older than the delete: stays deleted
        (("u", 1, "zombie", "05", 1, 0), {}),  # the delete's own position: stays deleted
        (("c", 1, "reborn", "07", 1, 0), {1: "reborn"}),  # newer: a genuine re-insert
    ],
)
def test_sink_delete_then_late_older_insert_stays_deleted(
    make_sink: MakeSink, late: Event, expected: dict[int, str]
) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "05", 0, 1)]), ["id"])
    result = sink.apply(make_rows([late]), ["id"])
    assert names(sink) == expected
    assert result.tombstoned_skipped == (0 if expected else 1)


def test_sink_purge_tombstones_removes_those_older_than_the_horizon(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 2), ("d", 2, None, "04", 0, 3)]), ["id"])
    assert sink.purge_tombstones(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert sink.purge_tombstones(datetime.now(UTC) + timedelta(seconds=1)) == 2
    # with the tombstones gone, an event older than the deletes resurrects (the documented trade-off)
    sink.apply(make_rows([("c", 1, "zombie", "02", 1, 0)]), ["id"])
    assert names(sink) == {1: "zombie"}
    with pytest.raises(ValueError, match="timezone-aware"):
        sink.purge_tombstones(datetime.now())


def test_sink_soft_deletes_hide_rows_and_a_newer_insert_revives_them(make_sink: MakeSink) -> None:
    sink = make_sink(deletes="soft")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 2)]), ["id"])
    assert names(sink) == {2: "b"}
    assert current(sink)[2][DELETED] is False
    sink.apply(make_rows([("c", 1, "back", "04", 0, 3)]), ["id"])
    assert names(sink) == {1: "back", 2: "b"}


ZIP = pa.struct([("zip", pa.int32())])
ZIP_CITY = pa.struct([("zip", pa.int32()), ("city", pa.string())])


@pytest.mark.parametrize(
    ("first", "second", "column", "expected"),
    [
        # a new top-level column: null for the rows the update did not touch
        ({}, {"email": pa.array(["a@x.org"])}, "email", {1: "a@x.org", 2: None}),
        # a new field inside a struct column
        (
            {"addr": pa.array([{"zip": 1}, {"zip": 2}], ZIP)},
            {"addr": pa.array([{"zip": 9, "city": "Oslo"}], ZIP_CITY)},
            "addr",
            {1: {"zip": 9, "city": "Oslo"}, 2: {"zip": 2, "city": None}},
        ),
    ],
)
def test_sink_new_source_column_appears_in_changelog_and_current(
    make_sink: MakeSink, first: dict[str, pa.Array], second: dict[str, pa.Array], column: str,
    expected: dict[int, Any],
) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data=first), ["id"])
    sink.apply(make_rows([("u", 1, "a", "03", 0, 2)], data=second), ["id"])
    assert {k: r[column] for k, r in current(sink).items()} == expected
    log = sink.read_changelog()
    assert log is not None and column in log.column_names


SCORE_32 = {"score": pa.array([1], pa.int32())}


@pytest.mark.parametrize(
    ("policy", "second_data"),
    [
        ("evolve", {"score": pa.array(["high"])}),  # int -> string: incompatible under every policy
        ("strict", {**SCORE_32, "email": pa.array(["a@x.org"])}),  # strict refuses an added column
        ("strict", {"score": pa.array([2], pa.int64())}),  # ...and a widened one
        ("lenient", {"score": pa.array([2**40], pa.int64())}),  # lenient keeps int: a value it cannot hold
    ],
)
def test_sink_refused_schema_change_commits_nothing(
    make_sink: MakeSink, policy: str, second_data: dict[str, pa.Array]
) -> None:
    sink = make_sink(schema_policy=policy)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=SCORE_32), ["id"])
    committed = sink.committed_offsets()
    with pytest.raises(SchemaChangeError) as info:
        sink.apply(make_rows([("u", 1, "b", "02", 0, 1)], data=second_data), ["id"])
    assert info.value.table == "public.customers"
    assert sink.committed_offsets() == committed
    assert changelog_count(sink) == 1 and names(sink) == {1: "a"}


@pytest.mark.parametrize(
    ("column", "first", "wider"),
    [
        ("score", pa.array([1, 2], pa.int32()), pa.array([2**40], pa.int64())),  # int -> bigint
        ("ratio", pa.array([0.5, 1.5], pa.float32()), pa.array([1e300], pa.float64())),  # float -> double
        # decimal precision up, same scale
        ("price", pa.array([Decimal("1.50"), Decimal("2.00")], pa.decimal128(5, 2)),
         pa.array([Decimal("123456789.25")], pa.decimal128(12, 2))),
    ],
)
def test_sink_widened_type_flows_through(make_sink: MakeSink, column: str, first: pa.Array, wider: pa.Array) -> None:
    """Under the evolve policy a value only the wider type holds lands, in the changelog too."""
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data={column: first}), ["id"])
    sink.apply(make_rows([("u", 1, "a", "03", 0, 2)], data={column: wider}), ["id"])
    assert {k: r[column] for k, r in current(sink).items()} == {1: wider[0].as_py(), 2: first[1].as_py()}
    log = sink.read_changelog([POSITION, column])
    assert log is not None and log.sort_by(POSITION)[column].to_pylist()[-1] == wider[0].as_py()


@pytest.mark.parametrize(
    ("first", "wider", "refused"),
    [
        (pa.array([1.5], pa.float32()), pa.array([2.25], pa.float64()), False),  # fits a float: cast
        (pa.array([1.5], pa.float32()), pa.array([1e300], pa.float64()), True),  # would be inf
        (pa.array([1.5], pa.float32()), pa.array([0.1], pa.float64()), True),  # would lose digits
    ],
)
def test_sink_lenient_casts_widened_floats_only_when_exact(
    make_sink: MakeSink, first: pa.Array, wider: pa.Array, refused: bool
) -> None:
    sink = make_sink(schema_policy="lenient")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data={"ratio": first}), ["id"])
    update = make_rows([("u", 1, "a", "02", 0, 1)], data={"ratio": wider})
    if refused:
        with pytest.raises(SchemaChangeError, match="ratio"):
            sink.apply(update, ["id"])
        assert current(sink)[1]["ratio"] == first[0].as_py()
    else:
        sink.apply(update, ["id"])
        assert current(sink)[1]["ratio"] == wider[0].as_py()


def test_sink_keyless_table_appends_inserted_rows_only(make_sink: MakeSink) -> None:
    sink = make_sink(primary_key=[])
    events: list[Event] = [("c", 1, "a", "01", 0, 0), ("c", 1, "a", "02", 0, 1), ("u", 1, "b", "03", 0, 2),
                           ("d", 1, None, "04", 0, 3), ("r", 2, "s", "05", 0, 4)]
    result = sink.apply(make_rows(events), [])
    rows = sink.read_current()
    assert rows is not None
    assert sorted((r["id"], r[OP]) for r in rows.to_pylist()) == [(1, "c"), (1, "c"), (2, "r")]
    assert (result.upserts, result.changelog_rows, result.committed) == (3, 5, {0: 4})
    again = sink.apply(make_rows(events), [])
    assert (again.changelog_version, again.current_version) == (None, None)


def test_sink_keyed_table_without_key_columns_is_refused(make_sink: MakeSink) -> None:
    with pytest.raises(ConfigError, match="primary_key"):
        make_sink().apply(make_rows([("c", 1, "a", "01", 0, 0)]), [])


def test_sink_unavailable_toast_value_keeps_the_stored_value(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "big document", "01", 0, 0)], data=SCORE_32), ["id"])
    update = make_rows(
        [("u", 1, None, "02", 0, 1), ("c", 2, None, "03", 0, 2)],
        data={"score": pa.array([9, 3], pa.int32())},
        unavailable=[["name"], ["name"]],
    )
    sink.apply(update, ["id"])
    got = {k: (r["name"], r["score"]) for k, r in current(sink).items()}
    assert got == {1: ("big document", 9), 2: (None, 3)}  # a new key has no stored value: null
    log = sink.read_changelog([POSITION, UNAVAILABLE])
    assert log is not None
    assert log.sort_by(POSITION)[UNAVAILABLE].to_pylist() == [None, ["name"], ["name"]]
    assert UNAVAILABLE not in current(sink)[1]


def test_sink_consumed_through_commits_offsets_that_produced_no_rows(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"], consumed_through={0: 3})
    assert sink.committed_offsets() == {0: 3}
    again = sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"], consumed_through={0: 3})
    assert (again.changelog_version, again.current_version) == (None, None)
    result = sink.apply(make_rows([]), ["id"], consumed_through={0: 8, 1: 2})
    assert result.committed == {0: 8, 1: 2}
    with pytest.raises(ValueError, match="behind"):
        sink.apply(make_rows([("c", 1, "a", "09", 0, 12)]), ["id"], consumed_through={0: 10})


def test_sink_batch_of_only_kafka_tombstones_moves_offsets_without_key_columns(make_sink: MakeSink) -> None:
    """The decoder gives meta columns only (no data columns, no key) when every message was a Kafka
    tombstone or a dead letter; the offsets must still move, or the sensor re-plans that range forever."""
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("d", 1, None, "02", 0, 1)]), ["id"])
    meta_only = make_rows([]).drop_columns(["id", "name"])
    result = sink.apply(meta_only, [], consumed_through={0: 2})
    assert result.committed == {0: 2} and sink.committed_offsets() == {0: 2}
    assert current(sink) == {}


def test_sink_committed_offsets_keep_partitions_a_later_batch_does_not_touch(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 2, 0)]), ["id"])
    result = sink.apply(make_rows([("u", 1, "a2", "03", 0, 1)]), ["id"])
    assert result.committed == sink.committed_offsets() == {0: 1, 2: 0}  # partition 1 never had an event


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        (make_rows([("c", 1, "a", "01", 0, 0)], topic="shop.public.orders"), "topic"),  # another table's
        (make_rows([("c", 1, "a", "01", 0, 0)]).drop_columns(["_cdc_offset"]), "meta columns"),
        (make_rows([("x", 1, "a", "01", 0, 0)]), "Valid values"),  # an op outside the vocabulary
    ],
)
def test_sink_refuses_malformed_batches(make_sink: MakeSink, rows: pa.Table, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make_sink().apply(rows, ["id"])


def test_sink_without_changelog_keeps_the_same_state_and_offsets(make_sink: MakeSink) -> None:
    """A table's second sink does not write the changelog (the first sink holds it) but agrees on state."""
    sink = make_sink(with_changelog=False)
    result = sink.apply(make_rows(BATCH), ["id"])
    assert sink.read_changelog() is None and result.changelog_rows == 0
    assert names(sink) == {1: "a2", 3: "c"}
    assert result.committed == sink.committed_offsets() == {0: 2, 1: 1}
    again = sink.apply(make_rows(BATCH), ["id"])
    assert again.current_version is None


@pytest.mark.parametrize("first_batch", [True, False])
def test_sink_truncate_only_batch_commits_its_offset_and_keeps_rows(make_sink: MakeSink, first_batch: bool) -> None:
    """A truncate decodes to a row with meta columns only (no data, no key): it goes to the changelog, the
    current table keeps its rows (documented), and its offset commits - as a table's first batch too."""
    sink = make_sink()
    offset = 0
    if not first_batch:
        sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
        offset = 1
    truncate = make_rows([("t", None, None, f"{offset + 2:02d}", 0, offset)]).drop_columns(["id", "name"])
    result = sink.apply(truncate, [], consumed_through={0: offset})
    assert result.committed == sink.committed_offsets() == {0: offset}
    assert result.changelog_rows == 1
    assert names(sink) == ({} if first_batch else {1: "a"})
def _repair(sink: TableSink, rows: list[RepairRow]) -> ApplyResult:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    return sink.apply_repair(repair_batch(rows, schema, sink.topic, datetime.now(UTC)), ["id"])


def test_sink_repair_resyncs_keys_without_moving_offsets_or_the_changelog(make_sink: MakeSink) -> None:
    sink = make_sink()
    sink.apply(make_rows(BATCH), ["id"])  # state {1: a2 @03, 3: c @05}; key 2 deleted @04
    committed, logged = sink.committed_offsets(), changelog_count(sink)
    result = _repair(sink, [
        RepairRow({"id": 1}, {"id": 1, "name": "fixed"}, "03"),  # altered in the lake
        RepairRow({"id": 2}, {"id": 2, "name": "back"}, "04"),  # missing from the lake, tombstoned there
        RepairRow({"id": 3}, None, "05"),  # gone from the source: deleted, with a tombstone
        RepairRow({"id": 9}, {"id": 9, "name": "new"}, None),  # a key the lake never held
    ])
    assert names(sink) == {1: "fixed", 2: "back", 9: "new"}
    assert (result.upserts, result.deletes, result.changelog_rows) == (3, 1, 0)
    assert sink.committed_offsets() == result.committed == committed
    assert changelog_count(sink) == logged
    tombstones = sink.read_tombstones()
    assert tombstones is not None
    assert {r["id"]: r[POSITION] for r in tombstones.to_pylist()} == {2: "04", 3: "05r"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (("u", 1, "real", "04", 0, 3), "real"),  # a later real change beats the repair
        (("u", 1, "older", "02", 0, 3), "fixed"),  # an older one does not
    ],
)
def test_sink_repair_is_ordered_among_real_events(make_sink: MakeSink, event: Event, expected: str) -> None:
    sink = make_sink()
    sink.apply(make_rows(BATCH), ["id"])
    _repair(sink, [RepairRow({"id": 1}, {"id": 1, "name": "fixed"}, "03")])
    sink.apply(make_rows([event]), ["id"])
    assert names(sink)[1] == expected


def test_sink_repair_from_a_stale_lake_state_is_skipped(make_sink: MakeSink) -> None:
    """A repair read before a newer event reached the lake must not overwrite it."""
    sink = make_sink()
    sink.apply(make_rows(BATCH), ["id"])
    result = _repair(sink, [RepairRow({"id": 1}, {"id": 1, "name": "stale"}, "01")])
    assert names(sink)[1] == "a2" and result.stale_skipped == 1


def test_sink_repair_of_a_keyless_table_is_refused(make_sink: MakeSink) -> None:
    sink = make_sink(primary_key=[])
    with pytest.raises(RepairRefusedError, match="keyless"):
        _repair(sink, [RepairRow({"id": 1}, {"id": 1, "name": "x"}, None)])


ID_A = "kZ3yQq1xTfKo0pZ7B2rW3g"  # Kafka's URL-safe alphabet, as the Java tools print an ID
ID_B = "/AAAAAAAAAAPwAAAAAAAAA"  # the standard alphabet, as confluent-kafka's str(Uuid) prints one
Step = tuple[str, str | None]  # what the step does, the topic_id it passes


def _step(sink: TableSink, index: int, step: Step) -> None:
    """Step `index` of a history: every step but a replay commits above the offsets of the one before."""
    kind, topic_id = step
    if kind == "rows":
        rows = make_rows([("c" if index == 0 else "u", 1, f"v{index}", f"{10 + index:02d}", 0, 2 * index)])
        sink.apply(rows, ["id"], topic_id=topic_id)
    elif kind == "offsets only":  # no rows; partition 0 moves, partition 1 gets its first offsets row
        sink.apply(make_rows([]), ["id"], consumed_through={0: 2 * index, 1: index}, topic_id=topic_id)
    elif kind == "replay":  # step 0's batch again: commits nothing
        sink.apply(make_rows([("c", 1, "v0", "10", 0, 0)]), ["id"], topic_id=topic_id)
    elif kind == "repair":
        _repair(sink, [RepairRow({"id": 9}, {"id": 9, "name": "new"}, None)])
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([("rows", ID_A)], [ID_A]),  # stored by an apply, read back
        ([("rows", ID_A), ("rows", None)], [ID_A, ID_A]),  # kept by an apply without one
        ([("rows", ID_A), ("offsets only", None)], [ID_A, ID_A]),  # ...that only moves offsets, too
        ([("rows", ID_A), ("rows", ID_B)], [ID_A, ID_B]),  # replaced by another ID
        ([("rows", ID_B), ("rows", ID_B)], [ID_B, ID_B]),  # the same ID again
        ([("rows", ID_A), ("repair", None)], [ID_A, ID_A]),  # a repair leaves it alone
        ([("rows", None), ("offsets only", ID_A)], [None, ID_A]),  # stored later, by an offsets-only commit
        ([("rows", ID_A), ("replay", ID_B)], [ID_A, ID_A]),  # a replay commits nothing, its ID included
        (
            [("rows", ID_A), ("offsets only", ID_B), ("repair", None), ("rows", None)],
            [ID_A, ID_B, ID_B, ID_B],
        ),
    ],
)
def test_sink_topic_id_is_stored_with_the_offsets(
    make_sink: MakeSink, history: list[Step], expected: list[str | None]
) -> None:
    sink = make_sink()
    assert sink.committed_topic_id() is None  # before the first apply
    seen = []
    for index, step in enumerate(history):
        _step(sink, index, step)
        seen.append(sink.committed_topic_id())
    assert seen == expected


@pytest.mark.parametrize(
    ("table", "with_changelog", "key_columns"),
    [
        ({"primary_key": []}, True, []),  # keyless: no tombstone table
        ({}, False, ["id"]),  # a table's second sink: no changelog
    ],
)
def test_sink_topic_id_in_every_table_layout(
    make_sink: MakeSink, table: dict[str, Any], with_changelog: bool, key_columns: list[str]
) -> None:
    sink = make_sink(with_changelog=with_changelog, **table)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), key_columns, topic_id=ID_A)
    sink.apply(make_rows([("c", 2, "b", "02", 0, 1)]), key_columns)
    assert sink.committed_topic_id() == ID_A
    sink.apply(make_rows([("c", 3, "c", "03", 0, 2)]), key_columns, topic_id=ID_B)
    assert sink.committed_topic_id() == ID_B


@pytest.mark.parametrize(
    "malformed",
    [
        "kZ3yQq1xTfKo0pZ7B2rW3g==",  # padded
        "kZ3yQq1xTfKo0pZ7B2rW3",  # too short
        "91a6eaa9-4b3c-4a8e-bd7a-6b0c3f8d2e11",  # the hyphenated hex form
        "kZ3yQq1xTfKo0pZ7B2rW3!",  # outside both base64 alphabets
        "None",  # str(None)
        "",
    ],
)
def test_sink_refuses_a_malformed_topic_id_before_writing(make_sink: MakeSink, malformed: str) -> None:
    sink = make_sink()
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"], topic_id=ID_A)
    with pytest.raises(ValueError, match="topic ID"):
        sink.apply(make_rows([("u", 1, "b", "02", 0, 1)]), ["id"], topic_id=malformed)
    assert (sink.committed_offsets(), sink.committed_topic_id(), names(sink)) == ({0: 0}, ID_A, {1: "a"})
