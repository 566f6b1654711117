"""Pipeline configs for sink tests: one table, `public.customers` of source `shop`, in one sink of each kind.

Sinks are built through `adapters.sinks.sink_for` from a real PipelineConfig, exactly as a Dagster run builds
them. Each test gets its own storage: a tmp_path lake (Delta), catalog and warehouse (Iceberg), or schema
prefix in the live PostgreSQL cluster (PostgreSQL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdc_project.adapters.sinks import sink_for
from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import PipelineConfig, SinkKind, parse_config

# The kinds the shared semantics suite runs against; each sink joins when it is built.
SINK_KINDS: list[SinkKind] = ["delta", "iceberg"]


def pipeline_for(
    kind: SinkKind, tmp_path: Path, request: pytest.FixtureRequest, *, with_changelog: bool = True, **table: Any
) -> PipelineConfig:
    """A one-table pipeline writing `public.customers` to `kind` (plus `table` options).

    Without the changelog, `kind` is listed second, after another sink that holds the changelog.

    `request` lets a sink that stores into a live service (PostgreSQL) reach the session's stack fixtures.
    """
    raw: dict[str, Any] = {
        "name": "sink_test",
        "kafka": {"bootstrap_servers": "127.0.0.1:9"},  # never contacted: sinks do not talk to Kafka
        "lake": {"root": str(tmp_path / "lake")},
        "sources": [
            {
                "name": "shop", "kind": "postgres", "host": "127.0.0.1", "port": 5432, "database": "shop",
                "user": "cdc", "topic_prefix": "shop",
                "tables": [{"name": "public.customers", "sinks": _sinks(kind, with_changelog), **_plain(table)}],
            }
        ],
    }
    return parse_config(raw)


def _sinks(kind: SinkKind, with_changelog: bool) -> list[SinkKind]:
    if with_changelog:
        return [kind]
    return ["iceberg" if kind == "delta" else "delta", kind]


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in options.items()}


def build_sink(
    kind: SinkKind, tmp_path: Path, request: pytest.FixtureRequest, *, with_changelog: bool = True, **table: Any
) -> TableSink:
    config = pipeline_for(kind, tmp_path, request, with_changelog=with_changelog, **table)
    source = config.sources[0]
    return sink_for(config, source, source.tables[0], kind)
