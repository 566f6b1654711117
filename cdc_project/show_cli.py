"""`cdc show`: a table's current rows in one sink, as JSON lines sorted by key - what the lake holds now.

Values render as `cdc decode` renders them (core/rendering.py); rows a delete tombstoned (or soft-deleted)
are not shown; the columns the pipeline adds are the `_cdc_` ones. With `cdc apply` this is how an incident
is reproduced: apply the messages, then show what the table became.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

import pyarrow as pa

from cdc_project.adapters.sinks import sink_for
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core.columns import POSITION, TOMBSTONE_FIELDS
from cdc_project.core.errors import ConfigError
from cdc_project.core.rendering import render


def resolve_table(config: PipelineConfig, name: str) -> tuple[SourceConfig, TableConfig]:
    """`schema.table` (one configured source has it) or `source.schema.table`; an unconfigured
    `source.schema.table` is the table `cdc apply` created with defaults for topic prefix `source`."""
    parts = name.split(".")
    if len(parts) == 2:
        found = [(s, t) for s, t in config.tables() if t.name == name]
        if len(found) == 1:
            return found[0]
        where = "no configured source" if not found else f"sources {[s.name for s, _ in found]}"
        raise ConfigError("--table", f"{name!r} is in {where}; name it as <source>.<schema>.<table>")
    if len(parts) != 3:
        raise ConfigError("--table", f"{name!r} is not <schema>.<table> or <source>.<schema>.<table>")
    source_name, table_name = parts[0], ".".join(parts[1:])
    for source, table in config.tables():
        if source.name == source_name and table.name == table_name:
            return source, table
    # Defaults, as `cdc apply` gave them: never contacted, only the storage location matters here.
    table = TableConfig(name=table_name)
    source = SourceConfig(
        name=source_name, kind="postgres", host="unknown", port=1, database=parts[1], user="unknown",
        topic_prefix=source_name, tables=[table],
    )
    return source, table


def current_rows(config: PipelineConfig, table_name: str, kind: SinkKind) -> list[dict[str, object]]:
    """The live rows, sorted by the table's key (keyless: by source position), values rendered."""
    source, table = resolve_table(config, table_name)
    if kind not in table.sinks:  # the table as `cdc apply --sink kind` wrote it: that sink alone
        table = table.model_copy(update={"sinks": [kind]})
    sink = sink_for(config, source, table, kind)
    rows = sink.read_current()
    if rows is None:
        raise ConfigError("--table", f"{table_name} has no current-state table in the {kind} sink yet")
    keys = list(table.primary_key or _stored_keys(sink.read_tombstones()) or [POSITION])
    ordered = rows.sort_by([(k, "ascending") for k in keys if k in rows.column_names])
    return [{name: render(value) for name, value in row.items()} for row in ordered.to_pylist()]


def _stored_keys(tombstones: pa.Table | None) -> list[str]:
    meta = {f.name for f in TOMBSTONE_FIELDS}
    return [] if tombstones is None else [n for n in tombstones.column_names if n not in meta]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="<schema>.<table> or <source>.<schema>.<table>")
    parser.add_argument("--sink", required=True, choices=["delta", "iceberg", "postgres"])
    parser.add_argument("--config", default=None, help="pipeline config (default: the stack's pipeline.yaml)")


def run(config: PipelineConfig, args: argparse.Namespace, out: IO[str] | None = None) -> int:
    stream = out or sys.stdout  # looked up at call time: tests and callers may swap sys.stdout
    for row in current_rows(config, args.table, args.sink):
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0
