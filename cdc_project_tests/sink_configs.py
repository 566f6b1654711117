"""Pipeline configs for sink tests: one table, `public.customers` of source `shop`, in one sink of each kind.

Sinks are built through `adapters.sinks.sink_for` from a real PipelineConfig, exactly as a Dagster run builds
them. Each test gets its own storage: a tmp_path lake (Delta), catalog and warehouse (Iceberg), or schema
prefix in the live PostgreSQL cluster (PostgreSQL).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from cdc_project.adapters.sinks import sink_for
from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import PipelineConfig, SinkKind, parse_config
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres

# The kinds the shared semantics suite runs against; each sink joins when it is built.
SINK_KINDS: list[SinkKind] = ["delta", "iceberg", "postgres"]
# Kinds that store into a live service of the local stack: their cases are `live` (`make test-unit` skips them).
LIVE_SINK_KINDS: frozenset[SinkKind] = frozenset({"postgres"})
SINK_DATABASE = "sinks"  # the postgres sink's target database on the test cluster


def sink_params() -> list[Any]:
    """SINK_KINDS as pytest params, the live ones marked `live`."""
    return [pytest.param(k, marks=pytest.mark.live) if k in LIVE_SINK_KINDS else k for k in SINK_KINDS]


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
    if "postgres" in raw["sources"][0]["tables"][0]["sinks"]:
        raw["postgres_sink"] = postgres_sink_options(request.getfixturevalue("pg_cluster"))
    return parse_config(raw)


def postgres_sink_options(cluster: StackSettings) -> dict[str, Any]:
    """`postgres_sink` on the live test cluster, with a fresh schema prefix: each test its own schemas."""
    postgres.ensure_database(cluster, SINK_DATABASE)
    return {
        "host": cluster.host,
        "port": cluster.ports.postgres,
        "database": SINK_DATABASE,
        "user": cluster.pg_user,
        "password_env": "CDC_PG_PASSWORD",  # set (empty) by the test session: the cluster trusts loopback
        "schema_prefix": f"t{uuid.uuid4().hex[:12]}_",
    }


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
