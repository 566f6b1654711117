"""One side of a reconciliation answered by SQL where its data lives: PostgreSQL (source, PostgreSQL sink) or
DuckDB (Delta via delta_scan, any sink's Arrow rows). Builds the queries of core/hash_sql.py and runs them
through a `Runner` (a psycopg2 cursor or a DuckDB connection), so both engines answer identical questions.

`relation` is what rows are read from (a table, or a subquery with an alias); `hashed`, if given, is a
relation that already holds the key columns and the row hash `h` (DuckDB materializes one per snapshot, so
bisection levels re-read hashes instead of rehashing the Delta table).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cdc_project.core.canonical import CanonicalColumn
from cdc_project.core.hash_sql import Dialect
from cdc_project.core.key_ranges import Bound, KeyRange
from cdc_project.core.reconcile import Key, KeyedHash, RangeStats, RowDigest, key_of

_CHUNK = 500  # keys per lookup query


class Runner(Protocol):
    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class SqlSide:
    runner: Runner
    dialect: Dialect
    relation: str
    keys: tuple[CanonicalColumn, ...]
    columns: tuple[CanonicalColumn, ...]  # compared columns, keys included
    hashed: str | None = None  # a relation with the key columns and `h`, or None: hash `relation` each time
    key_casts: tuple[str | None, ...] | None = None  # PostgreSQL types of the key columns, for lookups

    def _hash_source(self) -> tuple[str, str]:
        if self.hashed is not None:
            return self.hashed, "h"
        return self.relation, self.dialect.row_hash(self.columns)

    def _key_select(self) -> list[str]:
        raw = [self.dialect.ident(k.name) for k in self.keys]
        return raw + [self.dialect.value(k) for k in self.keys]

    def range_stats(self, ranges: Sequence[KeyRange]) -> list[RangeStats]:
        relation, row_hash = self._hash_source()
        bucket, bucket_params = (
            self.dialect.bucket(self.keys, ranges, self.key_casts) if self.keys else ("0", [])
        )
        where, where_params = self.dialect.in_ranges(self.keys, ranges)
        sql = (
            f"SELECT b, count(*), sum(h) FROM (SELECT {bucket} AS b, {row_hash} AS h FROM {relation} "
            f"WHERE {where}) q GROUP BY b"
        )
        stats = [RangeStats(0, 0)] * len(ranges)
        for index, count, checksum in self.runner.fetch(sql, bucket_params + where_params):
            stats[int(index)] = RangeStats(int(count), int(checksum or 0))
        return stats

    def split_points(self, ranges: Sequence[KeyRange], parts: int) -> list[list[Bound]]:
        """Per range, the keys that start parts 2..`parts` of it in key order (about equal row counts)."""
        relation, _ = self._hash_source()
        bucket, bucket_params = self.dialect.bucket(self.keys, ranges, self.key_casts)
        where, where_params = self.dialect.in_ranges(self.keys, ranges)
        names = ", ".join(self.dialect.ident(k.name) for k in self.keys)
        order = ", ".join(self.dialect.key_term(k) for k in self.keys)
        step = self.dialect.int_div
        sql = (
            f"SELECT b, {names} FROM (SELECT b, {names}, "
            f"row_number() OVER (PARTITION BY b ORDER BY {order}) AS rn, "
            f"count(*) OVER (PARTITION BY b) AS n FROM (SELECT {bucket} AS b, {names} FROM {relation} "
            f"WHERE {where}) inner_q) q WHERE rn > 1 AND {step(f'(rn - 1) * {parts}', 'n')} > "
            f"{step(f'(rn - 2) * {parts}', 'n')} ORDER BY b, {order}"
        )
        points: list[list[Bound]] = [[] for _ in ranges]
        for row in self.runner.fetch(sql, bucket_params + where_params):
            points[int(row[0])].append(tuple(row[1:]))
        return points

    def row_hashes(self, ranges: Sequence[KeyRange]) -> list[KeyedHash]:
        relation, row_hash = self._hash_source()
        where, params = self.dialect.in_ranges(self.keys, ranges)
        n = len(self.keys)
        sql = f"SELECT {', '.join(self._key_select())}, {row_hash} FROM {relation} WHERE {where}"
        return [
            KeyedHash(key_of(row[n : 2 * n], self.keys), tuple(row[:n]), int(row[2 * n]))
            for row in self.runner.fetch(sql, params)
        ]

    def rows(self, keys: Sequence[Bound]) -> dict[Key, RowDigest]:
        """Canonical column texts of the rows holding `keys` (absent keys are left out)."""
        n = len(self.keys)
        texts = [self.dialect.value(c) for c in self.columns]
        select = f"{', '.join(self._key_select())}, {self.dialect.row_hash(self.columns)}, {', '.join(texts)}"
        found: dict[Key, RowDigest] = {}
        copies: Counter[Key] = Counter()
        for start in range(0, len(keys), _CHUNK):
            where, params = self.dialect.keys_in(self.keys, keys[start : start + _CHUNK], self.key_casts)
            for row in self.runner.fetch(f"SELECT {select} FROM {self.relation} WHERE {where}", params):
                key = key_of(row[n : 2 * n], self.keys)
                copies[key] += 1
                found[key] = RowDigest(tuple(row[:n]), int(row[2 * n]), tuple(row[2 * n + 1 :]))
        return {k: RowDigest(d.values, d.row_hash, d.texts, copies[k]) for k, d in found.items()}

    def hash_counts(self) -> Counter[int]:
        """Keyless tables: rows per row hash (a multiset of rows, compared without a key)."""
        relation, row_hash = self._hash_source()
        sql = f"SELECT h, count(*) FROM (SELECT {row_hash} AS h FROM {relation}) q GROUP BY h"
        return Counter({int(h): int(n) for h, n in self.runner.fetch(sql, [])})
