"""Scope: what is PostgreSQL-specific in adapters/postgres_sink.py and postgres_tables.py, on the live test
cluster: one transaction per apply (offsets rows, changelog, current and tombstones share its xmin), real
SIGKILLs mid-apply leave nothing visible and the resume is exact, DDL evolution of the real column types,
an offsets table of an earlier version upgraded with the topic ID column, the Arrow -> PostgreSQL type
mapping read back, COPY of awkward text, identifiers, secrets. The behaviour every sink shares is in
test_sink_semantics.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pyarrow as pa
import pytest

from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.postgres_sink import PostgresTableSink
from cdc_project.config import PostgresSinkConfig, TableConfig
from cdc_project.core.columns import DELETED, INGESTED_AT, OFFSET, POSITION
from cdc_project.core.delta_types import to_delta_compatible
from cdc_project.core.events import decode_batch
from cdc_project.core.merge_plan import last_offsets
from cdc_project.core.errors import IdentifierTooLongError, MissingSecretError
from cdc_project.core.pg_types import to_pg_compatible
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres
from cdc_project_tests.cases import load_case
from cdc_project_tests.change_rows import BATCH, DEFAULT_TOPIC, Event, make_rows
from cdc_project_tests.sink_configs import SINK_DATABASE, postgres_sink_options

pytestmark = pytest.mark.live


@pytest.fixture
def sink_config(pg_cluster: StackSettings) -> PostgresSinkConfig:
    return PostgresSinkConfig(**postgres_sink_options(pg_cluster))


def make_sink(config: PostgresSinkConfig, name: str = "public.customers", **options: Any) -> PostgresTableSink:
    return PostgresTableSink(config, "shop", TableConfig(name=name, **options), DEFAULT_TOPIC)


def query(cluster: StackSettings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg2.connect(postgres.dsn(cluster, SINK_DATABASE)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def column_types(cluster: StackSettings, schema: str, table: str) -> dict[str, str]:
    rows = query(
        cluster,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (f'"{schema}"."{table}"',),
    )
    return dict(rows)


def visible_state(cluster: StackSettings, sink: PostgresTableSink) -> tuple[Any, ...]:
    """What another session sees: changelog offsets, current rows, tombstones, committed offsets."""
    log = sink.read_changelog([OFFSET])
    current = sink.read_current()
    tombstones = query(cluster, f'SELECT id, "_cdc_position" FROM "{sink.schema}"."customers_tombstones" ORDER BY id')
    return (
        sorted(log[OFFSET].to_pylist()) if log is not None else None,
        sorted((r["id"], r["name"], r[POSITION]) for r in current.to_pylist()) if current is not None else None,
        tombstones,
        sink.committed_offsets(),
    )


def test_one_apply_is_one_transaction_with_its_offsets_rows(pg_cluster: StackSettings, sink_config: PostgresSinkConfig) -> None:
    sink = make_sink(sink_config)
    first = sink.apply(make_rows(BATCH), ["id"])
    second = sink.apply(make_rows([("u", 3, "c2", "06", 0, 3), ("d", 1, None, "07", 1, 2)]), ["id"])
    schema = sink.schema
    offsets = query(pg_cluster, f'SELECT partition, last_offset, xmin::text FROM "{schema}"."_cdc_offsets" ORDER BY 1')
    assert [(p, o) for p, o, _ in offsets] == [(0, 3), (1, 2)] == sorted(sink.committed_offsets().items())
    # Every row an apply wrote carries that apply's transaction id (xmin): rows and offsets commit together.
    xid = str(second.current_version)
    assert second.changelog_version == second.current_version != first.current_version
    assert {x for _, _, x in offsets} == {xid}
    written = [
        f'SELECT xmin::text FROM "{schema}"."customers" WHERE id = 3',
        f'SELECT xmin::text FROM "{schema}"."customers_tombstones" WHERE id = 1',
        f'SELECT DISTINCT xmin::text FROM "{schema}"."customers_changelog" WHERE "_cdc_position" > \'05\'',
    ]
    assert [query(pg_cluster, sql) for sql in written] == [[(xid,)]] * 3
    assert {r["id"]: r["name"] for r in sink.read_current().to_pylist()} == {3: "c2"}


@pytest.mark.parametrize(
    ("case", "table", "split", "live_rows"),
    [
        ("postgres/debezium_3_6_embedded.jsonl", "public.t", 4, 2),  # every type recorded; then a new column
        ("postgres/toast_placeholder.jsonl", "public.docs", 1, 1),  # unchanged TOAST values keep the stored ones
        ("postgres/schemas_disabled.jsonl", "public.small", 6, 0),  # schemaless JSON, inferred types; deleted
    ],
)
def test_recorded_debezium_events_land_as_in_the_delta_sink(
    sink_config: PostgresSinkConfig, tmp_path: Path, case: str, table: str, split: int, live_rows: int
) -> None:
    """Real Debezium 3.6 output, applied in two batches to both sinks: the same rows and changelog."""
    topic = f"shop.{table}"
    messages = [m for m in load_case(case) if m.topic == topic]
    sinks = [make_sink(sink_config, table), DeltaTableSink(str(tmp_path), "shop", TableConfig(name=table), topic)]
    for sink in sinks:
        sink.topic = topic
    for batch in (messages[:split], messages[split:]):
        if not batch:
            continue
        decoded = decode_batch(batch, source_kind="postgres")
        for sink in sinks:
            sink.apply(decoded.rows, decoded.key_columns, consumed_through=last_offsets(decoded.rows))
    pg, delta = (sink.read_current() for sink in sinks)
    assert pg is not None and delta is not None and pg.num_rows == live_rows
    # Delta stores time as text: compare what each sink holds in Delta's vocabulary, ingest times aside.
    assert to_delta_compatible(pg.drop_columns([INGESTED_AT])).sort_by("id").to_pylist() == (
        delta.select([c for c in pg.column_names if c != INGESTED_AT]).sort_by("id").to_pylist()
    )
    pg_log, delta_log = (sink.read_changelog([OFFSET, POSITION]) for sink in sinks)
    assert pg_log is not None and delta_log is not None
    assert pg_log.num_rows == sum(m.value is not None for m in messages)  # Kafka tombstones make no row
    assert pg_log.sort_by(OFFSET).to_pylist() == delta_log.sort_by(OFFSET).to_pylist()


def test_truncate_is_recorded_in_the_changelog_only(sink_config: PostgresSinkConfig) -> None:
    """A batch holding only a truncate decodes no data or key columns; its offset must still commit."""
    messages = load_case("postgres/truncate.jsonl")
    sink = make_sink(sink_config, "public.small")
    sink.topic = "shop.public.small"
    for batch in (messages[:1], messages[1:]):
        decoded = decode_batch(batch, source_kind="postgres")
        result = sink.apply(decoded.rows, decoded.key_columns, consumed_through=last_offsets(decoded.rows))
    assert (result.changelog_rows, result.upserts, result.committed) == (1, 0, {0: 1})
    log = sink.read_changelog(["_cdc_op"])
    assert log is not None and sorted(log["_cdc_op"].to_pylist()) == ["c", "t"]
    current = sink.read_current()
    assert current is not None and current.num_rows == 1  # the current table keeps its rows (documented)


def test_concurrent_applies_of_one_batch_commit_it_once(sink_config: PostgresSinkConfig) -> None:
    """Two runs of the same range at once (a re-executed run while the first still runs): the table's
    advisory lock orders them, so the second sees the first's offsets and writes nothing."""
    events: list[Event] = [("c", i, f"n{i}", f"{i:06d}", 0, i) for i in range(20_000)]
    rows = make_rows(events)
    sinks = [make_sink(sink_config), make_sink(sink_config)]
    sinks[0].apply(make_rows(events[:1]), ["id"])  # the tables exist: no DDL orders the two runs
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda sink: sink.apply(rows, ["id"]), sinks))
    assert sorted(r.current_version is None for r in results) == [False, True]
    assert all(r.committed == {0: 19_999} for r in results)
    log = sinks[0].read_changelog([OFFSET])
    assert log is not None and log.num_rows == 20_000


CRASH_SCRIPT = """
import json, sys
import pyarrow as pa
from cdc_project.adapters.delta_sink import DeltaTableSink
from cdc_project.adapters.postgres_sink import PostgresTableSink
from cdc_project.config import PostgresSinkConfig, TableConfig
from cdc_project_tests.change_rows import DEFAULT_TOPIC, make_rows
config, events = PostgresSinkConfig(**json.loads(sys.argv[1])), [tuple(e) for e in json.loads(sys.argv[2])]
emails = pa.array(json.loads(sys.argv[3]))
sink = PostgresTableSink(config, "shop", TableConfig(name="public.customers"), DEFAULT_TOPIC)
sink.apply(make_rows(events, data={"email": emails}), ["id"])
"""


def apply_and_crash(config: PostgresSinkConfig, events: list[Event], emails: list[str | None], failpoint: str) -> None:
    """Run `apply` in a child process that SIGKILLs itself at `failpoint` (cdc_project/failpoints.py)."""
    env = {**os.environ, "CDC_FAILPOINTS": failpoint}
    argv = [sys.executable, "-c", CRASH_SCRIPT, config.model_dump_json(), json.dumps(events), json.dumps(emails)]
    assert subprocess.run(argv, env=env).returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    "failpoint",
    [
        "after_changelog_commit",  # the changelog COPY done, nothing committed
        "after_current_commit",  # current state and tombstones merged too
        "before_sink_commit",  # and the offsets rows written: the last line before COMMIT
    ],
)
def test_real_crash_mid_apply_leaves_nothing_and_the_resume_is_exact(
    pg_cluster: StackSettings, sink_config: PostgresSinkConfig, failpoint: str
) -> None:
    sink = make_sink(sink_config)
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]), ["id"])
    before = visible_state(pg_cluster, sink)
    # The crashed batch adds a column: its ALTER TABLEs must roll back with the rows.
    crashed: list[Event] = [("d", 1, None, "05", 0, 2), ("c", 3, "c", "06", 0, 3)]
    apply_and_crash(sink_config, crashed, [None, "c@x.org"], failpoint)
    assert visible_state(pg_cluster, sink) == before
    assert sink.committed_offsets() == {0: 1}
    assert "email" not in column_types(pg_cluster, sink.schema, "customers")

    # The resumed run re-reads from the committed offset; then another partition brings an event older than
    # the delete, which the resumed run's tombstone stops.
    resumed = sink.apply(make_rows(crashed, data={"email": pa.array([None, "c@x.org"])}), ["id"])
    assert (resumed.changelog_rows, resumed.upserts, resumed.deletes, resumed.stale_skipped) == (2, 1, 1, 0)
    result = sink.apply(make_rows([("c", 1, "zombie", "03", 1, 0)]), ["id"])
    assert result.tombstoned_skipped == 1
    assert {r["id"]: r["email"] for r in sink.read_current().to_pylist()} == {2: None, 3: "c@x.org"}
    log, current, tombstones, committed = visible_state(pg_cluster, sink)
    assert log == [0, 0, 1, 2, 3]
    assert current == [(2, "b", "02"), (3, "c", "06")]
    assert tombstones == [(1, "05")]
    assert committed == result.committed == {0: 3, 1: 0}


def test_schema_evolution_alters_the_real_columns(pg_cluster: StackSettings, sink_config: PostgresSinkConfig) -> None:
    sink = make_sink(sink_config)
    first = {
        "score": pa.array([1], pa.int32()),
        "ratio": pa.array([0.5], pa.float32()),
        "price": pa.array([Decimal("1.50")], pa.decimal128(5, 2)),
        "tags": pa.array([[1]], pa.list_(pa.int32())),
        "addr": pa.array([{"zip": 1}], pa.struct([("zip", pa.int32())])),
    }
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)], data=first), ["id"])
    types = column_types(pg_cluster, sink.schema, "customers")
    assert [types[c] for c in first] == ["integer", "real", "numeric(5,2)", "integer[]", "jsonb"]
    assert types[POSITION] == "text" and "email" not in types
    wider = {
        "score": pa.array([2**40], pa.int64()),
        "ratio": pa.array([1e300], pa.float64()),
        "price": pa.array([Decimal("123456789.25")], pa.decimal128(12, 2)),
        "tags": pa.array([[2**40]], pa.list_(pa.int64())),
        "addr": pa.array([{"zip": 2, "city": "Oslo"}], pa.struct([("zip", pa.int32()), ("city", pa.string())])),
        "email": pa.array(["a@x.org"]),
    }
    sink.apply(make_rows([("u", 1, "a", "02", 0, 1)], data=wider), ["id"])
    for table in ("customers", "customers_changelog"):
        types = column_types(pg_cluster, sink.schema, table)
        expected = ["bigint", "double precision", "numeric(12,2)", "bigint[]", "jsonb", "text"]
        assert [types[c] for c in wider] == expected
    current = sink.read_current()
    assert current is not None
    assert current.schema.field("addr").type == wider["addr"].type  # the new nested field: no DDL, same jsonb
    assert current.select(list(wider)).to_pylist() == pa.table(wider).to_pylist()
    assert query(pg_cluster, f'SELECT collation_name FROM information_schema.columns WHERE table_schema = %s '
                             f'AND column_name = %s AND table_name = %s', (sink.schema, POSITION, "customers")) == [("C",)]


ROUND_TRIP = {
    "u": pa.array([uuid.UUID(int=7), None], pa.uuid()),
    "doc": pa.array(['{"a": [1, 2]}', None], pa.json_()),
    "t": pa.array([time(9, 30, 1, 250), None], pa.time64("us")),
    "dur": pa.array([timedelta(days=2, microseconds=3), None], pa.duration("us")),
    "raw": pa.array([b"\x00\x01\xff", b""], pa.binary()),
    "big": pa.array([2**64 - 1, 0], pa.uint64()),
    "tiny": pa.array([-128, None], pa.int8()),
    "f": pa.array([float("nan"), float("-inf")], pa.float64()),
    "day": pa.array([date(1, 1, 1), date(9999, 12, 31)], pa.date32()),
    "naive": pa.array([datetime(2024, 2, 29, 23, 59, 59, 999999), None], pa.timestamp("us")),
    "zoned": pa.array([0, 1_700_000_000_123_456_789], pa.timestamp("ns", tz="Asia/Tokyo")),
    "cents": pa.array([Decimal("-0.01"), None], pa.decimal128(38, 2)),
    "ints": pa.array([[1, None, 3], []], pa.list_(pa.int64())),
    "words": pa.array([['a"b', "c\\d", None, "", "{x,y}", "NULL"], None], pa.list_(pa.string())),
    "stamps": pa.array([[datetime(2024, 1, 1, tzinfo=UTC)], None], pa.list_(pa.timestamp("us", tz="UTC"))),
    "blobs": pa.array([[b"\x00", None], None], pa.list_(pa.binary())),
    # pyarrow builds nested extension values only by a cast from their storage type
    "ids": pa.array([[uuid.UUID(int=1).bytes], None], pa.list_(pa.binary(16))).cast(pa.list_(pa.uuid())),
    "nested": pa.array([[[1], [2, 3]], None], pa.list_(pa.list_(pa.int32()))),
    "labels": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int32())),
    "by_id": pa.array([[(7, "x")], None], pa.map_(pa.int64(), pa.string())),
    "detail": pa.array(
        [{"price": Decimal("9.99"), "at": datetime(2024, 1, 1, tzinfo=UTC), "raw": b"\x01", "ratio": float("inf")},
         None],
        pa.struct([("price", pa.decimal128(5, 2)), ("at", pa.timestamp("us", tz="UTC")), ("raw", pa.binary()),
                   ("ratio", pa.float64())]),
    ),
}
COLUMN_TYPES = {
    "u": "uuid", "doc": "jsonb", "t": "time without time zone", "dur": "interval", "raw": "bytea",
    "big": "numeric(20,0)", "tiny": "smallint", "f": "double precision", "day": "date",
    "naive": "timestamp without time zone", "zoned": "timestamp with time zone", "cents": "numeric(38,2)",
    "ints": "bigint[]", "words": "text[]", "stamps": "timestamp with time zone[]", "blobs": "bytea[]",
    "ids": "uuid[]", "nested": "jsonb", "labels": "jsonb", "by_id": "jsonb", "detail": "jsonb",
}


def test_type_mapping_round_trips_through_real_columns(pg_cluster: StackSettings, sink_config: PostgresSinkConfig) -> None:
    sink = make_sink(sink_config)
    rows = make_rows([("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)], data=ROUND_TRIP)
    sink.apply(rows, ["id"])
    types = column_types(pg_cluster, sink.schema, "customers")
    assert {c: types[c] for c in ROUND_TRIP} == COLUMN_TYPES
    expected = to_pg_compatible(rows.select(list(ROUND_TRIP)))  # ns -> us, uint64 -> decimal(20, 0), ...
    current = sink.read_current()
    assert current is not None
    got = current.sort_by("id").select(list(ROUND_TRIP))
    assert got.schema == expected.schema
    for name in ROUND_TRIP:
        if name == "f":  # NaN != NaN: compare the text
            assert [str(v) for v in got[name].to_pylist()] == ["nan", "-inf"]
        elif name == "doc":  # jsonb normalizes the text, not the document
            assert [None if v is None else json.loads(v) for v in got[name].to_pylist()] == [{"a": [1, 2]}, None]
        else:
            assert got[name].to_pylist() == expected[name].to_pylist(), name
    log = sink.read_changelog(["id", "words", "detail"])
    assert log is not None
    assert log.sort_by("id").select(["words", "detail"]).to_pylist() == expected.select(["words", "detail"]).to_pylist()


AWKWARD = ['a,b', 'say "hi"', "line\nbreak", "back\\slash", "\\.", "", "tab\there", "ünïcødé ✓", "\\N", "NULL"]


def test_copy_staging_keeps_awkward_text_and_tells_empty_from_null(
    pg_cluster: StackSettings, sink_config: PostgresSinkConfig
) -> None:
    sink = make_sink(sink_config)
    events: list[Event] = [("c", i, text, f"{i:02d}", 0, i) for i, text in enumerate([*AWKWARD, None])]
    sink.apply(make_rows(events), ["id"])
    current = sink.read_current()
    assert current is not None
    assert current.sort_by("id")["name"].to_pylist() == [*AWKWARD, None]
    assert query(pg_cluster, f'SELECT count(*) FROM "{sink.schema}"."customers" WHERE name IS NULL') == [(1,)]
    # The staging table lives and dies with the apply's transaction (ON COMMIT DROP).
    assert query(pg_cluster, "SELECT count(*) FROM pg_class WHERE relname = '_cdc_stage'") == [(0,)]


def test_soft_deleted_row_is_kept_marked_with_the_delete(pg_cluster: StackSettings, sink_config: PostgresSinkConfig) -> None:
    sink = make_sink(sink_config, deletes="soft")
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    sink.apply(make_rows([("d", 1, None, "03", 0, 1)]), ["id"])
    stored = query(pg_cluster, f'SELECT name, "_cdc_op", "_cdc_position", "{DELETED}" FROM "{sink.schema}"."customers"')
    assert stored == [("a", "d", "03", True)]
    current = sink.read_current()
    assert current is not None and current.num_rows == 0


def test_names_are_quoted_and_too_long_names_refused(pg_cluster: StackSettings, sink_config: PostgresSinkConfig) -> None:
    sink = make_sink(sink_config, name='Sales.Order "Items"')
    sink.apply(make_rows([("c", 1, "a", "01", 0, 0)]), ["id"])
    assert sink.location == f'{SINK_DATABASE}.{sink_config.schema_prefix}shop_Sales.Order "Items"'
    tables = query(pg_cluster, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                   (sink.schema,))
    assert [t for (t,) in tables] == ["Order \"Items\"", "Order \"Items\"_changelog", "Order \"Items\"_tombstones",
                                      "_cdc_offsets", "_cdc_table_schemas"]
    with pytest.raises(IdentifierTooLongError, match="63 bytes"):
        make_sink(sink_config, name=f"public.{'x' * 55}")  # its `_tombstones` table would be truncated


def test_password_comes_only_from_its_environment_variable(sink_config: PostgresSinkConfig) -> None:
    config = sink_config.model_copy(update={"password_env": "CDC_TEST_UNSET_SINK_PASSWORD"})
    with pytest.raises(MissingSecretError, match="CDC_TEST_UNSET_SINK_PASSWORD"):
        make_sink(config).committed_offsets()


def test_committed_offsets_before_anything_is_written(sink_config: PostgresSinkConfig, tmp_path: Path) -> None:
    sink = make_sink(sink_config)
    assert (sink.committed_offsets(), sink.read_current(), sink.read_changelog()) == ({}, None, None)
    assert sink.purge_tombstones(datetime.now(UTC)) == 0


# The schema tables as versions before topic IDs bootstrapped them (core/pg_ddl.bootstrap without the ALTER).
OLD_BOOTSTRAP = [
    'CREATE SCHEMA "{schema}"',
    (
        'CREATE TABLE "{schema}"."_cdc_offsets" (table_name text NOT NULL, topic text NOT NULL, '
        "partition integer NOT NULL, last_offset bigint NOT NULL, PRIMARY KEY (table_name, topic, partition))"
    ),
    'CREATE TABLE "{schema}"."_cdc_table_schemas" (table_name text PRIMARY KEY, arrow_schema bytea NOT NULL)',
    # what an earlier version's applies left: offsets without an ID
    """INSERT INTO "{schema}"."_cdc_offsets" VALUES ('customers', '{topic}', 0, 4), ('customers', '{topic}', 1, 2)""",
]


def test_offsets_table_of_an_earlier_version_gets_the_topic_id_column(
    pg_cluster: StackSettings, sink_config: PostgresSinkConfig
) -> None:
    """A schema bootstrapped before topic IDs: reads work without the column, the next apply adds it in its
    transaction and stores the ID on every row of the topic, also the partition it did not move."""
    sink = make_sink(sink_config)
    with psycopg2.connect(postgres.dsn(pg_cluster, SINK_DATABASE)) as conn, conn.cursor() as cur:
        for statement in OLD_BOOTSTRAP:
            cur.execute(statement.format(schema=sink.schema, topic=DEFAULT_TOPIC))
    assert (sink.committed_offsets(), sink.committed_topic_id()) == ({0: 4, 1: 2}, None)
    assert "topic_id" not in column_types(pg_cluster, sink.schema, "_cdc_offsets")  # reads change nothing
    topic_id = "kZ3yQq1xTfKo0pZ7B2rW3g"
    result = sink.apply(make_rows([("c", 1, "a", "05", 0, 5)]), ["id"], topic_id=topic_id)
    assert column_types(pg_cluster, sink.schema, "_cdc_offsets")["topic_id"] == "text"
    assert (sink.committed_offsets(), sink.committed_topic_id()) == ({0: 5, 1: 2}, topic_id)
    offsets = query(pg_cluster, f'SELECT partition, topic_id, xmin::text FROM "{sink.schema}"."_cdc_offsets" ORDER BY 1')
    assert offsets == [(0, topic_id, str(result.current_version)), (1, topic_id, str(result.current_version))]
    sink.apply(make_rows([("u", 1, "b", "06", 1, 3)]), ["id"])  # no ID: the stored one stays
    assert (sink.committed_offsets(), sink.committed_topic_id()) == ({0: 5, 1: 3}, topic_id)
    current = sink.read_current()
    assert current is not None and current["name"].to_pylist() == ["b"]
