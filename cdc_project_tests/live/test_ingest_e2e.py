"""End to end on the real stack: PostgreSQL -> Debezium -> Tansu -> Dagster sensors and runs -> Delta.

A workload of inserts, updates, same-key bursts and deletes must end with every lake table equal to its
source row by row, through runs the Dagster daemon launched from the ingest sensors.
"""

from __future__ import annotations

import dagster as dg
import pytest
from deltalake import DeltaTable

from cdc_project.config import PipelineConfig
from cdc_project.core import columns
from cdc_project.demo.generator import WorkloadMix, run_generator
from cdc_project.demo.run import table_paths, wait_until_equal
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres

pytestmark = pytest.mark.live


def _describe(comparisons: list) -> str:
    return "\n".join(f"{c.table}: src={c.source_rows} lake={c.lake_rows} missing={c.missing} extra={c.extra} "
                     f"different={c.different} {list(c.examples)}" for c in comparisons if not c.equal)


def test_workload_lands_in_lake_equal_to_source(stack: StackSettings, pipeline_config: PipelineConfig) -> None:
    dsn = postgres.dsn(stack, stack.pg_source_db)
    stats = run_generator(dsn, rate=60.0, duration=20.0, mix=WorkloadMix(), seed=11)
    assert stats.inserts > 0 and stats.updates > 0 and stats.deletes > 0 and stats.bursts > 0, stats

    comparisons = wait_until_equal(stack, pipeline_config, timeout=300)
    assert all(c.equal for c in comparisons), _describe(comparisons)

    instance = dg.DagsterInstance.from_config(str(stack.dagster_home))
    try:
        for source, table in pipeline_config.tables():
            runs = instance.get_runs(dg.RunsFilter(tags={"cdc/table": f"{source.name}.{table.name}"},
                                                   statuses=[dg.DagsterRunStatus.SUCCESS]))
            assert runs, f"no successful Dagster ingest run for {table.name}"
    finally:
        instance.dispose()

    for source, table in pipeline_config.tables():
        _, changelog = table_paths(pipeline_config, source, table)
        log = DeltaTable(changelog).to_pyarrow_table(columns=[columns.PARTITION, columns.OFFSET, columns.OP])
        coords = list(zip(log.column(columns.PARTITION).to_pylist(), log.column(columns.OFFSET).to_pylist(), strict=True))
        assert len(coords) == len(set(coords)), f"{table.name}: a Kafka offset was applied twice to the changelog"
