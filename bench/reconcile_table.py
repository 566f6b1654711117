"""Reconciliation speed for `make bench` (bench/cases/reconcile.py): a large table in sync, and the same
table with keys changed in the lake directly.

The source is a customers-like table (bigint key, text, nullable text, boolean, date, timestamptz,
numeric(12,2), jsonb, text[]) generated in PostgreSQL; the lake is the Delta sink's current-state table
written through `DeltaTableSink.apply`, as ingestion writes it. Drift is made in the Delta table directly:
a third of the keys deleted, a third altered, a third added. The lake is not fed by a capture, so the
reconciliation uses `AppliedWatermark` (no in-flight changes to wait for); the timed part is the whole
bisection, row comparison and classification on both engines.

Alone (`bench_reconcile`): the running local stack's cluster (CDC_STATE_DIR / CDC_PG_PORT) if it answers,
otherwise it is started for the bench and stopped afterwards.
    python -m bench.reconcile_table 1000000 100
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pyarrow as pa

from cdc_project.adapters.reconcile_watermark import AppliedWatermark
from cdc_project.config import PipelineConfig, load_config, parse_config
from cdc_project.core.columns import META_FIELDS
from cdc_project.settings import StackSettings, load_settings
from cdc_project.stack import postgres, services

DATABASE = "reconcile_bench"
TABLE = "bench_customers"
COLUMNS = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("is_vip", pa.bool_()),
        ("birth_date", pa.date32()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("credit_limit", pa.decimal128(12, 2)),
        ("preferences", pa.string()),
        ("tags", pa.list_(pa.string())),
    ]
)
_CREATE = f"""
DROP TABLE IF EXISTS public.{TABLE};
CREATE TABLE public.{TABLE} (
    id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, phone text, is_vip boolean NOT NULL,
    birth_date date, created_at timestamptz NOT NULL, credit_limit numeric(12, 2), preferences jsonb,
    tags text[]);
INSERT INTO public.{TABLE}
SELECT g, 'name ' || g, 'user' || g || '@example.com', CASE WHEN g %% 2 = 0 THEN NULL ELSE '+1-555-' || g END,
       g %% 7 = 0, date '1950-01-01' + (g %% 20000), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
       CASE WHEN g %% 3 = 0 THEN NULL ELSE (g %% 100000) / 100.0 END,
       ('{{"lang": "en", "n": ' || g || ', "tags": ["a", "b"]}}')::jsonb, ARRAY['t' || (g %% 5), 'u']
FROM generate_series(1, %s) g;
ANALYZE public.{TABLE};
"""


def _config(settings: StackSettings, lake: str) -> PipelineConfig:
    return parse_config(
        {
            "name": "reconcile_bench",
            "kafka": {"bootstrap_servers": settings.kafka_bootstrap},
            "lake": {"root": lake},
            "sources": [
                {
                    "name": "bench",
                    "kind": "postgres",
                    "host": settings.host,
                    "port": settings.ports.postgres,
                    "database": DATABASE,
                    "user": settings.pg_user,
                    "topic_prefix": "bench",
                    "signal_table": "public.cdc_signals",
                    "tables": [{"name": f"public.{TABLE}"}],
                }
            ],
        }
    )


def _load_lake(dsn: str, config: PipelineConfig, chunk: int = 200_000) -> None:
    """Copy the source into the Delta sink through `apply`, as ingestion of a snapshot would."""
    from cdc_project.adapters.sinks import sink_for

    source = config.sources[0]
    sink = sink_for(config, source, source.tables[0], "delta")
    names = ", ".join(f"{c}::text" if c == "preferences" else c for c in COLUMNS.names)
    with psycopg2.connect(dsn) as conn, conn.cursor(name="bench_read") as cursor:
        cursor.itersize = chunk
        cursor.execute(f"SELECT {names} FROM public.{TABLE} ORDER BY id")
        offset = 0
        while rows := cursor.fetchmany(chunk):
            data = [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(COLUMNS)]
            n = len(rows)
            meta = {
                "_cdc_op": ["r"] * n,
                "_cdc_position": [f"{1:016x}{1:016x}"] * n,
                "_cdc_source_ts": [datetime.now(UTC)] * n,
                "_cdc_topic": [sink.topic] * n,
                "_cdc_partition": [0] * n,
                "_cdc_offset": list(range(offset, offset + n)),
            }
            data += [pa.array(meta[f.name], f.type) for f in META_FIELDS]
            sink.apply(
                pa.Table.from_arrays(data, schema=pa.schema(list(COLUMNS) + list(META_FIELDS))), ["id"]
            )
            offset += n


def _make_drift(lake_uri: str, rows: int, differing: int) -> None:
    """`differing` keys changed in the lake directly: deleted, altered (email), added (new keys)."""
    from deltalake import DeltaTable, write_deltalake

    step = max(1, rows // max(differing, 1))
    keys = [1 + i * step for i in range(differing)]
    deleted, altered, added = keys[0::3], keys[1::3], keys[2::3]
    table = DeltaTable(lake_uri)
    if deleted:
        table.delete(f"id IN ({', '.join(map(str, deleted))})")
    if altered:
        table.update(
            updates={"email": "'changed@example.com'"}, predicate=f"id IN ({', '.join(map(str, altered))})"
        )
    if added:
        import pyarrow.compute as pc

        current = table.to_pyarrow_table(filters=[("id", "in", added)])
        extra = current.set_column(0, "id", pc.add(current["id"], rows * 10))
        write_deltalake(table, extra, mode="append")


@dataclass(frozen=True)
class Timed:
    seconds: tuple[float, ...]
    found: int  # keys reported differing by the last run
    ranges_compared: int


@dataclass(frozen=True)
class ReconcileTimes:
    in_sync: Timed
    differing: Timed
    differing_made: int


def time_reconcile(settings: StackSettings, lake: str, rows: int, differing: int, repetitions: int) -> ReconcileTimes:
    """Load `rows` into the source and the Delta sink once; time `repetitions` reconciliations in sync, then
    change `differing` keys in the lake and time as many again (reconcile without repair leaves the drift)."""
    from cdc_project.reconcile_job import reconcile

    postgres.ensure_database(settings, DATABASE)
    dsn = postgres.dsn(settings, DATABASE)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(_CREATE, (rows,))
    config = _config(settings, lake)
    _load_lake(dsn, config)
    source, table = config.sources[0], config.sources[0].tables[0]

    def timed() -> Timed:
        seconds, report = [], None
        for _ in range(repetitions):
            began = time.perf_counter()
            report = reconcile(config, source, table, "delta", watermark=AppliedWatermark()).report
            seconds.append(time.perf_counter() - began)
        assert report is not None
        return Timed(tuple(seconds), report.differing, report.ranges_compared)

    in_sync = timed()
    _make_drift(f"{lake}/bench/public/{TABLE}/current", rows, differing)
    return ReconcileTimes(in_sync, timed(), differing)


def bench_reconcile(rows: int, differing: int) -> dict[str, Any]:
    """Alone, outside `make bench`: the running stack's cluster if it answers, else started for this."""
    settings = load_settings()
    started_here = not postgres.healthy(settings)
    lake = tempfile.mkdtemp(prefix="cdc-bench-reconcile-")
    try:
        if started_here:  # the stack's own cluster, with the demo pipeline's databases
            stack_config = load_config(settings.pipeline_config, env=services.process_env(settings))
            services.up(settings, stack_config, only={"postgres"}, echo=lambda _line: None)
        times = time_reconcile(settings, lake, rows, differing, repetitions=1)
    finally:
        shutil.rmtree(lake, ignore_errors=True)
        if started_here:
            services.down(settings, echo=lambda _line: None)
    return {
        "rows": rows,
        "in_sync_seconds": round(times.in_sync.seconds[0], 2),
        "differing_made": differing,
        "differing_found": times.differing.found,
        "differing_seconds": round(times.differing.seconds[0], 2),
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    drift = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    print(bench_reconcile(count, drift))
