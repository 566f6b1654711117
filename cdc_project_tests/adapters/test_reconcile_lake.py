"""Scope: the lake sides of reconciliation (adapters/reconcile_lake.py) on real Delta tables: the Delta
pushdown (DuckDB delta_scan) and the generic side over any sink's Arrow rows answer every question
identically; soft-deleted rows are not content; a key's state covers its row and its tombstone; the
extension is loaded from the pinned wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.duckdb_conn import connect, extension_path
from cdc_project.adapters.reconcile_lake import DuckDbLake, arrow_generic, delta_pushdown
from cdc_project.core.key_ranges import WHOLE, KeyRange
from cdc_project.core.reconcile_plan import SourceColumn, plan_comparison
from cdc_project_tests.change_rows import Event, make_rows
from cdc_project_tests.sink_configs import build_sink

PLAN = plan_comparison(
    "public.customers",
    [SourceColumn("id", "int8", "bigint"), SourceColumn("name", "text", "text")],
    ["id"],
    {"id", "name"},
)
EVENTS: list[Event] = [
    ("c", 1, "a", "01", 0, 0),
    ("c", 2, "b", "02", 0, 1),
    ("c", 3, "c", "03", 0, 2),
    ("u", 1, "a2", "04", 0, 3),
    ("d", 2, None, "05", 0, 4),
    ("c", 4, None, "06", 0, 5),
]


def _sides(tmp_path: Path, request: pytest.FixtureRequest, **table: object) -> list[DuckDbLake]:
    sink = build_sink("delta", tmp_path, request, **table)
    assert isinstance(sink, DeltaTableSink)
    sink.apply(make_rows(EVENTS), ["id"])
    return [delta_pushdown(sink, sink.current.uri, sink.tombstones.uri), arrow_generic(sink)]


@pytest.mark.parametrize("deletes", ["hard", "soft"])
def test_lake_sides_agree_and_exclude_deleted_rows(
    tmp_path: Path, request: pytest.FixtureRequest, deletes: str
) -> None:
    answers = []
    for side in _sides(tmp_path, request, deletes=deletes):
        view = side.snapshot(PLAN)
        assert view is not None
        ranges = [KeyRange(None, (3,)), KeyRange((3,), None)]
        answers.append(
            (
                view.range_stats([WHOLE]),
                view.range_stats(ranges),
                sorted((h.key, h.row_hash) for h in view.row_hashes([WHOLE])),
                side.rows(PLAN, [(1,), (2,), (4,)]),
                side.key_states(PLAN, [(1,), (2,), (3,), (7,)]),
            )
        )
        side.close()
    assert answers[0] == answers[1]
    whole, _, hashes, rows, states = answers[0]
    assert whole[0].count == 3 and [k for k, _ in hashes] == [("1",), ("3",), ("4",)]
    assert set(rows) == {("1",), ("4",)} and rows[("4",)].texts == ("4", None)
    # the deleted key's state is its tombstone's position; a key never seen has none
    assert states == {("1",): "04", ("2",): "05", ("3",): "03"}


def test_lake_side_of_a_table_not_created_yet_is_empty(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sink = build_sink("delta", tmp_path, request)
    assert isinstance(sink, DeltaTableSink)
    side = delta_pushdown(sink, sink.current.uri, sink.tombstones.uri)
    assert side.data_schema() is None and side.snapshot(PLAN) is None
    assert side.rows(PLAN, [(1,)]) == {} and side.key_states(PLAN, [(1,)]) == {}


def test_delta_extension_loads_from_the_pinned_wheel() -> None:
    assert "duckdb_extension_delta" in str(extension_path("delta"))
    loaded = (
        connect(("delta",))
        .execute("SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = 'delta'")
        .fetchone()
    )
    assert loaded == (True, False)  # loaded from the wheel's file, never installed from the network
