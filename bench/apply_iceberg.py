"""Throughput of the Iceberg sink's apply: one batch of change events into a table that already holds rows.

`bench_iceberg_apply(rows, table_rows)` seeds a current table of `table_rows` keys through the sink itself,
then times one apply of `rows` events (80% updates of random stored keys, 10% inserts of new keys, 10%
deletes) and its replay (a no-op). Real SQLite catalog and warehouse in a temporary directory.
`python -m bench.apply_iceberg [rows] [table_rows]`: the sink alone, outside the suite (whose `ingest.iceberg`
figures time the same apply inside a whole run).
"""

from __future__ import annotations

import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from cdc_project.core.columns import META_FIELDS, OFFSET, OP, PARTITION, POSITION, SOURCE_TS, TOPIC

TOPIC_NAME = "bench.public.t"


def _events(ops: list[str], ids: list[int], first_offset: int) -> pa.Table:
    """Decoded change rows (core/events.py shape) of public.t: id, name, score, updated_at + meta columns."""
    n = len(ops)
    offsets = range(first_offset, first_offset + n)
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    deleted = [op == "d" for op in ops]
    data = {
        "id": pa.array(ids, pa.int64()),
        "name": pa.array(
            [None if d else f"name-{i}-{o}" for i, o, d in zip(ids, offsets, deleted, strict=True)]
        ),
        "score": pa.array(
            [None if d else o % 1000 for o, d in zip(offsets, deleted, strict=True)], pa.int32()
        ),
        "updated_at": pa.array([stamp] * n, pa.timestamp("us", tz="UTC")),
    }
    meta = {
        OP: pa.array(ops),
        POSITION: pa.array([f"{o:016x}" for o in offsets]),
        SOURCE_TS: pa.array([stamp] * n, pa.timestamp("us", tz="UTC")),
        TOPIC: pa.array([TOPIC_NAME] * n),
        PARTITION: pa.array([0] * n, pa.int32()),
        OFFSET: pa.array(list(offsets), pa.int64()),
    }
    fields = [pa.field(name, array.type) for name, array in data.items()] + list(META_FIELDS)
    return pa.Table.from_arrays(
        [*data.values(), *(meta[f.name] for f in META_FIELDS)], schema=pa.schema(fields)
    )


def mixed_batch(rows: int, table_rows: int, first_offset: int, seed: int = 7) -> pa.Table:
    """80% updates of distinct stored keys, 10% deletes of other stored keys, 10% inserts of new keys."""
    rng = random.Random(seed)
    updates, deletes = rows * 8 // 10, rows // 10
    stored = rng.sample(range(table_rows), min(table_rows, updates + deletes))
    new = list(range(table_rows, table_rows + rows - len(stored)))
    ops = ["u"] * updates + ["d"] * (len(stored) - updates) + ["c"] * len(new)
    return _events(ops, stored + new, first_offset)


def bench_iceberg_apply(rows: int, table_rows: int) -> dict[str, Any]:
    from cdc_project.adapters.iceberg_sink import IcebergTableSink
    from cdc_project.config import IcebergConfig, TableConfig

    lake = tempfile.mkdtemp(prefix="cdc-bench-iceberg-")
    try:
        sink = IcebergTableSink(IcebergConfig(), lake, "bench", TableConfig(name="public.t"), TOPIC_NAME)
        began = time.perf_counter()
        sink.apply(_events(["r"] * table_rows, list(range(table_rows)), 0), ["id"])
        seed_seconds = time.perf_counter() - began
        batch = mixed_batch(rows, table_rows, first_offset=table_rows)
        began = time.perf_counter()
        result = sink.apply(batch, ["id"])
        seconds = time.perf_counter() - began
        began = time.perf_counter()
        replay = sink.apply(batch, ["id"])
        replay_seconds = time.perf_counter() - began
        live = sink.read_current()
        ops = batch[OP].to_pylist()
        expected = table_rows + ops.count("c") - ops.count("d")
        assert replay.current_version is None and live is not None and live.num_rows == expected, live
    finally:
        shutil.rmtree(lake, ignore_errors=True)
    return {
        "events": rows,
        "table_rows": table_rows,
        "upserts": result.upserts,
        "deletes": result.deletes,
        "seed_seconds": round(seed_seconds, 3),
        "seconds": round(seconds, 3),
        "events_per_second": round(rows / seconds),
        "replay_seconds": round(replay_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    print(bench_iceberg_apply(*(arguments or [100_000, 1_000_000])))
