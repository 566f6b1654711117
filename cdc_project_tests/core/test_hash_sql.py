"""Scope: the SQL core/hash_sql.py builds, run in a real DuckDB (the lake engine; the PostgreSQL dialect is
held to the same results by the live cross-engine tests): tuple comparisons and range buckets order keys
exactly as Python tuples do, including composite keys, and the row hash is md5 of the documented row text."""

from __future__ import annotations

import bisect
import hashlib
import random

import pytest

from cdc_project.adapters.duckdb_conn import DuckDbRunner, connect
from cdc_project.core.canonical import CanonicalColumn
from cdc_project.core.hash_sql import Dialect
from cdc_project.core.key_ranges import KeyRange

DUCK = Dialect("duckdb")
KEYS = (CanonicalColumn("a", "integer"), CanonicalColumn("b", "text"))


@pytest.fixture(scope="module")
def runner() -> DuckDbRunner:
    conn = connect(extensions=())
    rng = random.Random(5)
    rows = sorted({(rng.randrange(20), rng.choice(["", "a", "ab", "b", "é", "B"])) for _ in range(120)})
    conn.execute("CREATE TABLE t (a BIGINT, b VARCHAR)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    return DuckDbRunner(conn)


def _rows(runner: DuckDbRunner) -> list[tuple[int, str]]:
    return sorted((int(a), str(b)) for a, b in runner.fetch("SELECT a, b FROM t", []))  # type: ignore[call-overload]


@pytest.mark.parametrize("bound", [(7, "ab"), (0, ""), (19, "é"), (7, "B")])
def test_compare_orders_composite_keys_like_tuples(runner: DuckDbRunner, bound: tuple[int, str]) -> None:
    sql, params = DUCK.compare(KEYS, ">=", bound)
    got = sorted(runner.fetch(f"SELECT a, b FROM t WHERE {sql}", params))
    assert got == [r for r in _rows(runner) if r >= bound]
    sql, params = DUCK.compare(KEYS, "<", bound)
    assert sorted(runner.fetch(f"SELECT a, b FROM t WHERE {sql}", params)) == [
        r for r in _rows(runner) if r < bound
    ]


def test_bucket_assigns_each_row_its_range(runner: DuckDbRunner) -> None:
    cuts = [(3, "a"), (3, "b"), (9, ""), (15, "é")]
    ranges = [KeyRange(lo, hi) for lo, hi in zip([None, *cuts], [*cuts, None], strict=True)]
    bucket, params = DUCK.bucket(KEYS, ranges)
    got = {(int(a), str(b)): int(i) for a, b, i in runner.fetch(f"SELECT a, b, {bucket} FROM t", params)}  # type: ignore[call-overload]
    assert got == {row: bisect.bisect_right(cuts, row) for row in _rows(runner)}


def test_in_ranges_selects_the_union(runner: DuckDbRunner) -> None:
    ranges = [KeyRange((2, ""), (4, "")), KeyRange((4, ""), (5, "")), KeyRange((11, "b"), None)]
    where, params = DUCK.in_ranges(KEYS, ranges)
    got = sorted(runner.fetch(f"SELECT a, b FROM t WHERE {where}", params))
    assert got == [r for r in _rows(runner) if (2, "") <= r < (5, "") or r >= (11, "b")]


def test_row_hash_is_md5_of_the_row_text() -> None:
    runner = DuckDbRunner(connect(extensions=()))
    columns = (
        CanonicalColumn("id", "integer"),
        CanonicalColumn("name", "text"),
        CanonicalColumn("price", "decimal"),
        CanonicalColumn("at", "timestamp"),
        CanonicalColumn("note", "text"),
    )
    sql = (
        f"SELECT {DUCK.row_hash(columns)} FROM (SELECT 7 AS id, 'a|b' AS name, 12.50::DECIMAL(10,2) AS price, "
        "TIMESTAMPTZ '1970-01-01 00:00:01+00' AS at, NULL::VARCHAR AS note)"
    )
    [(row_hash,)] = runner.fetch(sql, [])
    # free text is length-prefixed so the '|' inside 'a|b' cannot shift columns; NULL is '~'
    text = "7|3:a|b|12.5|1000000|~"
    assert row_hash == int(hashlib.md5(text.encode()).hexdigest()[:15], 16)
