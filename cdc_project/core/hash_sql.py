"""The SQL reconciliation runs where the data lives: PostgreSQL (source, PostgreSQL sink) and DuckDB (lake).

One builder, two dialects, so both engines compute the same canonical text per value (core/canonical.py),
the same row text and the same 60-bit row hash:

  row text   the canonical texts of the compared columns joined by '|', NULL as '~'; free text is written
             `<bytes>:<text>` so no separator inside a value can make two different rows read alike
  row hash   the first 15 hex digits of md5(row text) as a bigint; a range's checksum is the exact sum
             (PostgreSQL numeric, DuckDB hugeint), so it is independent of row order

Key ranges are compared as tuples in the source's key order. PostgreSQL compares text keys with
COLLATE "C" (byte order), which is how DuckDB compares strings, so a range holds the same keys in both.
DuckDB cannot compare row values in a BETWEEN, so its tuple comparisons are written out lexicographically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cdc_project.core.canonical import FREE_TEXT, Canon, CanonicalColumn
from cdc_project.core.key_ranges import Bound, KeyRange, spans

DialectName = Literal["postgres", "duckdb"]
Params = list[Any]

_PG_VALUE: dict[Canon, str] = {
    "integer": "{c}::text",
    "decimal": "trim_scale({c}::numeric)::text",
    "real": "{c}::float4::text",
    "float": "{c}::float8::text",
    "boolean": "{c}::boolean::text",
    "text": "{c}::text",
    "char": "{c}::text",  # char(n)::text drops the pad, as the DuckDB side does
    "uuid": "lower({c}::text)",
    "bytes": "encode({c}, 'hex')",
    "date": "CASE WHEN isfinite({c}) THEN ({c} - date '1970-01-01')::text ELSE {c}::text END",
    # extract(epoch) is exact numeric since PostgreSQL 14: no float rounding of the microseconds
    "timestamp": "CASE WHEN isfinite({c}) THEN (extract(epoch FROM {c}) * 1000000)::bigint::text "
    "ELSE {c}::text END",
    "time": "(extract(epoch FROM {c}::time) * 1000000)::bigint::text",
    "json": "{c}::jsonb::text",
    "array": "array_to_json({c})::text",
}
_DUCK_VALUE: dict[Canon, str] = {
    "integer": "CAST({c} AS VARCHAR)",
    "decimal": "CASE WHEN contains(CAST({c} AS VARCHAR), '.') "
    "THEN rtrim(rtrim(CAST({c} AS VARCHAR), '0'), '.') "
    "ELSE CAST({c} AS VARCHAR) END",
    "real": "CAST(CAST({c} AS FLOAT) AS VARCHAR)",
    "float": "CAST(CAST({c} AS DOUBLE) AS VARCHAR)",
    "boolean": "CAST({c} AS VARCHAR)",
    "text": "CAST({c} AS VARCHAR)",
    "char": "rtrim(CAST({c} AS VARCHAR), ' ')",
    "uuid": "lower(CAST({c} AS VARCHAR))",
    "bytes": "lower(hex({c}))",
    "date": "CASE WHEN isfinite({c}) THEN CAST({c} - DATE '1970-01-01' AS VARCHAR) "
    "ELSE CAST({c} AS VARCHAR) END",
    "timestamp": "CASE WHEN isfinite({c}) THEN CAST(epoch_us({c}) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END",
    "time": "CAST(datediff('microsecond', TIME '00:00:00', CAST({c} AS TIME)) AS VARCHAR)",
    "json": "CAST({c} AS VARCHAR)",
    "array": "CAST(to_json({c}) AS VARCHAR)",
}


@dataclass(frozen=True)
class Dialect:
    name: DialectName

    @property
    def placeholder(self) -> str:
        return "%s" if self.name == "postgres" else "?"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def value(self, column: CanonicalColumn) -> str:
        """The canonical text of one column (NULL stays NULL)."""
        table = _PG_VALUE if self.name == "postgres" else _DUCK_VALUE
        return table[column.canon].format(c=self.ident(column.name))

    def row_hash(self, columns: Sequence[CanonicalColumn]) -> str:
        parts = []
        length = "octet_length" if self.name == "postgres" else "strlen"
        for column in columns:
            text = self.value(column)
            if column.canon in FREE_TEXT:
                text = f"{length}({text}) || ':' || {text}"
            parts.append(f"coalesce({text}, '~')")
        row = f"concat_ws('|', {', '.join(parts)})"
        if self.name == "postgres":
            return f"('x' || substr(md5({row}), 1, 15))::bit(60)::bigint"
        return f"CAST('0x' || substr(md5({row}), 1, 15) AS BIGINT)"

    def int_div(self, a: str, b: str) -> str:
        return f"({a}) / ({b})" if self.name == "postgres" else f"({a}) // ({b})"

    def key_term(self, column: CanonicalColumn) -> str:
        """A key column as ranges compare and order it."""
        term = self.ident(column.name)
        if self.name == "postgres" and column.canon in ("text", "char"):
            return f'{term} COLLATE "C"'
        return term

    def compare(
        self, keys: Sequence[CanonicalColumn], op: Literal[">=", "<"], bound: Bound
    ) -> tuple[str, Params]:
        """`key op bound` for a key tuple."""
        terms = [self.key_term(k) for k in keys]
        ph = self.placeholder
        if len(terms) == 1:
            return f"{terms[0]} {op} {ph}", [bound[0]]
        if self.name == "postgres":
            return f"({', '.join(terms)}) {op} ({', '.join([ph] * len(terms))})", list(bound)
        # (a, b) >= (x, y)  <=>  a > x OR (a = x AND b >= y), written out for DuckDB
        strict = ">" if op == ">=" else "<"
        clauses: list[str] = []
        params: Params = []
        for i in range(len(terms)):
            last = i == len(terms) - 1
            eqs = [f"{terms[j]} = {ph}" for j in range(i)]
            clauses.append("(" + " AND ".join([*eqs, f"{terms[i]} {op if last else strict} {ph}"]) + ")")
            params += [*bound[:i], bound[i]]
        return "(" + " OR ".join(clauses) + ")", params

    def in_range(self, keys: Sequence[CanonicalColumn], key_range: KeyRange) -> tuple[str, Params]:
        conditions: list[str] = []
        params: Params = []
        for op, bound in ((">=", key_range.lo), ("<", key_range.hi)):
            if bound is not None:
                sql, values = self.compare(keys, op, bound)  # type: ignore[arg-type]
                conditions.append(sql)
                params += values
        return (" AND ".join(conditions) or "TRUE"), params

    def in_ranges(self, keys: Sequence[CanonicalColumn], ranges: Sequence[KeyRange]) -> tuple[str, Params]:
        """A filter for the union of `ranges` (adjacent ones merged)."""
        parts: list[str] = []
        params: Params = []
        for span in spans(ranges):
            sql, values = self.in_range(keys, span)
            if sql == "TRUE":
                return "TRUE", []
            parts.append(f"({sql})")
            params += values
        return (" OR ".join(parts) or "FALSE"), params

    def bucket(
        self,
        keys: Sequence[CanonicalColumn],
        ranges: Sequence[KeyRange],
        casts: Sequence[str | None] | None = None,
    ) -> tuple[str, Params]:
        """The index of the range (ascending, disjoint) a row in their union falls into: a binary search.

        PostgreSQL with a one-column key and its type known uses width_bucket(key, lower bounds), the same
        binary search in C; otherwise a nested CASE of tuple comparisons (log2(ranges) deep).
        """
        bounds = [r.lo for r in ranges[1:]]
        if any(b is None for b in bounds):
            raise ValueError("only the first range may be unbounded below")
        if not bounds:
            return "0", []
        if self.name == "postgres" and len(keys) == 1 and casts and casts[0]:
            return f"width_bucket({self.key_term(keys[0])}, {self.placeholder}::{casts[0]}[])", [
                [b[0] for b in bounds if b is not None]
            ]

        def node(first: int, last: int) -> tuple[str, Params]:
            if first == last:
                return str(first), []
            middle = (first + last + 1) // 2
            test, params = self.compare(keys, ">=", bounds[middle - 1])  # type: ignore[arg-type]
            upper, upper_params = node(middle, last)
            lower, lower_params = node(first, middle - 1)
            return f"CASE WHEN {test} THEN {upper} ELSE {lower} END", params + upper_params + lower_params

        return node(0, len(ranges) - 1)

    def keys_in(
        self,
        keys: Sequence[CanonicalColumn],
        values: Sequence[Bound],
        casts: Sequence[str | None] | None = None,
    ) -> tuple[str, Params]:
        """`key IN (...)`; PostgreSQL placeholders carry the column types (`casts`) so literals compare."""
        if not values:
            return "FALSE", []
        ph = self.placeholder
        typed = [
            f"{ph}::{cast}" if cast and self.name == "postgres" else ph
            for cast in (casts or [None] * len(keys))
        ]
        row = f"({', '.join(typed)})"
        terms = ", ".join(self.ident(k.name) for k in keys)
        params = [v for value in values for v in value]
        if len(keys) == 1:
            return f"{terms} IN ({', '.join(typed * len(values))})", params
        return f"({terms}) IN (VALUES {', '.join([row] * len(values))})", params
