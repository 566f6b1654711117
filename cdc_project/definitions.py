"""The one Dagster entry point: load the pipeline config, then each stage's definitions."""

from __future__ import annotations

import dagster as dg

from cdc_project.config import PipelineConfig, load_config
from cdc_project.defs.capture import build_capture_defs
from cdc_project.defs.ingest import build_ingest_defs
from cdc_project.defs.reconcile import build_reconcile_defs
from cdc_project.settings import load_settings


def build_definitions(config: PipelineConfig) -> dg.Definitions:
    return dg.Definitions.merge(
        build_ingest_defs(config), build_reconcile_defs(config), build_capture_defs(config)
    )


defs = build_definitions(load_config(load_settings().pipeline_config))
