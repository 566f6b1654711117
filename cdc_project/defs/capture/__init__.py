"""Capture stage: per source captured through Kafka Connect, the asset check `connector_running` on each
of its topic assets and the sensor `capture_health_<source>_sensor` that reports it and alerts on change."""

from __future__ import annotations

import os

import dagster as dg

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.config import PipelineConfig
from cdc_project.defs.capture.checks import STATUS_TIMEOUT_SECONDS, build_capture_check, connect_sources
from cdc_project.defs.capture.sensors import build_capture_sensor
from cdc_project.settings import load_settings

CONNECT_URL_ENV = "CDC_CONNECT_URL"


def resolve_connect_url(config: PipelineConfig) -> str:
    """kafka.connect_url, else $CDC_CONNECT_URL (exported by the local stack), else the local stack's own
    (what `cdc connectors` falls back to as well)."""
    return config.kafka.connect_url or os.environ.get(CONNECT_URL_ENV) or load_settings().connect_url


def build_capture_defs(config: PipelineConfig) -> dg.Definitions:
    client = ConnectClient(resolve_connect_url(config), timeout=STATUS_TIMEOUT_SECONDS)
    sources = connect_sources(config.sources)
    return dg.Definitions(
        asset_checks=[build_capture_check(source, client) for source in sources],
        sensors=[build_capture_sensor(source, client) for source in sources],
    )
