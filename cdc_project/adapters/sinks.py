"""Build the sink of one captured table from the pipeline config: the one place a SinkKind becomes a class.

Each kind's module is imported only when a table uses it, so a Delta-only deployment never loads pyiceberg
or opens a PostgreSQL connection.
"""

from __future__ import annotations

from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core.errors import ConfigError


def sink_for(config: PipelineConfig, source: SourceConfig, table: TableConfig, kind: SinkKind) -> TableSink:
    """The `kind` sink of `table`; it writes the changelog only if it is the table's changelog sink."""
    topic = source.topic_for(table)
    with_changelog = kind == table.changelog_sink
    if kind == "delta":
        from cdc_project.adapters.delta_sink import DeltaTableSink

        return DeltaTableSink(
            config.lake.root,
            source.name,
            table,
            topic,
            storage_options=config.lake.resolved_storage_options() or None,
            with_changelog=with_changelog,
        )
    if kind == "iceberg":
        from cdc_project.adapters.iceberg_sink import IcebergTableSink

        return IcebergTableSink(
            config.iceberg, config.lake.root, source.name, table, topic, with_changelog=with_changelog
        )
    if kind == "postgres":
        from cdc_project.adapters.postgres_sink import PostgresTableSink

        if config.postgres_sink is None:  # PipelineConfig refuses this; kept for configs built by hand
            raise ConfigError("postgres_sink", "is required by tables that list the postgres sink")
        return PostgresTableSink(config.postgres_sink, source.name, table, topic, with_changelog=with_changelog)
    raise ConfigError("sinks", f"{kind!r} is not a sink", ["delta", "iceberg", "postgres"])
