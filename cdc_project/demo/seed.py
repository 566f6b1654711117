"""Seed the demo shop: recreate its tables from shop_schema.sql and fill them with reproducible fake data.

Invariant: the same `seed` gives byte-identical rows on every run and every day. Faker and `random` are both
seeded, and no value depends on the clock (timestamps are offsets from a fixed epoch, never from "now"), so
tests can compare hashes of whole tables.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
from faker import Faker
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

SCHEMA_SQL = Path(__file__).with_name("shop_schema.sql")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # seeded timestamps fall in the two years after this instant
DEMO_TABLES = ("customers", "products", "orders", "order_items", "page_views", "cdc_signals")
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled")
CUSTOMER_TAGS = ("newsletter", "b2b", "returning", "mobile", "gift", "student")
PRODUCT_TAGS = ("sale", "new", "eco", "bundle", "fragile")


@dataclass(frozen=True)
class SeedCounts:
    customers: int
    products: int
    orders: int
    order_items: int
    page_views: int


def local_source_dsn() -> str:
    """DSN of the local stack's source database, as settings.py places it (a password via PGPASSWORD)."""
    from cdc_project.settings import load_settings

    s = load_settings()
    return f"host={s.host} port={s.ports.postgres} user={s.pg_user} dbname={s.pg_source_db}"


def _maybe(rng: random.Random, probability: float, value: Any) -> Any:
    """`value` with the given probability, else NULL: keeps nullable columns genuinely sparse."""
    return value if rng.random() < probability else None


def _timestamp(rng: random.Random) -> datetime:
    return EPOCH + timedelta(seconds=rng.randrange(2 * 365 * 86_400), microseconds=rng.randrange(1_000_000))


def customer_row(fake: Faker, rng: random.Random, created_at: datetime) -> tuple[Any, ...]:
    first, last = fake.first_name(), fake.last_name()
    preferences = _maybe(
        rng,
        0.8,
        {
            "language": rng.choice(["en", "de", "fr", "es"]),
            "newsletter": rng.random() < 0.5,
            "channels": rng.sample(["email", "sms", "push"], k=rng.randint(0, 3)),
            "address": {"city": fake.city(), "zip": fake.postcode()},
        },
    )
    return (
        first,
        last,
        f"{first}.{last}.{rng.randrange(10**6)}@{fake.free_email_domain()}".lower(),
        _maybe(rng, 0.5, fake.phone_number()),
        rng.random() < 0.1,
        _maybe(rng, 0.65, date(1950, 1, 1) + timedelta(days=rng.randrange(50 * 365))),
        created_at,
        _maybe(rng, 0.7, Decimal(rng.randrange(0, 5_000_000)) / 100),
        Json(preferences) if preferences is not None else None,
        _maybe(rng, 0.6, rng.sample(CUSTOMER_TAGS, k=rng.randint(0, 3))),
        _maybe(rng, 0.1, fake.sentence()),
    )


def _product_row(fake: Faker, rng: random.Random, index: int) -> tuple[Any, ...]:
    attributes = {"color": fake.color_name(), "weight_g": rng.randint(50, 5000)}
    if rng.random() < 0.3:
        attributes["variants"] = [{"size": s, "extra_cents": rng.randint(0, 500)} for s in ("S", "M", "L")]
    return (
        f"SKU-{index:05d}",
        fake.catch_phrase(),
        _maybe(rng, 0.7, fake.paragraph(nb_sentences=2)),
        Decimal(rng.randrange(99, 50_000)) / 100,
        rng.randint(0, 500),
        rng.random() < 0.9,
        Json(attributes),
        _maybe(rng, 0.8, [rng.randint(10, 800) for _ in range(3)]),
        _maybe(rng, 0.5, rng.sample(PRODUCT_TAGS, k=rng.randint(1, 2))),
        _timestamp(rng),
    )


def page_view_row(
    fake: Faker, rng: random.Random, customer_ids: Sequence[int], at: datetime
) -> tuple[Any, ...]:
    return (
        at,
        _maybe(rng, 0.7, rng.choice(customer_ids)) if customer_ids else None,
        f"/{fake.uri_path()}",
        _maybe(rng, 0.4, fake.url()),
        _maybe(rng, 0.9, rng.randint(100, 120_000)),
    )


def _insert(cur: Any, sql: str, rows: list[tuple[Any, ...]], *, returning: bool = False) -> list[Any]:
    result = execute_values(cur, sql, rows, page_size=1000, fetch=returning)
    return [r[0] for r in result] if returning else []


def seed(
    dsn: str,
    *,
    customers: int = 200,
    products: int = 50,
    orders: int = 400,
    page_views: int = 1000,
    seed: int = 42,
) -> SeedCounts:
    """Drop and recreate the demo tables, then insert seeded fake data in one transaction."""
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            _recreate_tables(cur)
            customer_ids = _insert(
                cur,
                "INSERT INTO public.customers (first_name, last_name, email, phone, is_vip, birth_date,"
                " created_at, credit_limit, preferences, tags, notes) VALUES %s RETURNING id",
                [customer_row(fake, rng, _timestamp(rng)) for _ in range(customers)],
                returning=True,
            )
            product_rows = [_product_row(fake, rng, i) for i in range(products)]
            product_ids = _insert(
                cur,
                "INSERT INTO public.products (sku, name, description, price, stock, active, attributes,"
                " dimensions_mm, tags, updated_at) VALUES %s RETURNING id",
                product_rows,
                returning=True,
            )
            prices = {pid: row[3] for pid, row in zip(product_ids, product_rows, strict=True)}
            order_rows, item_rows = _orders(rng, fake, customer_ids, prices, orders)
            order_ids = _insert(
                cur,
                "INSERT INTO public.orders (customer_id, status, total, ordered_at, ship_date, coupon)"
                " VALUES %s RETURNING id",
                order_rows,
                returning=True,
            )
            # Lines were built against the order's position in the batch; map positions to the real ids.
            items = [(order_ids[pos], *rest) for pos, *rest in item_rows]
            _insert(
                cur,
                "INSERT INTO public.order_items"
                " (order_id, line_no, product_id, quantity, unit_price, discount) VALUES %s",
                items,
            )
            views = sorted(_timestamp(rng) for _ in range(page_views))
            _insert(
                cur,
                "INSERT INTO public.page_views (viewed_at, customer_id, url, referrer, duration_ms)"
                " VALUES %s",
                [page_view_row(fake, rng, customer_ids, at) for at in views],
            )
    finally:
        conn.close()
    return SeedCounts(len(customer_ids), len(product_ids), len(order_ids), len(items), page_views)


def _recreate_tables(cur: Any) -> None:
    """Apply shop_schema.sql, keeping the tables in the publications that listed them.

    DROP TABLE silently removes a table from every publication; without this, re-seeding a live source would
    stop its capture. Same transaction: the rows inserted next are published.
    """
    cur.execute(
        "SELECT p.pubname, t.tablename FROM pg_publication_tables t JOIN pg_publication p USING (pubname)"
        " WHERE NOT p.puballtables AND t.schemaname = 'public' AND t.tablename = ANY(%s)",
        (list(DEMO_TABLES),),
    )
    memberships = cur.fetchall()
    cur.execute(SCHEMA_SQL.read_text())
    for publication, table in memberships:
        cur.execute(
            sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                sql.Identifier(publication), sql.Identifier("public", table)
            )
        )


def _orders(
    rng: random.Random, fake: Faker, customer_ids: Sequence[int], prices: dict[int, Decimal], count: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    if count and (not customer_ids or not prices):
        raise ValueError("orders need a customer and a product to refer to; raise customers/products above 0")
    order_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[Any, ...]] = []
    product_ids = sorted(prices)
    for pos in range(count):
        ordered_at = _timestamp(rng)
        status = rng.choice(STATUSES)
        shipped = status in ("shipped", "delivered")
        total = Decimal("0.00")
        for line_no in range(1, rng.randint(1, 4) + 1):
            product_id = rng.choice(product_ids)
            quantity = rng.randint(1, 5)
            discount = _maybe(rng, 0.2, Decimal(rng.randrange(500, 3000)) / 10_000)
            total += prices[product_id] * quantity
            item_rows.append((pos, line_no, product_id, quantity, prices[product_id], discount))
        ship_date = ordered_at.date() + timedelta(days=rng.randint(1, 5)) if shipped else None
        coupon = _maybe(rng, 0.1, fake.bothify("SAVE-####"))
        order_rows.append((rng.choice(customer_ids), status, total, ordered_at, ship_date, coupon))
    return order_rows, item_rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdc_project.demo.seed", description=seed.__doc__)
    parser.add_argument("--dsn", default=None, help="source database (default: the local stack's)")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--page-views", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    counts = seed(
        args.dsn or local_source_dsn(),
        customers=args.customers,
        products=args.products,
        orders=args.orders,
        page_views=args.page_views,
        seed=args.seed,
    )
    print(f"seed: {counts}")


if __name__ == "__main__":
    main()
