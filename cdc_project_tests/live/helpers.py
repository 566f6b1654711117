"""Shared steps of the live tests: waiting for the lake, reading lake tables, executing a range in process."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable

from cdc_project.adapters.sinks import sink_for
from cdc_project.config import PipelineConfig, SourceConfig, TableConfig
from cdc_project.core import columns
from cdc_project.demo.compare import TableComparison
from cdc_project.demo.run import wait_until_equal
from cdc_project.settings import StackSettings


def table(config: PipelineConfig, name: str) -> tuple[SourceConfig, TableConfig]:
    return next((s, t) for s, t in config.tables() if t.name == name)


def describe(comparisons: list[TableComparison]) -> str:
    return "\n".join(
        f"{c.table}@{c.sink}: src={c.source_rows} lake={c.lake_rows} missing={c.missing} extra={c.extra} "
        f"different={c.different} {list(c.examples)}"
        for c in comparisons
        if not c.equal
    )


def assert_lake_equals_source(settings: StackSettings, config: PipelineConfig, timeout: float = 300) -> None:
    comparisons = wait_until_equal(settings, config, timeout=timeout)
    assert all(c.equal for c in comparisons), describe(comparisons)


def changelog(config: PipelineConfig, name: str) -> pa.Table:
    source, tbl = table(config, name)
    log = sink_for(config, source, tbl, tbl.changelog_sink).read_changelog()
    assert log is not None, f"{name} has no changelog yet"
    return log


def versions(config: PipelineConfig, name: str) -> dict[str, int]:
    """The Delta versions of a Delta-sink table's changelog, current and tombstone tables."""
    source, tbl = table(config, name)
    base = f"{config.lake.root}/{source.name}/{tbl.schema_name}/{tbl.table_name}"
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


def runs(
    settings: StackSettings, table_key: str, status: dg.DagsterRunStatus | None = None, sink: str | None = None
) -> list[dg.DagsterRun]:
    """Ingest runs of a table (`<source>.<schema>.<table>`), of one sink if given."""
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    tags = {"cdc/table": table_key} if sink is None else {"cdc/stream": f"{table_key}@{sink}"}
    try:
        filters = dg.RunsFilter(tags=tags, statuses=[status] if status else None)
        return list(instance.get_runs(filters))
    finally:
        instance.dispose()
