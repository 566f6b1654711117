"""Record real Debezium 3.6 PostgreSQL change events as case files (a developer tool; tests read its output).

Each variant creates a fresh database with a table holding every PostgreSQL type the connector maps, takes
an initial snapshot, then streams inserts, updates (one leaving a TOASTed column unchanged), a delete with its
tombstone, a multi-table transaction and a truncate, with heartbeats and transaction metadata on. The local
Kafka Connect worker runs the connector config the pipeline generates (`core/connectors.connector_config`)
plus the variant's connector modes, deployed through its REST API as connector `rec_<variant>`; its topics
are then read (read_committed) and every record is written as one JSON line
{"topic", "partition", "offset", "key", "value"}, ordered by broker timestamp, topic and offset.

Run against the local stack (`cdc up --only postgres kafka connect` with the same CDC_* environment):
    .venv/bin/python scripts/record_postgres_cases.py [variant ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import psycopg2

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.adapters.kafka_source import end_offsets, read_range
from cdc_project.config import KafkaConfig, SourceConfig, TableConfig
from cdc_project.core.connectors import connector_config
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


def _topics_text(bootstrap: str, prefix: str) -> tuple[list[str], bool]:
    """Every record of the recorder's topics as case lines, and whether the end marker is among them."""
    records = []
    for topic in (f"{prefix}.public.alltypes", f"{prefix}.public.pair", f"{prefix}.transaction",
                  f"__debezium-heartbeat.{prefix}"):
        ends = end_offsets(bootstrap, topic)
        read = read_range(bootstrap, topic, {p: 0 for p in ends}, ends, max_events=100_000, timeout=30)
        records.extend(read.messages)
    records.sort(key=lambda m: (m.timestamp_ms or 0, m.topic, m.offset))
    lines = [
        json.dumps({
            "topic": m.topic, "partition": m.partition, "offset": m.offset,
            "key": None if m.key is None else m.key.decode(),
            "value": None if m.value is None else m.value.decode(),
        })
        for m in records
    ]
    done = any(m.value is not None and b'"b":"end"' in m.value.replace(b" ", b"") for m in records)
    return lines, done


def record(variant: str, out_dir: Path = OUT) -> Path:
    file_name, overrides = VARIANTS[variant]
    settings = load_settings()
    database, slot = f"rec_{variant}", f"rec_{variant}"
    dsn = prepare(settings, database, slot)
    prefix = f"rec_{variant}"
    source = SourceConfig(
        name="rec",
        kind="postgres",
        host="127.0.0.1",
        port=settings.ports.postgres,
        database=database,
        user="cdc",
        topic_prefix=prefix,
        slot_name=slot,
        publication_name="rec_pub",
        heartbeat_interval_ms=500,
        tables=[TableConfig(name="public.alltypes"), TableConfig(name="public.pair")],
    )
    kafka = KafkaConfig(bootstrap_servers=settings.kafka_bootstrap)
    props = connector_config(source, kafka)
    props.update({"skipped.operations": "none", "database.password": "", **overrides})  # truncates need asking
    client = ConnectClient(settings.connect_url)
    name = f"rec_{variant}"
    client.deploy(name, props)
    try:
        deadline = time.monotonic() + 120
        while not postgres.slot_active(dsn, slot):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{variant}: the connector never activated slot {slot}: {client.status(name)}")
            time.sleep(0.5)
        time.sleep(3)  # let the snapshot finish before streaming changes
        streaming_dml(dsn)
        deadline = time.monotonic() + 120
        while True:
            lines, done = _topics_text(settings.kafka_bootstrap, prefix)
            if done:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{variant}: the end marker was not captured; got {len(lines)} records")
            time.sleep(1)
        time.sleep(1.5)  # a trailing heartbeat
        lines, _ = _topics_text(settings.kafka_bootstrap, prefix)
    finally:
        client.delete(name)
    out = out_dir / file_name
    out.write_text("\n".join(lines) + "\n")
    time.sleep(2)  # the task let go of the slot
    postgres.drop_slot(dsn, slot)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the case files (default: the cases)")
    args = parser.parse_args()
    for variant in args.variants:
        print(f"recorded {record(variant, args.out)}", flush=True)


if __name__ == "__main__":
    main()
