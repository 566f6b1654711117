"""Shared steps of the live tests: waiting for the lake, reading lake tables, executing a range in process."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable

from cdc_project.config import PipelineConfig, SourceConfig, TableConfig
from cdc_project.core import columns
from cdc_project.demo.compare import TableComparison
from cdc_project.demo.run import table_paths, wait_until_equal
from cdc_project.settings import StackSettings


def table(config: PipelineConfig, name: str) -> tuple[SourceConfig, TableConfig]:
    return next((s, t) for s, t in config.tables() if t.name == name)


def describe(comparisons: list[TableComparison]) -> str:
    return "\n".join(
        f"{c.table}: src={c.source_rows} lake={c.lake_rows} missing={c.missing} extra={c.extra} "
        f"different={c.different} {list(c.examples)}"
        for c in comparisons
        if not c.equal
    )


def assert_lake_equals_source(settings: StackSettings, config: PipelineConfig, timeout: float = 300) -> None:
    comparisons = wait_until_equal(settings, config, timeout=timeout)
    assert all(c.equal for c in comparisons), describe(comparisons)


def changelog(config: PipelineConfig, name: str) -> pa.Table:
    source, tbl = table(config, name)
    return DeltaTable(table_paths(config, source, tbl)[1]).to_pyarrow_table()


def versions(config: PipelineConfig, name: str) -> dict[str, int]:
    source, tbl = table(config, name)
    base = table_paths(config, source, tbl)[0].rsplit("/", 1)[0]
    return {kind: DeltaTable(f"{base}/{kind}").version() for kind in ("changelog", "current", "tombstones")}


def assert_no_offset_applied_twice(config: PipelineConfig) -> None:
    for _source, tbl in config.tables():
        log = changelog(config, tbl.name)
        coords = list(zip(log.column(columns.PARTITION).to_pylist(), log.column(columns.OFFSET).to_pylist(), strict=True))
        assert len(coords) == len(set(coords)), f"{tbl.name}: a Kafka offset was applied twice to the changelog"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def runs(settings: StackSettings, table_key: str, status: dg.DagsterRunStatus | None = None) -> list[dg.DagsterRun]:
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        filters = dg.RunsFilter(tags={"cdc/table": table_key}, statuses=[status] if status else None)
        return list(instance.get_runs(filters))
    finally:
        instance.dispose()
