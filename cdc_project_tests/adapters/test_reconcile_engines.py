"""Scope: the two engines agree. A real PostgreSQL table with every supported type and awkward values
(NULLs, separators inside text, trailing zeros, zones, NaN, nested JSON, arrays with NULLs) is copied into a
real Delta table through the sink's repair path; reconciling them finds nothing. Representation changes
made in the lake (decimal scale, JSON key order and spacing) are still no drift; a changed value is found
with its column. The PostgreSQL-sink side (same dialect, `_cdc_deleted` rows) finds the same kinds of drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.reconcile_pg_sink import PostgresSinkLake
from cdc_project.adapters.reconcile_source_pg import catalog, snapshot, source_rows, table_side
from cdc_project.adapters.reconcile_watermark import AppliedWatermark
from cdc_project.adapters.sinks import sink_for
from cdc_project.config import PipelineConfig, parse_config
from cdc_project.core.reconcile import bisect, classify
from cdc_project.core.reconcile_plan import plan_comparison
from cdc_project.core.repair_rows import RepairRow, repair_batch
from cdc_project.reconcile_job import reconcile
from cdc_project.settings import StackSettings

pytestmark = pytest.mark.live

SCHEMA_SQL = """
DROP TABLE IF EXISTS public.recon_types;
DROP TYPE IF EXISTS recon_mood;
CREATE TYPE recon_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE public.recon_types (
    id bigint PRIMARY KEY, i2 smallint, i4 integer, num numeric(12, 2), vnum numeric, f4 real, f8 double precision,
    b boolean, t text, c char(5), u uuid, by bytea, d date, ts timestamp, tstz timestamptz, tm time, j json,
    jb jsonb, ta text[], ia integer[], na numeric(8, 3)[], mood recon_mood
);
INSERT INTO public.recon_types VALUES
 (1, 1, 2, 12.50, 3.14159265358979323846, 1.1, 0.1, true, 'plain', 'ab', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
  '\\x00ff', '2024-02-29', '2024-01-01 12:00:00.123456', '2024-01-01 02:00:00+02', '23:59:59.999999',
  '{"b": 1, "a": [1, 2.50]}', '{"b": 1, "a": {"y": null, "x": "é"}}', ARRAY['a', NULL, ''], ARRAY[1, NULL, 3],
  ARRAY[1.500, NULL], 'happy'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL),
 (3, -32768, 2147483647, -9999999999.99, 0.000, 'NaN', 'Infinity', false, E'a|b:c~\\\\ "q"\\nline', '', '00000000-0000-0000-0000-000000000000',
  '\\x', '1970-01-01', '1970-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', '00:00:00', '[]', '{}',
  '{}', '{}', '{}', 'sad'),
 (4, 0, 0, 0.00, 100, -0.5, 1e300, true, '~', 'x    ', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\\x7c',
  '2262-04-11', '2100-06-30 23:00:00', '2024-06-30 23:30:00-05:30', '12:00:00', '"just a string"',
  '[{"k": 2, "a": 1}, 3.0]', ARRAY['|', ':'], ARRAY[-1], ARRAY[0.001], 'ok');
"""

# The lake types the ingest path gives these columns (core/type_mapping.py, then core/delta_types.py).
LAKE = pa.schema(
    [
        ("id", pa.int64()),
        ("i2", pa.int16()),
        ("i4", pa.int32()),
        ("num", pa.decimal128(12, 2)),
        ("vnum", pa.string()),
        ("f4", pa.float32()),
        ("f8", pa.float64()),
        ("b", pa.bool_()),
        ("t", pa.string()),
        ("c", pa.string()),
        ("u", pa.string()),
        ("by", pa.binary()),
        ("d", pa.date32()),
        ("ts", pa.timestamp("us")),
        ("tstz", pa.timestamp("us", tz="UTC")),
        ("tm", pa.string()),
        ("j", pa.string()),
        ("jb", pa.string()),
        ("ta", pa.list_(pa.string())),
        ("ia", pa.list_(pa.int32())),
        ("na", pa.list_(pa.decimal128(8, 3))),
        ("mood", pa.string()),
    ]
)


def _config(settings: StackSettings, lake: Path) -> PipelineConfig:
    return parse_config(
        {
            "name": "engines",
            "kafka": {"bootstrap_servers": "127.0.0.1:9"},
            "lake": {"root": str(lake)},
            "sources": [
                {
                    "name": "scratch",
                    "kind": "postgres",
                    "host": settings.host,
                    "port": settings.ports.postgres,
                    "database": "scratch",
                    "user": settings.pg_user,
                    "topic_prefix": "scratch",
                    "tables": [{"name": "public.recon_types"}],
                }
            ],
        }
    )


@pytest.fixture()
def copied(pg_source_dsn: str, pg_cluster: StackSettings, tmp_path: Path) -> Iterator[PipelineConfig]:
    """recon_types in PostgreSQL and, row for row, in the Delta sink."""
    with psycopg2.connect(pg_source_dsn) as conn, conn.cursor() as cursor:
        cursor.execute(SCHEMA_SQL)
    config = _config(pg_cluster, tmp_path / "lake")
    source, table = config.sources[0], config.sources[0].tables[0]
    sink = sink_for(config, source, table, "delta")
    conn = psycopg2.connect(pg_source_dsn)
    with snapshot(conn) as snap:
        columns = catalog(snap.runner.cursor, '"public"."recon_types"')
        plan = plan_comparison(table.name, columns, ["id"], None)
        rows = source_rows(snap.runner, '"public"."recon_types"', plan, [(1,), (2,), (3,), (4,)], columns)
    conn.close()
    repairs = [RepairRow({"id": row["id"]}, row, None) for row in rows.values()]
    sink.apply_repair(repair_batch(repairs, LAKE, sink.topic, datetime.now(UTC)), ["id"])
    yield config


def _reconcile(config: PipelineConfig):  # type: ignore[no-untyped-def]
    source = config.sources[0]
    return reconcile(config, source, source.tables[0], "delta", watermark=AppliedWatermark())


def test_engines_agree_on_every_type(copied: PipelineConfig) -> None:
    outcome = _reconcile(copied)
    assert outcome.report.status == "in_sync", outcome.diffs
    assert (outcome.report.source_rows, outcome.report.lake_rows) == (4, 4)


def _lake(config: PipelineConfig) -> DeltaTable:
    return DeltaTable(f"{config.lake.root}/scratch/public/recon_types/current")


def test_representation_changes_in_the_lake_are_not_drift(copied: PipelineConfig) -> None:
    table = _lake(copied).to_pyarrow_table()
    # a wider decimal scale (as after a type widening) and JSON rewritten with other key order and spacing
    wide = pc.cast(table["num"], pa.decimal128(16, 4))
    table = table.set_column(table.schema.get_field_index("num"), pa.field("num", wide.type), wide)
    jb = [
        None if v is None else json.dumps(json.loads(v), indent=1, sort_keys=False)[::1]
        for v in table["jb"].to_pylist()
    ]
    reordered = [
        None
        if v is None
        else json.dumps(dict(reversed(list(json.loads(v).items()))))
        if isinstance(json.loads(v), dict)
        else v
        for v in jb
    ]
    table = table.set_column(table.schema.get_field_index("jb"), "jb", pa.array(reordered, pa.string()))
    write_deltalake(_lake(copied), table, mode="overwrite", schema_mode="overwrite")
    outcome = _reconcile(copied)
    assert outcome.report.status == "in_sync", outcome.diffs


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("t", "'plain '", ("t",)),  # a trailing space in text is data (only char(n) pads are not)
        ("f8", "0.1000001", ("f8",)),
        ("tstz", "'2024-01-01T00:00:00.000001Z'", ("tstz",)),  # one microsecond
        ("jb", """'{"b": 1, "a": {"y": null, "x": "e"}}'""", ("jb",)),
    ],
)
def test_a_changed_value_is_found_with_its_column(
    copied: PipelineConfig, column: str, value: str, expected: tuple[str, ...]
) -> None:
    _lake(copied).update(updates={column: value}, predicate="id = 1")
    outcome = _reconcile(copied)
    assert [(d.key, d.kind, d.columns) for d in outcome.diffs] == [(("1",), "mismatched", expected)]


def test_postgres_sink_side_finds_drift_in_its_table(copied: PipelineConfig, pg_source_dsn: str) -> None:
    """The PostgreSQL sink's layout: {prefix}{source}_{schema}.{table}, data + _cdc_* columns, deleted rows
    flagged. Built here by hand until that sink lands; the reconciliation SQL side is the real one."""
    with psycopg2.connect(pg_source_dsn) as conn, conn.cursor() as cursor:
        cursor.execute("""
            DROP SCHEMA IF EXISTS rtest_scratch_public CASCADE; CREATE SCHEMA rtest_scratch_public;
            CREATE TABLE rtest_scratch_public.recon_types AS
                SELECT *, '01' AS _cdc_position, false AS _cdc_deleted FROM public.recon_types;
            UPDATE rtest_scratch_public.recon_types SET _cdc_deleted = true, _cdc_position = '02' WHERE id = 2;
            UPDATE rtest_scratch_public.recon_types SET num = num + 1, _cdc_position = '03' WHERE id = 1;
            INSERT INTO rtest_scratch_public.recon_types (id, _cdc_position, _cdc_deleted) VALUES (99, '04', false);
        """)
    source = copied.sources[0]
    sink = sink_for(copied, source, source.tables[0], "delta")
    assert isinstance(sink, DeltaTableSink)
    lake = PostgresSinkLake(sink, psycopg2.connect(pg_source_dsn), '"rtest_scratch_public"."recon_types"')
    conn = psycopg2.connect(pg_source_dsn)
    try:
        with snapshot(conn) as snap:
            plan = plan_comparison(
                "public.recon_types", catalog(snap.runner.cursor, '"public"."recon_types"'), ["id"], None
            )
            found = bisect(table_side(snap.runner, '"public"."recon_types"', plan), lake.snapshot(plan))  # type: ignore[arg-type]
            keys = list(found.candidates.values())
            source_digests = table_side(snap.runner, '"public"."recon_types"', plan).rows(keys)
        diffs = classify(found.candidates, source_digests, lake.rows(plan, keys), plan.columns)
        assert sorted((d.key, d.kind, d.columns) for d in diffs) == [
            (("1",), "mismatched", ("num",)),
            (("2",), "missing", ()),
            (("99",), "extra", ()),
        ]
        assert lake.key_states(plan, [(1,), (2,), (5,)]) == {("1",): "03", ("2",): "02"}
    finally:
        conn.close()
        lake.close()
