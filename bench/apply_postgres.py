"""PostgreSQL sink throughput: one batch of change events applied to a table that already holds many rows.

`bench_postgres_apply(rows, table_rows)` loads `table_rows` rows through the sink (batches of 100k inserts),
then applies one batch of `rows` events (70% updates of stored keys, 20% inserts, 10% deletes; every event
goes to the changelog too), then replays that batch. It runs against the stack's PostgreSQL (CDC_PG_PORT,
CDC_STATE_DIR), starting the cluster if it is down and stopping it again if it did, in a scratch database;
the schema it writes is dropped at the end. `python -m bench.apply_postgres` runs it alone,
outside the suite (whose `ingest.postgres` figures time the same apply inside a whole run).

On a shared machine wall time mostly measures the other processes, so the CPU seconds the apply cost this
process and the cluster's processes are reported too, and the rate they allow (`cpu_events_per_second`).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.adapters.postgres_sink import PostgresTableSink
from cdc_project.config import PostgresSinkConfig, TableConfig
from cdc_project.core.columns import META_FIELDS, OFFSET, OP, PARTITION, POSITION, SOURCE_TS, TOPIC
from cdc_project.settings import StackSettings, load_settings
from cdc_project.stack import postgres, services

TOPIC_NAME = "bench.public.accounts"
LOAD_BATCH = 100_000
_UTC_US = pa.timestamp("us", tz="UTC")


def change_rows(keys: pa.Array, ops: pa.Array, first_offset: int) -> pa.Table:
    """Decoded change events for `keys` (int64) with `ops`, offsets and positions counting up from
    `first_offset` in partition 0, shaped as core/events.decode_batch makes them."""
    n = len(keys)
    offsets = pa.array(range(first_offset, first_offset + n), pa.int64())
    cents = pc.multiply(pc.bit_wise_and(keys, 0xFFFFF), 7).cast(pa.int32()).cast(pa.decimal128(12, 2))
    stamp = pa.array([1_700_000_000_000_000] * n, pa.int64())
    data = {
        "id": keys,
        "name": pc.binary_join_element_wise("name-", keys.cast(pa.string()), ""),
        "email": pc.binary_join_element_wise("user", keys.cast(pa.string()), "@example.org", ""),
        "balance": pc.divide(cents, pa.scalar(100, pa.decimal128(3, 0))).cast(pa.decimal128(12, 2)),
        "created_at": pc.add(stamp, offsets).cast(_UTC_US),
        "active": pc.equal(pc.bit_wise_and(keys, 1), 0),
        "score": pc.multiply(offsets.cast(pa.float64()), 0.25),
    }
    meta = {
        OP: ops,
        POSITION: pa.array([f"{o:024x}" for o in range(first_offset, first_offset + n)]),
        SOURCE_TS: stamp.cast(_UTC_US),
        TOPIC: pa.array([TOPIC_NAME] * n),
        PARTITION: pa.array([0] * n, pa.int32()),
        OFFSET: offsets,
    }
    fields = [pa.field(k, v.type) for k, v in data.items()] + list(META_FIELDS)
    return pa.Table.from_arrays([*data.values(), *(meta[f.name] for f in META_FIELDS)], schema=pa.schema(fields))


def mixed_batch(rows: int, table_rows: int, first_offset: int) -> pa.Table:
    """70% updates and 10% deletes of distinct stored keys, 20% inserts of new keys."""
    updates, deletes = rows * 7 // 10, rows // 10
    stride = max(1, table_rows // (updates + deletes))
    stored = [k * stride % table_rows for k in range(updates + deletes)]
    fresh = list(range(table_rows, table_rows + rows - updates - deletes))
    keys = pa.array(stored + fresh, pa.int64())
    ops = pa.array(["u"] * updates + ["d"] * deletes + ["c"] * len(fresh))
    return change_rows(keys, ops, first_offset)


def bench_postgres_apply(rows: int = 100_000, table_rows: int = 1_000_000) -> dict[str, Any]:
    settings = load_settings()
    started_here = not postgres.healthy(settings)
    if started_here:
        services.up(settings, only={"postgres"}, echo=lambda _line: None)
    postgres.ensure_database(settings, "bench_sinks")
    config = PostgresSinkConfig(
        host=settings.host, port=settings.ports.postgres, database="bench_sinks", user=settings.pg_user,
        schema_prefix=f"b{uuid.uuid4().hex[:8]}_",
    )
    sink = PostgresTableSink(config, "bench", TableConfig(name="public.accounts"), TOPIC_NAME)
    try:
        began = time.perf_counter()
        for start in range(0, table_rows, LOAD_BATCH):
            keys = pa.array(range(start, min(start + LOAD_BATCH, table_rows)), pa.int64())
            sink.apply(change_rows(keys, pa.array(["c"] * len(keys)), start), ["id"])
        load_seconds = time.perf_counter() - began
        batch = mixed_batch(rows, table_rows, table_rows)
        server_cpu, client_cpu = cluster_cpu_seconds(settings), time.process_time()
        began = time.perf_counter()
        result = sink.apply(batch, ["id"])
        seconds = time.perf_counter() - began
        cpu = time.process_time() - client_cpu + cluster_cpu_seconds(settings) - server_cpu
        began = time.perf_counter()
        replay = sink.apply(batch, ["id"])
        replay_seconds = time.perf_counter() - began
        assert replay.current_version is None and result.stale_skipped == 0, (result, replay)
    finally:
        _drop_schema(postgres.dsn(settings, "bench_sinks"), sink.schema)
        if started_here:
            postgres.stop(settings)
    return {
        "table_rows": table_rows,
        "events": rows,
        "upserts": result.upserts,
        "deletes": result.deletes,
        "changelog_rows": result.changelog_rows,
        "seconds": round(seconds, 3),
        "events_per_second": round(rows / seconds),
        "cpu_seconds": round(cpu, 3),
        "cpu_events_per_second": round(rows / cpu),
        "replay_seconds": round(replay_seconds, 3),
        "load_rows_per_second": round(table_rows / load_seconds),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def cluster_cpu_seconds(settings: StackSettings) -> float:
    """User + system CPU seconds of the cluster's postmaster and its children (backends, WAL writer, ...)."""
    postmaster = postgres.server_pid(settings)
    if postmaster is None:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _drop_schema(dsn: str, schema: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        conn.close()


if __name__ == "__main__":
    print(bench_postgres_apply())
