"""Thin delta-rs I/O for one Delta table: open/create, txn versions, append, MERGE, txn-only commits.

Exactly-once invariant (the commit half; core/merge_plan.drop_applied is the filter half): every commit that
applies Kafka offsets carries, in the same Delta commit, one `Transaction(app_id="<topic>-<partition>",
version=<last offset applied>)` per partition it advances, plus `"<topic>#partitions"` = the number of
partitions seen so far, which lets `committed()` enumerate the partitions (delta-rs can look up a txn version
by app id but cannot list app ids). `#` cannot appear in a Kafka topic name, so the two never collide.
When the apply has the topic's Kafka topic ID, the same commit also carries it as `"<topic>#topic-id-<i>"`,
i = 0..2: its 22 ASCII characters, 8 to a version as a big-endian integer (below 2^63, ASCII's top bit being
0, so a valid non-negative txn version), zero-padded. The characters are stored rather than the decoded
16 bytes so the ID reads back exactly as given, in whichever base64 alphabet (core/merge_plan.validate_batch).
Txn versions persist across commits that do not carry them, so a commit without the ID keeps the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from cdc_project.core.columns import DELETED, INGESTED_AT, OP, POSITION, SOURCE_TS
from cdc_project.core.schema_diff import diff_schemas, widened_schema
from cdc_project.core.unavailable import KEEP_STORED_PREFIX, keep_stored_columns


def repair_advance(topic: str) -> TxnAdvance:
    return TxnAdvance(topic, {})


def offset_app_id(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def partitions_app_id(topic: str) -> str:
    return f"{topic}#partitions"


def topic_id_app_id(topic: str, index: int) -> str:
    return f"{topic}#topic-id-{index}"


_TOPIC_ID_TXNS = 3  # 8 characters a version: room for the 22 of a topic ID
_CHARS_PER_TXN = 8


def topic_id_versions(topic_id: str) -> list[int]:
    """The txn versions holding `topic_id` (validated by core/merge_plan.validate_batch: 22 ASCII characters)."""
    raw = topic_id.encode("ascii").ljust(_TOPIC_ID_TXNS * _CHARS_PER_TXN, b"\0")
    chunks = (raw[i : i + _CHARS_PER_TXN] for i in range(0, len(raw), _CHARS_PER_TXN))
    return [int.from_bytes(chunk, "big") for chunk in chunks]


def stored_topic_id(dt: DeltaTable | None, topic: str) -> str | None:
    """The topic ID the table's txn versions hold; None before a commit carried one."""
    if dt is None:
        return None
    found = [dt.transaction_version(topic_id_app_id(topic, i)) for i in range(_TOPIC_ID_TXNS)]
    versions = [v for v in found if v is not None]
    if len(versions) < _TOPIC_ID_TXNS:  # all or none: one commit writes them together
        return None
    raw = b"".join(v.to_bytes(_CHARS_PER_TXN, "big") for v in versions)
    return raw.rstrip(b"\0").decode("ascii")


def q(column: str) -> str:
    """Quote a column for a delta-rs SQL expression (keeps case, allows any character but a backtick)."""
    return f"`{column}`"


@dataclass(frozen=True)
class TxnAdvance:
    """The txn versions one commit records: partition -> last offset, for partitions it moves forward.

    `partitions_seen` is the table's partition count before this commit; the count never shrinks, so a batch
    that touches only partition 0 keeps partition 2 visible to `committed()`. `topic_id`, when given, is
    recorded by the same commit (the module docstring); None leaves the stored one. No versions (REPAIR): the
    commit records no txn at all, so a repair never moves or rewinds the committed offsets or the topic ID.
    """

    topic: str
    versions: Mapping[int, int]
    partitions_seen: int = 0
    topic_id: str | None = None

    def recorded_in(self, dt: DeltaTable) -> bool:
        versions = self.versions.items()
        return all(dt.transaction_version(offset_app_id(self.topic, p)) == v for p, v in versions)

    def commit_properties(self) -> CommitProperties:
        if not self.versions:  # a reconciliation repair: data only, every txn version stays as it is
            return CommitProperties(custom_metadata={"cdc.operation": "reconcile-repair"})
        count = max(self.partitions_seen, max(self.versions) + 1)
        txns = [Transaction(offset_app_id(self.topic, p), v) for p, v in sorted(self.versions.items())]
        txns.append(Transaction(partitions_app_id(self.topic), count))
        if self.topic_id is not None:
            versions = enumerate(topic_id_versions(self.topic_id))
            txns += [Transaction(topic_id_app_id(self.topic, i), v) for i, v in versions]
        return CommitProperties(app_transactions=txns)


@dataclass(frozen=True)
class LakeTable:
    """One Delta table at `uri`, reloaded at each `open()` so other writers' commits (optimize) are seen."""

    uri: str
    storage_options: dict[str, str] | None

    def open(self) -> DeltaTable | None:
        if not DeltaTable.is_deltatable(self.uri, self.storage_options):
            return None
        return DeltaTable(self.uri, storage_options=self.storage_options)

    def create(self, schema: pa.Schema, partition_by: Sequence[str] = ()) -> DeltaTable:
        # Every column nullable: a later batch may lack a column, and delete rows null the data columns.
        relaxed = pa.schema([f.with_nullable(True) for f in schema])
        return DeltaTable.create(
            self.uri, relaxed, partition_by=list(partition_by) or None, storage_options=self.storage_options
        )


def applied_versions(dt: DeltaTable | None, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    """Last offset applied per partition; a partition with no txn yet is absent."""
    if dt is None:
        return {}
    found = {p: dt.transaction_version(offset_app_id(topic, p)) for p in partitions}
    return {p: v for p, v in found.items() if v is not None}


def partitions_seen(dt: DeltaTable | None, topic: str) -> int:
    return (dt.transaction_version(partitions_app_id(topic)) or 0) if dt is not None else 0


def committed(dt: DeltaTable | None, topic: str) -> dict[int, int]:
    """Last offset applied per partition, for every partition this table has ever applied."""
    return applied_versions(dt, topic, range(partitions_seen(dt, topic)))


def stored_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def commit_txn_only(dt: DeltaTable, advance: TxnAdvance) -> None:
    """A commit with no data: moves a table's txn versions past offsets that wrote nothing to it."""
    partition_by = dt.metadata().partition_columns
    props = advance.commit_properties()
    dt.create_write_transaction([], "append", dt.schema(), partition_by, commit_properties=props)
    dt.update_incremental()


class Write(Protocol):
    """One table's data commit; it must carry `advance` in the same commit as the data."""

    def __call__(self, dt: DeltaTable, rows: pa.Table, *, advance: TxnAdvance) -> dict[str, int]: ...


def commit_offsets_with(
    table: LakeTable,
    dt: DeltaTable | None,
    rows: pa.Table | None,
    advance: TxnAdvance | None,
    partition_by: Sequence[str],
    write: Write,
) -> tuple[int | None, dict[str, int]]:
    """Write `rows` with `advance` in one commit; return the version committed (None: untouched) and metrics.

    A write that changes nothing creates no version in delta-rs (a MERGE whose every event is stale), so a
    txn-only commit follows: the table's offsets must still move for `committed()` to move.
    """
    if advance is None or rows is None:
        return None, {}
    if dt is not None and rows.num_rows:
        widen(dt, _lake_schema(rows))
    dt = dt or table.create(_lake_schema(rows), partition_by)
    metrics = write(dt, rows, advance=advance) if rows.num_rows else {}
    if not advance.recorded_in(dt):
        commit_txn_only(dt, advance)
    return dt.version(), metrics


def widen(dt: DeltaTable, incoming: pa.Schema) -> None:
    """Rewrite the table at the wider column types `incoming` brings (core/schema_diff.widened_schema).

    delta-rs 1.6.6 cannot widen a column in place (it has no typeWidening table feature), so the table is
    rewritten in one overwrite commit, its files streamed and cast batch by batch. The rewrite keeps every
    row and, because the Delta log keeps app ids across commits, every txn version: a crash right after it
    is harmless, the retried batch finds the table already wide. Widening is rare (an ALTER COLUMN TYPE).
    """
    target = widened_schema(stored_schema(dt), incoming)
    if target is None:
        return
    batches = dt.to_pyarrow_dataset().scanner().to_batches()
    cast = (
        pa.RecordBatch.from_arrays([b.column(n).cast(target.field(n).type) for n in target.names], schema=target)
        for b in batches
    )
    partition_by = dt.metadata().partition_columns or None
    reader = pa.RecordBatchReader.from_batches(target, cast)
    write_deltalake(dt, reader, mode="overwrite", schema_mode="overwrite", partition_by=partition_by)


def _lake_schema(rows: pa.Table) -> pa.Schema:
    return pa.schema([f for f in rows.schema if not f.name.startswith(KEEP_STORED_PREFIX)])


def append(dt: DeltaTable, rows: pa.Table, *, advance: TxnAdvance) -> dict[str, int]:
    # schema_mode="merge" only ever adds columns: core/schema_diff.check_policy ran before this.
    props = advance.commit_properties()
    write_deltalake(dt, rows, mode="append", schema_mode="merge", commit_properties=props)
    return {}


def _evolve_first(dt: DeltaTable, lake_schema: pa.Schema) -> None:
    """Add the columns (and struct fields) a MERGE source brings in a schema-only commit (no offsets).

    Workaround: a delta-rs 1.6.6 MERGE with merge_schema=True nulls a struct column in the rows it copies
    when that struct gains a field; an append evolves it correctly, so the MERGE finds nothing to evolve.
    It also gives a table created by an offsets-only batch (no key known yet) its columns.
    """
    if diff_schemas(stored_schema(dt), lake_schema).added:
        write_deltalake(dt, lake_schema.empty_table(), mode="append", schema_mode="merge")


def merge_current(
    dt: DeltaTable, source: pa.Table, *, keys: Sequence[str], soft_deletes: bool, advance: TxnAdvance
) -> dict[str, int]:
    """The ORDER GUARD: a matched row changes only when the event is newer (`s.position > t.position`)."""
    flags = keep_stored_columns(source)
    columns = [c for c in source.column_names if c not in flags.values()]
    _evolve_first(dt, _lake_schema(source))
    on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in keys)
    newer = f"s.{q(POSITION)} > t.{q(POSITION)}"
    is_delete = f"s.{q(OP)} = 'd'"

    def value(column: str) -> str:
        # TOAST invariant: an unavailable value keeps the stored one (core/unavailable.py).
        if column in flags:
            return f"CASE WHEN s.{q(flags[column])} THEN t.{q(column)} ELSE s.{q(column)} END"
        return f"s.{q(column)}"

    props = advance.commit_properties()
    merger = dt.merge(
        source, on, source_alias="s", target_alias="t", merge_schema=True, commit_properties=props
    )
    updates = {q(c): value(c) for c in columns}
    merger = merger.when_matched_update(updates, predicate=f"NOT ({is_delete}) AND {newer}")
    if soft_deletes:
        marked = {q(c): f"s.{q(c)}" for c in (OP, POSITION, SOURCE_TS, INGESTED_AT, DELETED)}
        merger = merger.when_matched_update(marked, predicate=f"{is_delete} AND {newer}")
    else:
        merger = merger.when_matched_delete(predicate=f"{is_delete} AND {newer}")
    inserts = {q(c): f"s.{q(c)}" for c in columns}
    merger = merger.when_not_matched_insert(inserts, predicate=f"NOT ({is_delete})")
    metrics: dict[str, int] = merger.execute()
    return metrics


def merge_tombstones(
    dt: DeltaTable, source: pa.Table, *, keys: Sequence[str], advance: TxnAdvance
) -> dict[str, int]:
    """Upsert each key's last delete, guarded by position like the current table."""
    _evolve_first(dt, source.schema)
    on = " AND ".join(f"t.{q(k)} = s.{q(k)}" for k in keys)
    props = advance.commit_properties()
    merger = dt.merge(source, on, source_alias="s", target_alias="t", commit_properties=props)
    merger.when_matched_update_all(predicate=f"s.{q(POSITION)} > t.{q(POSITION)}")
    merger.when_not_matched_insert_all()
    metrics: dict[str, int] = merger.execute()
    return metrics


def read_tombstones(dt: DeltaTable, key_columns: Sequence[str], probe: pa.Table) -> pa.Table:
    """Tombstones of the keys in `probe`, filtered on the first key column (exact match is a join later)."""
    columns = [*key_columns, POSITION]
    if probe.num_rows == 0:
        return pa.schema([f for f in stored_schema(dt) if f.name in columns]).empty_table()
    first = key_columns[0]
    wanted = probe[first].unique()
    return dt.to_pyarrow_dataset().to_table(columns=columns, filter=ds.field(first).isin(wanted))
