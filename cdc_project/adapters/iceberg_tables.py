"""Thin pyiceberg I/O for the Iceberg sink: the SQL catalog, table names, offsets in snapshot summaries,
schema and partition-spec evolution, reading candidate files and committing rewritten ones.

Exactly-once invariant (the commit half; core/merge_plan.drop_applied is the filter half): every snapshot the
sink commits carries, in its summary, `cdc.offsets.<topic>` = a JSON object partition -> last offset applied,
for *every* partition the table has applied (a summary is per snapshot, not a log like Delta's txn actions,
so each commit restates the whole map), and `cdc.topic_id.<topic>` = the topic's Kafka topic ID once an apply
gave one (restated likewise by every later snapshot, the repair's and the purge's too). The data files and
that summary land in one catalog commit: one pyiceberg Transaction per table, one snapshot per apply.
`committed_state()` reads the newest summary carrying the offsets key, walking back from the current
snapshot, and takes the topic ID from that same summary, so a snapshot another writer commits without them
(compaction) hides nothing and the ID is always the one committed with the offsets. Tables are created with
`commit.retry.num-retries=0`: pyiceberg would otherwise rebuild a conflicting commit on top of the winner
with our now stale offsets; a conflict fails the run instead, and the retried run starts from the offsets
the winner committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import (
    ArrowScan,
    _dataframe_to_data_files,
    _pyarrow_schema_ensure_small_types,
    schema_to_pyarrow,
)
from pyiceberg.manifest import DataFile
from pyiceberg.table import DataScan, Table, Transaction
from pyiceberg.transforms import DayTransform, IdentityTransform, MonthTransform, Transform, YearTransform

from cdc_project.config import IcebergConfig, PartitionSpec
from cdc_project.core.errors import ConfigError
from cdc_project.core.upsert_plan import FILE_INDEX, UpsertPlan

OFFSETS_PREFIX = "cdc.offsets."
TOPIC_ID_PREFIX = "cdc.topic_id."
# pyiceberg's In() stops pruning files by column bounds past 200 values; a range still prunes.
_IN_LIST_LIMIT = 200
_TRANSFORMS: dict[str, Transform[Any, Any]] = {
    "day": DayTransform(),
    "month": MonthTransform(),
    "year": YearTransform(),
    "identity": IdentityTransform(),
}


def open_catalog(config: IcebergConfig, lake_root: str) -> Catalog:
    """The SQL catalog: SQLite under `lake.root` by default, PostgreSQL in production (config.IcebergConfig).

    `load_catalog` also merges `PYICEBERG_CATALOG__<NAME>__<KEY>` environment variables, which is where object
    store credentials for an `s3://` warehouse come from (`PYICEBERG_CATALOG__CDC__S3__SECRET_ACCESS_KEY`).
    """
    uri = config.resolved_catalog_uri(lake_root)
    warehouse = config.resolved_warehouse(lake_root)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if "://" not in warehouse:
        Path(warehouse).mkdir(parents=True, exist_ok=True)
        warehouse = Path(warehouse).resolve().as_uri()
    return load_catalog(config.catalog_name, type="sql", uri=uri, warehouse=warehouse)


def namespace_of(source: str, schema: str) -> str:
    """`<source>_<schema>`, like the PostgreSQL sink's target schema (e.g. `shop_public`)."""
    return f"{source}_{schema}"


def offsets_key(topic: str) -> str:
    return f"{OFFSETS_PREFIX}{topic}"


def topic_id_key(topic: str) -> str:
    return f"{TOPIC_ID_PREFIX}{topic}"


@dataclass(frozen=True)
class Committed:
    """What one snapshot summary of the sink holds: the offsets and the topic ID they count in."""

    offsets: dict[int, int]  # partition -> last offset applied
    topic_id: str | None  # None: no apply gave one yet


def snapshot_properties(topic: str, committed: Committed) -> dict[str, str]:
    offsets = {offsets_key(topic): json.dumps({str(p): o for p, o in sorted(committed.offsets.items())})}
    return offsets if committed.topic_id is None else {**offsets, topic_id_key(topic): committed.topic_id}


@dataclass(frozen=True)
class IcebergTable:
    """One Iceberg table by identifier, reloaded at each `open()` so other writers' commits are seen."""

    catalog: Catalog
    identifier: str  # "<namespace>.<name>"

    def open(self) -> Table | None:
        try:
            return self.catalog.load_table(self.identifier)
        except NoSuchTableError:
            return None

    def create(self, schema: pa.Schema) -> Table:
        namespace = self.identifier.rsplit(".", 1)[0]
        try:
            self.catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass
        # Every column optional: a later batch may lack a column, and delete rows null the data columns.
        properties = {"commit.retry.num-retries": "0", "format-version": "2"}
        try:
            return self.catalog.create_table(self.identifier, _relaxed(schema), properties=properties)
        except TableAlreadyExistsError:
            return self.catalog.load_table(self.identifier)


def _relaxed_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(t):
        return pa.struct([f.with_nullable(True).with_type(_relaxed_type(f.type)) for f in t])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(t.value_field.with_nullable(True).with_type(_relaxed_type(t.value_type)))
    if pa.types.is_map(t):
        return pa.map_(t.key_type, _relaxed_type(t.item_type))
    return t


def _relaxed(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _relaxed_type(f.type), nullable=True) for f in schema])


def committed_state(table: Table | None, topic: str) -> Committed:
    """The newest summary on the current snapshot's lineage that has the offsets: they and its topic ID."""
    if table is None:
        return Committed({}, None)
    key = offsets_key(topic)
    snapshot = table.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        value = summary.get(key)
        if value is not None:
            offsets = {int(p): int(o) for p, o in json.loads(value).items()}
            return Committed(offsets, summary.get(topic_id_key(topic)))
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return Committed({}, None)


def committed(table: Table | None, topic: str) -> dict[int, int]:
    """Partition -> last offset applied (committed_state)."""
    return committed_state(table, topic).offsets


def stored_schema(table: Table | Transaction) -> pa.Schema:
    """The table's Arrow schema with plain (not large) string/binary/list types, as batches arrive."""
    metadata = table.metadata if isinstance(table, Table) else table.table_metadata
    return _pyarrow_schema_ensure_small_types(schema_to_pyarrow(metadata.schema(), include_field_ids=False))


def _io(table: Table | Transaction) -> FileIO:
    return table.io if isinstance(table, Table) else table._table.io


def predicate(kind: type[BooleanExpression], column: str, value: Any) -> BooleanExpression:
    """`kind(column, value)`: pyiceberg's predicates take (term, literal) positionally at run time, while
    their pydantic field declarations show mypy other names."""
    return cast(Callable[[str, Any], BooleanExpression], kind)(column, value)


def evolve(tx: Transaction, incoming: pa.Schema, partition: PartitionSpec | None) -> None:
    """Add columns and nested fields, widen types in place (int -> long, float -> double, decimal precision
    up: Iceberg's allowed promotions), and make the partition spec the configured one, all inside `tx`."""
    with tx.update_schema() as update:
        update.union_by_name(_relaxed(incoming))
    schema = tx.table_metadata.schema()
    fields = tx.table_metadata.spec().fields
    wanted = None
    if partition is not None and partition.column in {f.name for f in schema.fields}:
        wanted = (partition.column, partition.transform)
    have = [(schema.find_column_name(f.source_id), str(f.transform)) for f in fields]
    if have == ([wanted] if wanted else []):
        return
    _check_transform(partition, stored_schema(tx))
    # Spec evolution: files written before keep their spec; every file written from now on uses the new one.
    with tx.update_spec() as spec:
        for field in fields:
            spec.remove_field(field.name)
        if wanted is not None:
            column, transform = wanted
            spec.add_field(column, _TRANSFORMS[transform], f"{column}_{transform}")


def _check_transform(partition: PartitionSpec | None, schema: pa.Schema) -> None:
    if partition is None or partition.transform == "identity" or partition.column not in schema.names:
        return
    column_type = schema.field(partition.column).type
    if not (pa.types.is_timestamp(column_type) or pa.types.is_date(column_type)):
        raise ConfigError(
            "partition_by",
            f"transform {partition.transform!r} needs a date or timestamp column, but "
            f"{partition.column!r} is {column_type}; use transform: identity or partition by another column",
        )


def key_filter(probe: pa.Table, key_columns: Sequence[str]) -> BooleanExpression:
    """Files that may hold the keys of `probe`: pruned by the first key column's bounds in file metadata."""
    if probe.num_rows == 0:
        return AlwaysFalse()
    first = probe[key_columns[0]].drop_null()
    if len(first) == 0:
        return AlwaysTrue()
    try:
        values = pc.unique(first)
        if len(values) <= _IN_LIST_LIMIT:
            return predicate(In, key_columns[0], values.to_pylist())
        bounds = pc.min_max(values)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return And(
            predicate(GreaterThanOrEqual, key_columns[0], low),
            predicate(LessThanOrEqual, key_columns[0], high),
        )
    except (TypeError, ValueError, pa.ArrowNotImplementedError):
        # A key type Iceberg has no literal or bounds for (a list, a struct): every file is a candidate.
        return AlwaysTrue()


@dataclass(frozen=True)
class Candidates:
    rows: (
        pa.Table
    )  # every row of the candidate files, tagged with FILE_INDEX, read at the transaction's schema
    files: tuple[DataFile, ...]  # FILE_INDEX -> data file


def read_candidates(tx: Transaction, row_filter: BooleanExpression) -> Candidates:
    metadata = tx.table_metadata
    schema = stored_schema(tx)
    tasks = list(DataScan(table_metadata=metadata, io=_io(tx), row_filter=row_filter).plan_files())
    scan = ArrowScan(metadata, _io(tx), metadata.schema(), AlwaysTrue())
    pieces = []
    for index, task in enumerate(tasks):
        rows = scan.to_table([task]).cast(schema)
        pieces.append(rows.append_column(FILE_INDEX, pa.repeat(pa.scalar(index, pa.int64()), rows.num_rows)))
    empty = schema.append(pa.field(FILE_INDEX, pa.int64())).empty_table()
    return Candidates(pa.concat_tables([empty, *pieces]), tuple(t.file for t in tasks))


def _data_files(tx: Transaction, rows: pa.Table) -> Iterator[DataFile]:
    # The write path of Transaction.append/overwrite (partitioning, file sizing, column stats), called
    # directly so one snapshot can both drop the rewritten files and add their replacements.
    if rows.num_rows == 0:
        return iter(())
    return iter(_dataframe_to_data_files(table_metadata=tx.table_metadata, df=rows, io=_io(tx)))


def commit_upsert(tx: Transaction, plan: UpsertPlan, candidates: Candidates, props: dict[str, str]) -> None:
    """Stage one snapshot in `tx`: drop the rewritten files, add the plan's rows, record `props`.

    An append when no file is rewritten (and an empty append when only offsets move).
    """
    files = list(_data_files(tx, plan.rows))
    update = tx.update_snapshot(snapshot_properties=props)
    if plan.rewritten:
        with update.overwrite() as overwrite:
            for index in plan.rewritten:
                overwrite.delete_data_file(candidates.files[index])
            for data_file in files:
                overwrite.append_data_file(data_file)
    else:
        with update.fast_append() as append:
            for data_file in files:
                append.append_data_file(data_file)


def append(tx: Transaction, rows: pa.Table, props: dict[str, str]) -> None:
    """Stage one append snapshot of `rows` (possibly none) carrying `props`."""
    with tx.update_snapshot(snapshot_properties=props).fast_append() as snapshot:
        for data_file in _data_files(tx, rows):
            snapshot.append_data_file(data_file)


def read_table(table: Table, columns: Sequence[str] | None = None) -> pa.Table:
    selected = tuple(columns) if columns else ("*",)
    return table.scan(selected_fields=selected).to_arrow()
