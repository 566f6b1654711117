"""The lake side of a reconciliation for the PostgreSQL sink: the same PostgreSQL dialect as the source side,
run in the sink's database over its table `{schema_prefix}{source}_{schema}.{table}` (the data columns plus
`_cdc_*` columns; rows the source deleted stay, flagged `_cdc_deleted`, and serve as tombstones).

The content compared is the rows not flagged deleted; a key's state (the watermark evidence, see
adapters/reconcile_lake.py) is the greatest `_cdc_position` of its row, flagged or not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import psycopg2
import psycopg2.extensions
import pyarrow as pa

from cdc_project.adapters.postgres_tables import connect
from cdc_project.adapters.reconcile_source_pg import POSTGRES, PgRunner, qualified, table_side
from cdc_project.adapters.reconcile_sql_side import SqlSide
from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import PostgresSinkConfig, TableConfig
from cdc_project.core.columns import DELETED, POSITION
from cdc_project.core.key_ranges import Bound
from cdc_project.core.reconcile import Key, RowDigest, key_of
from cdc_project.core.reconcile_plan import ComparisonPlan


def sink_relation(prefix: str, source_name: str, table: TableConfig) -> str:
    return qualified(f"{prefix}{source_name}_{table.schema_name}", table.table_name)


class PostgresSinkLake:
    def __init__(self, sink: TableSink, conn: psycopg2.extensions.connection, relation: str) -> None:
        self.sink = sink
        self.conn = conn
        self.relation = relation
        self.live = f"(SELECT * FROM {relation} WHERE NOT coalesce({POSTGRES.ident(DELETED)}, false)) AS lake"

    @classmethod
    def connect(
        cls, sink: TableSink, config: PostgresSinkConfig, source_name: str, table: TableConfig
    ) -> PostgresSinkLake:
        conn = connect(config, "cdc-reconcile")
        return cls(sink, conn, sink_relation(config.schema_prefix, source_name, table))

    def data_schema(self) -> pa.Schema | None:
        current = self.sink.read_current()
        return None if current is None else current.schema

    def _cursor(self, isolation: str) -> PgRunner:
        self.conn.rollback()
        self.conn.set_session(isolation_level=isolation, readonly=True, autocommit=False)
        cursor = self.conn.cursor()
        cursor.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1")
        return PgRunner(cursor)

    def snapshot(self, plan: ComparisonPlan) -> SqlSide | None:
        """One REPEATABLE READ transaction for the whole bisection (open until the next call)."""
        return table_side(self._cursor("REPEATABLE READ"), self.live, plan)

    def rows(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, RowDigest]:
        return table_side(self._cursor("READ COMMITTED"), self.live, plan).rows(keys) if keys else {}

    def key_states(self, plan: ComparisonPlan, keys: Sequence[Bound]) -> dict[Key, str | None]:
        runner = self._cursor("READ COMMITTED")
        texts = [POSTGRES.value(k) for k in plan.keys]
        states: dict[Key, str | None] = {}
        for start in range(0, len(keys), 500):
            where, params = POSTGRES.keys_in(plan.keys, keys[start : start + 500], plan.key_types)
            sql = (
                f'SELECT {", ".join(texts)}, max({POSTGRES.ident(POSITION)} COLLATE "C") '
                f"FROM {self.relation} "
                f"WHERE {where} GROUP BY {', '.join(texts)}"
            )
            for row in runner.fetch(sql, params):
                states[key_of(row[:-1], plan.keys)] = row[-1]
        return states

    def hash_counts(self, plan: ComparisonPlan) -> Counter[int]:
        return table_side(self._cursor("READ COMMITTED"), self.live, plan).hash_counts()

    def close(self) -> None:
        self.conn.close()
