"""The demo shop schema and seeder against a real PostgreSQL: reproducible rows, and the column types, keys
and NULLs the decoder and sinks are meant to be exercised with.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2.extensions import connection

from cdc_project.demo.changes import SHOP_TABLES
from cdc_project.demo.seed import SeedCounts, seed


@pytest.fixture()
def conn(source_dsn: str, seeded_shop: SeedCounts) -> Iterator[connection]:
    c = psycopg2.connect(source_dsn)
    try:
        yield c
    finally:
        c.close()


def _table_hashes(dsn: str) -> dict[str, str]:
    """md5 over every row of every demo table in a stable order: equal hashes mean identical contents."""
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        hashes = {}
        for table in (*SHOP_TABLES, "cdc_signals"):
            cur.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM public.{table} t"
            )
            hashes[table] = cur.fetchone()[0]
    return hashes


def test_seed_is_reproducible(source_dsn: str) -> None:
    kwargs = {"customers": 40, "products": 10, "orders": 60, "page_views": 50}
    first = seed(source_dsn, seed=5, **kwargs)
    first_hashes = _table_hashes(source_dsn)
    second = seed(source_dsn, seed=5, **kwargs)
    assert second == first
    assert _table_hashes(source_dsn) == first_hashes
    seed(source_dsn, seed=6, **kwargs)
    differs = _table_hashes(source_dsn)
    # Another seed changes the data itself, not only its amount.
    assert differs["customers"] != first_hashes["customers"]


@pytest.mark.parametrize("table", SHOP_TABLES)  # SeedCounts has one field per shop table
def test_seed_counts_match_tables(conn: connection, seeded_shop: SeedCounts, table: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM public.{table}")
        assert cur.fetchone()[0] == getattr(seeded_shop, table)


@pytest.mark.parametrize(
    ("table", "column", "data_type", "nullable"),
    [
        ("customers", "id", "bigint", "NO"),  # int8 key
        ("products", "id", "integer", "NO"),  # int4 key
        ("customers", "email", "text", "NO"),
        ("customers", "is_vip", "boolean", "NO"),
        ("customers", "birth_date", "date", "YES"),
        ("customers", "created_at", "timestamp with time zone", "NO"),
        ("customers", "credit_limit", "numeric", "YES"),
        ("customers", "preferences", "jsonb", "YES"),
        ("customers", "tags", "ARRAY", "YES"),  # text[]
        ("products", "price", "numeric", "NO"),
        ("products", "stock", "integer", "NO"),
        ("products", "dimensions_mm", "ARRAY", "YES"),  # int[]
        ("orders", "ordered_at", "timestamp with time zone", "NO"),
        ("orders", "ship_date", "date", "YES"),
        ("order_items", "line_no", "smallint", "NO"),
        ("order_items", "unit_price", "numeric", "NO"),
        ("page_views", "referrer", "text", "YES"),
        ("cdc_signals", "data", "text", "YES"),
    ],
)
def test_shop_schema_column_types(
    conn: connection, table: str, column: str, data_type: str, nullable: str
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s AND column_name = %s",
            (table, column),
        )
        assert cur.fetchone() == (data_type, nullable)


@pytest.mark.parametrize(
    ("table", "key", "replica_identity"),
    [
        ("customers", ["id"], "d"),
        ("order_items", ["order_id", "line_no"], "d"),  # composite key
        ("page_views", [], "f"),  # keyless: REPLICA IDENTITY FULL so UPDATE/DELETE stay legal
        ("cdc_signals", ["id"], "d"),
    ],
)
def test_shop_schema_keys(conn: connection, table: str, key: list[str], replica_identity: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT k.column_name FROM information_schema.table_constraints c"
            " JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)"
            " WHERE c.table_schema = 'public' AND c.table_name = %s AND c.constraint_type = 'PRIMARY KEY'"
            " ORDER BY k.ordinal_position",
            (table,),
        )
        assert [r[0] for r in cur.fetchall()] == key
        cur.execute("SELECT relreplident FROM pg_class WHERE oid = %s::regclass", (f"public.{table}",))
        assert cur.fetchone()[0] == replica_identity


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("customers", "phone"),
        ("customers", "birth_date"),
        ("customers", "credit_limit"),
        ("customers", "preferences"),
        ("customers", "tags"),
        ("orders", "ship_date"),
        ("order_items", "discount"),
        ("page_views", "customer_id"),
        ("page_views", "referrer"),
    ],
)
def test_seed_fills_nullable_columns_with_both(conn: connection, table: str, column: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FILTER (WHERE {column} IS NULL), count({column}) FROM public.{table}")
        nulls, values = cur.fetchone()
    assert nulls > 0 and values > 0, f"{table}.{column}: {nulls} NULLs, {values} values"


def test_seed_orders_reference_existing_rows(conn: connection) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM public.orders o WHERE o.total <>"
            " (SELECT sum(quantity * unit_price) FROM public.order_items i WHERE i.order_id = o.id)"
        )
        assert cur.fetchone()[0] == 0


def test_seed_keeps_tables_in_their_publications(source_dsn: str, seeded_shop: SeedCounts) -> None:
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("DROP PUBLICATION IF EXISTS demo_test_pub")
            cur.execute("CREATE PUBLICATION demo_test_pub FOR TABLE public.customers, public.cdc_signals")
            seed(source_dsn, customers=5, products=2, orders=3, page_views=1)
            cur.execute(
                "SELECT tablename FROM pg_publication_tables WHERE pubname = 'demo_test_pub' ORDER BY 1"
            )
            # Re-seeding a live source must not silently stop its capture.
            assert [r[0] for r in cur.fetchall()] == ["cdc_signals", "customers"]
            cur.execute("DROP PUBLICATION demo_test_pub")
    finally:
        conn.close()
