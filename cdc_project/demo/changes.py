"""The changes the demo generator makes to the shop, one function per kind, each in its own transaction(s).

Invariant: no operation can violate a constraint. Keys are picked from rows that exist at that moment, deletes
only touch rows nothing references (an order's lines go with it by ON DELETE CASCADE; a customer is deleted
only if it has no orders, checked in the DELETE itself), and every count comes from `rowcount`, so the tally
matches what the WAL (and therefore Debezium) sees, cascaded deletes included.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from faker import Faker
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from cdc_project.demo.seed import customer_row, page_view_row

Op = Literal["insert", "update", "delete"]
SHOP_TABLES = ("customers", "products", "orders", "order_items", "page_views")


@dataclass(frozen=True)
class RowChange:
    table: str
    op: Op
    rows: int


@dataclass(frozen=True)
class Outcome:
    changes: tuple[RowChange, ...]
    transactions: int


Operation = Callable[[Connection, random.Random, Faker], Outcome]


def pick_key(cur: Cursor, table: str, rng: random.Random, where: str = "true") -> int | None:
    """A random existing id (by a random point in [min, max], then the next id): one index probe, no scan."""
    cur.execute(
        f"WITH b AS (SELECT min(id) AS lo, max(id) AS hi FROM public.{table} WHERE {where}) "
        f"SELECT t.id FROM public.{table} t, b WHERE {where} "
        "AND t.id >= b.lo + floor(%s * (b.hi - b.lo + 1))::bigint ORDER BY t.id LIMIT 1",
        (rng.random(),),
    )
    row = cur.fetchone()
    return None if row is None else int(row[0])


def insert_customer(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO public.customers (first_name, last_name, email, phone, is_vip, birth_date,"
            " created_at, credit_limit, preferences, tags, notes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            customer_row(fake, rng, datetime.now(UTC)),
        )
    return Outcome((RowChange("customers", "insert", 1),), 1)


def insert_order(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    """An order with its lines and then its total: one transaction of several statements and tables."""
    with conn, conn.cursor() as cur:
        customer_id = pick_key(cur, "customers", rng)
        if customer_id is None:
            return Outcome((), 0)
        cur.execute(
            "INSERT INTO public.orders (customer_id, coupon) VALUES (%s, %s) RETURNING id",
            (customer_id, fake.bothify("SAVE-####") if rng.random() < 0.1 else None),
        )
        order_id = cur.fetchone()[0]
        lines = 0
        for line_no in range(1, rng.randint(1, 4) + 1):
            product_id = pick_key(cur, "products", rng)
            if product_id is None:
                break
            cur.execute(
                "INSERT INTO public.order_items"
                " (order_id, line_no, product_id, quantity, unit_price, discount)"
                " SELECT %s, %s, id, %s, price, %s FROM public.products WHERE id = %s",
                (order_id, line_no, rng.randint(1, 5), _discount(rng), product_id),
            )
            lines += cur.rowcount
        cur.execute(
            "UPDATE public.orders SET total = coalesce((SELECT sum(quantity * unit_price)"
            " FROM public.order_items WHERE order_id = %s), 0) WHERE id = %s",
            (order_id, order_id),
        )
        updated = cur.rowcount
    changes = [RowChange("orders", "insert", 1), RowChange("orders", "update", updated)]
    return Outcome((*changes, RowChange("order_items", "insert", lines)), 1)


def insert_page_views(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    with conn, conn.cursor() as cur:
        customer_id = pick_key(cur, "customers", rng)
        rows = [page_view_row(fake, rng, [customer_id] if customer_id else [], datetime.now(UTC))]
        rows *= rng.randint(1, 3)  # a visitor's burst of identical views: legal, the table has no key
        cur.executemany(
            "INSERT INTO public.page_views (viewed_at, customer_id, url, referrer, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
    return Outcome((RowChange("page_views", "insert", len(rows)),), 1)


def update_customer(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    """Touch a random subset of columns, moving nullable ones to and from NULL."""
    assignments = {
        "phone": fake.phone_number() if rng.random() < 0.6 else None,
        "is_vip": rng.random() < 0.2,
        "credit_limit": Decimal(rng.randrange(0, 5_000_000)) / 100 if rng.random() < 0.8 else None,
        "notes": fake.sentence() if rng.random() < 0.3 else None,
    }
    columns = rng.sample(sorted(assignments), k=rng.randint(1, len(assignments)))
    sets = [f"{c} = %s" for c in columns]
    values: list[Any] = [assignments[c] for c in columns]
    if rng.random() < 0.5:
        sets.append(
            "preferences = jsonb_set(coalesce(preferences, '{}'), '{newsletter}', to_jsonb(%s::boolean))"
        )
        values.append(rng.random() < 0.5)
    if rng.random() < 0.3:
        sets.append("tags = array_append(coalesce(tags, '{}'), %s)")
        values.append(rng.choice(["vip", "churn-risk", "promo"]))
    with conn, conn.cursor() as cur:
        key = pick_key(cur, "customers", rng)
        cur.execute(f"UPDATE public.customers SET {', '.join(sets)} WHERE id = %s", (*values, key))
        rows = cur.rowcount
    return Outcome((RowChange("customers", "update", rows),), 1)


def update_product(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    with conn, conn.cursor() as cur:
        key = pick_key(cur, "products", rng)
        cur.execute(
            "UPDATE public.products SET price = round(price * %s, 2), stock = greatest(stock + %s, 0),"
            " updated_at = clock_timestamp() WHERE id = %s",
            (Decimal(rng.randint(90, 110)) / 100, rng.randint(-20, 20), key),
        )
        rows = cur.rowcount
    return Outcome((RowChange("products", "update", rows),), 1)


def update_order_status(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    """Advance an open order one step (or cancel it); shipping sets ship_date, a NULL becoming a date."""
    cancel = rng.random() < 0.1
    with conn, conn.cursor() as cur:
        key = pick_key(cur, "orders", rng, "status IN ('new', 'paid', 'shipped')")
        cur.execute(
            "UPDATE public.orders SET status = CASE WHEN %s THEN 'cancelled' ELSE"
            " (CASE status WHEN 'new' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE 'delivered' END) END,"
            " ship_date = CASE WHEN NOT %s AND status = 'paid' THEN current_date ELSE ship_date END"
            " WHERE id = %s AND status IN ('new', 'paid', 'shipped')",
            (cancel, cancel, key),
        )
        rows = cur.rowcount
    return Outcome((RowChange("orders", "update", rows),), 1)


def burst(conn: Connection, rng: random.Random, size: int, *, one_transaction: bool) -> Outcome:
    """`size` updates of ONE key in quick succession: the case where only the last event per key may win."""
    table, setter = rng.choice(
        [
            ("products", "stock = stock + 1, updated_at = clock_timestamp()"),
            ("customers", "credit_limit = coalesce(credit_limit, 0) + 1"),
        ]
    )
    with conn, conn.cursor() as cur:
        key = pick_key(cur, table, rng)
    rows = 0
    statement = f"UPDATE public.{table} SET {setter} WHERE id = %s"
    if one_transaction:
        with conn, conn.cursor() as cur:
            for _ in range(size):
                cur.execute(statement, (key,))
                rows += cur.rowcount
    else:
        for _ in range(size):
            with conn, conn.cursor() as cur:
                cur.execute(statement, (key,))
                rows += cur.rowcount
    return Outcome((RowChange(table, "update", rows),), 1 if one_transaction else size)


def delete_order(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    """Delete an order; its lines go by cascade and are counted under a lock so the count is exact."""
    with conn, conn.cursor() as cur:
        key = pick_key(cur, "orders", rng)
        # FOR UPDATE conflicts with the FOR KEY SHARE an inserted line takes on its order: no line can
        # appear between the count and the delete.
        cur.execute("SELECT id FROM public.orders WHERE id = %s FOR UPDATE", (key,))
        cur.execute("SELECT count(*) FROM public.order_items WHERE order_id = %s", (key,))
        lines = cur.fetchone()[0]
        cur.execute("DELETE FROM public.orders WHERE id = %s", (key,))
        orders = cur.rowcount
    changes = (RowChange("orders", "delete", orders), RowChange("order_items", "delete", lines * orders))
    return Outcome(changes, 1)


def delete_customer(conn: Connection, rng: random.Random, fake: Faker) -> Outcome:
    """Delete a customer without orders; falls back to deleting an order when every customer has one."""
    with conn, conn.cursor() as cur:
        cur.execute(
            # From a random key upwards, wrapping around to the lowest ids.
            "DELETE FROM public.customers c WHERE c.id = (SELECT id FROM public.customers x"
            " WHERE NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.customer_id = x.id)"
            " ORDER BY (id < %s), id LIMIT 1)"
            " AND NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.customer_id = c.id)",
            (pick_key(cur, "customers", rng) or 0,),
        )
        rows = cur.rowcount
    if rows == 0:
        return delete_order(conn, rng, fake)
    return Outcome((RowChange("customers", "delete", rows),), 1)


def _discount(rng: random.Random) -> Decimal | None:
    return Decimal(rng.randrange(500, 3000)) / 10_000 if rng.random() < 0.2 else None


OPERATIONS: dict[Op, tuple[tuple[Operation, float], ...]] = {
    # (operation, relative weight within its kind)
    "insert": ((insert_customer, 0.3), (insert_order, 0.4), (insert_page_views, 0.3)),
    "update": ((update_customer, 0.35), (update_product, 0.35), (update_order_status, 0.3)),
    "delete": ((delete_order, 0.6), (delete_customer, 0.4)),
}
