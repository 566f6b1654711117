"""Per captured table: the source table and its Kafka topic (external assets), the changelog, and one
current-state asset per sink.

Lineage: source/<source>/<schema>/<table> -> kafka/<topic> -> <changelog sink>/<source>/<table>_changelog
-> <sink>/<source>/<table> for each of the table's sinks. The changelog sink's op materializes both its
assets from one Kafka read (each of its tables commits the offsets it applied, see adapters/table_sink.py);
every other sink has its own op, job and sensor with its own committed offsets, so a failing sink never
blocks the others.
"""

# No `from __future__ import annotations` here: Dagster reads the op's config annotation at runtime.

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from cdc_project.batch import BatchResult, follow_batches
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core.offsets import decode_ranges


@dataclass(frozen=True)
class TableAssets:
    """Names of everything Dagster knows about one captured table in one of its sinks."""

    source: SourceConfig
    table: TableConfig
    sink: SinkKind

    @property
    def key(self) -> str:  # e.g. shop.public.customers: the cdc/table tag value
        return f"{self.source.name}.{self.table.name}"

    @property
    def stream(self) -> str:  # e.g. shop.public.customers@delta: the cdc/stream tag, one run in flight each
        return f"{self.key}@{self.sink}"

    @property
    def slug(self) -> str:  # e.g. shop_customers_delta: op/job/sensor names
        table = f"{self.source.name}_{self.table.schema_name}_{self.table.table_name}".replace("_public_", "_")
        return f"{table}_{self.sink}"

    @property
    def tags(self) -> dict[str, str]:
        return {"cdc/table": self.key, "cdc/sink": self.sink, "cdc/stream": self.stream}

    @property
    def writes_changelog(self) -> bool:
        return self.sink == self.table.changelog_sink

    @property
    def topic(self) -> str:
        return self.source.topic_for(self.table)

    @property
    def source_key(self) -> "dg.AssetKey":
        return dg.AssetKey(["source", self.source.name, self.table.schema_name, self.table.table_name])

    @property
    def topic_key(self) -> dg.AssetKey:
        return dg.AssetKey(["kafka", self.topic])

    @property
    def changelog_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.table.changelog_sink, self.source.name, f"{self.table.table_name}_changelog"])

    @property
    def current_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.sink, self.source.name, self.table.table_name])


class IngestRangeConfig(dg.Config):
    """The offset ranges a run reads, as planned by the sensor: 'partition:start-end,...' (end exclusive)."""

    ranges: str


def external_specs(names: TableAssets) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            names.source_key,
            description=f"{names.source.kind} table {names.table.name} in database {names.source.database}",
            group_name="sources",
            kinds={names.source.kind},
        ),
        dg.AssetSpec(
            names.topic_key,
            deps=[names.source_key],
            description=f"Debezium change events of {names.table.name} (JsonConverter envelope)",
            group_name="topics",
            kinds={"kafka"},
        ),
    ]


def _metadata(result: BatchResult, current: bool) -> dict[str, dg.MetadataValue | int | float | str | bool]:
    meta: dict[str, dg.MetadataValue | int | float | str | bool] = {
        "events": result.events,
        "dead_letters": result.dead_letters,
        "first_offsets": dg.MetadataValue.json({str(k): v for k, v in result.first_offsets.items()}),
        "last_offsets": dg.MetadataValue.json({str(k): v for k, v in result.last_offsets.items()}),
        "lag_offsets": result.lag_offsets,
        "run_duration_seconds": round(result.duration_seconds, 3),
        "append_only": result.append_only,
    }
    if result.lag_seconds_p50 is not None:
        meta["lag_seconds_p50"] = round(result.lag_seconds_p50, 3)
        meta["lag_seconds_p95"] = round(result.lag_seconds_p95 or 0.0, 3)
        meta["lag_seconds_max"] = round(result.lag_seconds_max or 0.0, 3)
    if current:
        meta.update(upserts=result.upserts, deletes=result.deletes, stale_skipped=result.stale_skipped)
    else:
        meta["rows_appended"] = result.changelog_rows
    return meta


def _materializations(names: TableAssets, result: BatchResult) -> Iterator[tuple[dg.AssetKey, dict[str, Any]]]:
    if names.writes_changelog:
        yield names.changelog_key, _metadata(result, current=False)
    yield names.current_key, _metadata(result, current=True)


def build_ingest_asset(pipeline: PipelineConfig, names: TableAssets) -> dg.AssetsDefinition:
    mode = "append-only (no primary key)" if names.table.append_only else "current state (SCD1, ordered merge)"
    current = dg.AssetSpec(
        names.current_key,
        deps=[names.changelog_key, names.topic_key],
        description=f"{names.table.name} in {names.sink}: {mode}",
        group_name=names.source.name,
        kinds={names.sink},
        metadata={"cdc/table": names.key, "cdc/sink": names.sink, "append_only": names.table.append_only},
    )
    changelog = dg.AssetSpec(
        names.changelog_key,
        deps=[names.topic_key],
        description=f"Append-only changelog of {names.table.name}, partitioned by event day",
        group_name=names.source.name,
        kinds={names.sink},
        metadata={"cdc/table": names.key},
    )

    @dg.multi_asset(
        name=f"ingest_{names.slug}",
        specs=[changelog, current] if names.writes_changelog else [current],
        op_tags=names.tags,
    )
    def ingest(context: dg.AssetExecutionContext, config: IngestRangeConfig) -> Iterator[dg.MaterializeResult[None]]:
        plan = decode_ranges(names.topic, config.ranges)
        # The planned range, then (ingest.follow_seconds) what arrived meanwhile: a materialization per
        # batch, the last one as the op's result.
        batches = follow_batches(pipeline, names.source, names.table, plan, names.sink)
        result = next(batches)
        for following in batches:
            context.log.info(f"{names.stream}: {result}")
            for key, metadata in _materializations(names, result):
                context.log_event(dg.AssetMaterialization(asset_key=key, metadata=metadata))
            result = following
        context.log.info(f"{names.stream}: {result}")
        for key, metadata in _materializations(names, result):
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)

    return ingest
