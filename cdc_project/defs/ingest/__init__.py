"""Ingest stage: external source/topic assets per table; per table and sink an ingest op, job and sensor."""

from __future__ import annotations

import dagster as dg

from cdc_project.config import PipelineConfig
from cdc_project.defs.ingest.assets import TableAssets, build_ingest_asset, external_specs
from cdc_project.defs.ingest.sensors import build_ingest_sensor


def build_ingest_defs(config: PipelineConfig) -> dg.Definitions:
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    for source, table in config.tables():
        assets += external_specs(TableAssets(source, table, table.changelog_sink))
        for sink in table.sinks:
            names = TableAssets(source, table, sink)
            ingest = build_ingest_asset(config, names)
            job = dg.define_asset_job(
                f"ingest_{names.slug}_job",
                selection=dg.AssetSelection.assets(ingest),
                tags=names.tags,
                # One process per run; the op reads, decodes and commits in that process.
                executor_def=dg.in_process_executor,
            )
            assets.append(ingest)
            jobs.append(job)
            sensors.append(build_ingest_sensor(config, names, job))
    return dg.Definitions(assets=assets, jobs=jobs, sensors=sensors)
