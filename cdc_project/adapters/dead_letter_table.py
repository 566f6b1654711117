"""Append dead letters to the lake's dead-letter table, once per message and stage.

Exactly-once (as for the sink tables): the commit records, per topic, partition, stage (and refusing sink),
the last offset it dead-lettered as a Delta txn version (`<topic>-<partition>#dead-letters-<stage>[@sink]`), and letters at or
below it are dropped first. So a run that dead-letters a range and then fails before committing its
offsets writes the same letters only once when it is retried. This assumes, like the sink, that one stage
of one partition is dead-lettered in offset order, which a run resuming from its committed offsets does.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from cdc_project.core.dead_letters import DEAD_LETTER_SCHEMA


def _app_id(topic: str, partition: int, stage: str, sink: str | None) -> str:
    # Decode and type letters are the same for every sink of a table (decoding is deterministic), so all
    # sinks share one id and the second writes nothing; a sink's own refusals (schema, write) are its own.
    return f"{topic}-{partition}#dead-letters-{stage}" + (f"@{sink}" if sink else "")


def write_dead_letters(
    lake_root: str,
    letters: pa.Table,
    table_name: str = "_dead_letters",
    storage_options: dict[str, str] | None = None,
) -> int:
    """Append `letters` (DEAD_LETTER_SCHEMA) to {lake_root}/{table_name}; return how many were new."""
    missing = sorted(set(DEAD_LETTER_SCHEMA.names) - set(letters.column_names))
    if missing:
        raise ValueError(f"dead letters lack columns {missing}; build them with core/dead_letters.to_arrow")
    letters = letters.select(DEAD_LETTER_SCHEMA.names).cast(DEAD_LETTER_SCHEMA)
    if letters.num_rows == 0:
        return 0
    uri = f"{lake_root.rstrip('/')}/{table_name}"
    exists = DeltaTable.is_deltatable(uri, storage_options)
    dt = DeltaTable(uri, storage_options=storage_options) if exists else None
    groups = letters.group_by(["topic", "partition", "stage", "sink"]).aggregate([])
    keep = pa.array([True] * letters.num_rows)
    txns = []
    for group in groups.to_pylist():
        topic, partition, stage, sink = group["topic"], group["partition"], group["stage"], group["sink"]
        same_partition = pc.equal(letters["partition"], pa.scalar(partition, pa.int32()))
        same_source = pc.and_(pc.equal(letters["topic"], topic), same_partition)
        by_sink = pc.fill_null(pc.equal(letters["sink"], sink), False) if sink is not None else None
        same_sink = pc.is_null(letters["sink"]) if by_sink is None else by_sink
        in_group = pc.and_(pc.and_(same_source, pc.equal(letters["stage"], stage)), same_sink)
        app_id = _app_id(topic, partition, stage, sink)
        done = dt.transaction_version(app_id) if dt is not None else None
        if done is not None:
            keep = pc.and_(keep, pc.invert(pc.and_(in_group, pc.less_equal(letters["offset"], done))))
        top = pc.max(letters["offset"].filter(in_group)).as_py()
        if done is None or top > done:
            txns.append(Transaction(app_id, top))
    fresh = letters.filter(keep)
    if fresh.num_rows == 0:
        return 0
    relaxed = pa.schema([f.with_nullable(True) for f in DEAD_LETTER_SCHEMA])
    write_deltalake(
        dt if dt is not None else uri,
        fresh.cast(relaxed),
        mode="append",
        storage_options=None if dt is not None else storage_options,
        commit_properties=CommitProperties(app_transactions=txns),
    )
    return int(fresh.num_rows)
