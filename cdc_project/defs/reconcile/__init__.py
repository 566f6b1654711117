"""Reconciliation stage: per table and sink a reconciliation asset with a blocking drift check and a repair
job; per table one job over its sinks' reconciliation assets, on the table's cron schedule."""

from __future__ import annotations

import dagster as dg

from cdc_project.config import PipelineConfig
from cdc_project.defs.ingest.assets import TableAssets
from cdc_project.defs.reconcile.assets import ReconcileNames, build_reconcile_asset
from cdc_project.defs.reconcile.schedules import build_reconcile_schedule


def build_reconcile_defs(config: PipelineConfig) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for source, table in config.tables():
        per_sink = [ReconcileNames(TableAssets(source, table, sink)) for sink in table.sinks]
        built = [build_reconcile_asset(config, names) for names in per_sink]
        assets += built
        first = per_sink[0]
        job = dg.define_asset_job(
            f"reconcile_{first.table_slug}_job",
            selection=dg.AssetSelection.assets(*built),
            tags=first.tags,
            executor_def=dg.in_process_executor,
        )
        jobs.append(job)
        for names, asset in zip(per_sink, built, strict=True):
            jobs.append(
                dg.define_asset_job(
                    f"reconcile_repair_{names.table.slug}_job",
                    selection=dg.AssetSelection.assets(asset),
                    tags={**names.tags, "cdc/repair": "true"},
                    config={"ops": {asset.op.name: {"config": {"repair": True}}}},
                    executor_def=dg.in_process_executor,
                    description=f"Re-syncs {table.name} keys differing in {names.table.sink}, re-checks",
                )
            )
        if table.reconcile.enabled:
            schedules.append(build_reconcile_schedule(first, job))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)
