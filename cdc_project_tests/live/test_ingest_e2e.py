"""End to end on the real stack: PostgreSQL -> Debezium -> Tansu -> Dagster sensors and runs -> Delta.

A workload of inserts, updates, same-key bursts and deletes must end with every lake table equal to its
source row by row, through runs the Dagster daemon launched from the ingest sensors.
"""

from __future__ import annotations

import dagster as dg
import pytest

from cdc_project.config import PipelineConfig
from cdc_project.core import columns
from cdc_project.demo.generator import WorkloadMix, run_generator
from cdc_project.demo.run import wait_until_equal
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres
from cdc_project_tests.live.helpers import changelog, describe

pytestmark = pytest.mark.live


def test_workload_lands_in_lake_equal_to_source(stack: StackSettings, pipeline_config: PipelineConfig) -> None:
    dsn = postgres.dsn(stack, stack.pg_source_db)
    stats = run_generator(dsn, rate=60.0, duration=20.0, mix=WorkloadMix(), seed=11)
    assert stats.inserts > 0 and stats.updates > 0 and stats.deletes > 0 and stats.bursts > 0, stats

    comparisons = wait_until_equal(stack, pipeline_config, timeout=300)
    assert all(c.equal for c in comparisons), describe(comparisons)

    instance = dg.DagsterInstance.from_config(str(stack.dagster_home))
    try:
        for source, table in pipeline_config.tables():
            runs = instance.get_runs(dg.RunsFilter(tags={"cdc/table": f"{source.name}.{table.name}"},
                                                   statuses=[dg.DagsterRunStatus.SUCCESS]))
            assert runs, f"no successful Dagster ingest run for {table.name}"
    finally:
        instance.dispose()

    for _source, table in pipeline_config.tables():
        log = changelog(pipeline_config, table.name)
        coords = list(zip(log.column(columns.PARTITION).to_pylist(), log.column(columns.OFFSET).to_pylist(), strict=True))
        assert len(coords) == len(set(coords)), f"{table.name}: a Kafka offset was applied twice to the changelog"
