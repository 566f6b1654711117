"""Waiting until a sink has applied everything the source committed before a point: the reconciliation
watermark (docs/DESIGN.md "Reconciliation", the in-flight invariant).

`PostgresCaptureWatermark.catch_up(sink)` returns once every transaction committed before the call is in
the sink:
1. a marker transaction (a Debezium `log` signal inserted into the source's signal table and deleted in the
   same transaction) commits after everything the caller saw; M is a WAL position inside it, below its
   commit record. Replication-slot flushes are commit LSNs, so a `confirmed_flush_lsn` >= M means Debezium
   finished the marker or a later transaction, hence every transaction committed before it: its events
   are in Kafka (Connect commits a task's records and source offsets before Debezium acknowledges the
   position to the slot).
   The marker is needed: heartbeats do not move the flush position while the captured tables are idle
   (measured on Debezium 3.6: it stays at the last captured commit), so waiting for the current WAL
   position could wait forever.
2. the topic's end offsets, read after that (the last stable offset: with exactly-once capture the
   slot's flush follows Connect's transaction commit) bound every event of those transactions;
3. the sink's committed offsets reach them: the sink has applied every such event (or dead-lettered it).
Each wait is bounded (`timeout`); giving up raises CatchUpTimeoutError rather than judging a key early.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Protocol

from psycopg2 import sql

from cdc_project.adapters import kafka_source
from cdc_project.adapters.kafka_source import KafkaTarget
from cdc_project.adapters.reconcile_source_pg import connect
from cdc_project.adapters.table_sink import TableSink
from cdc_project.config import SourceConfig, TableConfig
from cdc_project.core.errors import CatchUpTimeoutError, ConfigError


@dataclass(frozen=True)
class CaughtUp:
    lsn: str | None  # the source position the sink is known to have applied (None: not fed by a capture)
    offsets: dict[int, int]  # the sink's committed offsets once caught up
    waited_seconds: float


class Watermark(Protocol):
    def catch_up(self, sink: TableSink) -> CaughtUp: ...


class AppliedWatermark:
    """A lake no capture feeds (a bulk load, a copy): nothing is in flight, nothing to wait for."""

    def catch_up(self, sink: TableSink) -> CaughtUp:
        return CaughtUp(None, sink.committed_offsets(), 0.0)


def _poll(
    condition: Callable[[], bool],
    timeout: float,
    stage: str,
    detail: Callable[[], str],
    interval: float = 0.5,
) -> None:
    began = time.monotonic()
    while not condition():
        waited = time.monotonic() - began
        if waited > timeout:
            raise CatchUpTimeoutError(stage, waited, detail())
        time.sleep(interval)


class PostgresCaptureWatermark:
    def __init__(self, source: SourceConfig, table: TableConfig, kafka: KafkaTarget, timeout: float) -> None:
        if source.kind != "postgres":
            raise ConfigError(
                f"sources[{source.name}].kind", "reconciliation watermarks need a postgres source"
            )
        if source.signal_table is None:
            raise ConfigError(
                f"sources[{source.name}].signal_table",
                "reconciliation needs the Debezium signal table to mark a source position (heartbeats do not "
                "advance the replication slot while the captured tables are idle); set signal_table",
            )
        self.source = source
        self.signal_table = source.signal_table
        self.topic = source.topic_for(table)
        self.kafka = kafka
        self.timeout = timeout

    def _mark(self) -> str:
        schema, name = self.signal_table.split(".")
        target = sql.Identifier(schema, name)
        marker = str(uuid.uuid4())
        data = json.dumps({"message": f"cdc reconcile watermark {marker}"})
        with closing(connect(self.source)) as conn, conn, conn.cursor() as cursor:  # one transaction
            cursor.execute(
                sql.SQL("INSERT INTO {} (id, type, data) VALUES (%s, 'log', %s)").format(target),
                (marker, data),
            )
            cursor.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(target), (marker,))
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            row = cursor.fetchone()
        assert row is not None
        return str(row[0])

    def _flushed(self, mark: str) -> tuple[str | None, bool]:
        """The slot's confirmed flush position and whether it has reached `mark`."""
        with closing(connect(self.source)) as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT confirmed_flush_lsn::text, coalesce(confirmed_flush_lsn >= %s::pg_lsn, false) "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (mark, self.source.replication_slot),
            )
            row = cursor.fetchone()
        return (None, False) if row is None else (row[0], bool(row[1]))

    def catch_up(self, sink: TableSink) -> CaughtUp:
        began = time.monotonic()
        mark = self._mark()
        slot = self.source.replication_slot
        _poll(
            lambda: self._flushed(mark)[1],
            self.timeout,
            f"the capture to pass {mark}",
            lambda: f"slot {slot} has flushed {self._flushed(mark)[0]}",
        )
        ends = kafka_source.end_offsets(self.kafka, self.topic)
        wanted = {p: end - 1 for p, end in ends.items() if end > 0}

        def applied() -> bool:
            committed = sink.committed_offsets()
            return all(committed.get(p, -1) >= last for p, last in wanted.items())

        remaining = max(1.0, self.timeout - (time.monotonic() - began))
        _poll(
            applied,
            remaining,
            f"the {sink.kind} sink to apply {self.topic} through {wanted}",
            lambda: f"it has committed {sink.committed_offsets()}",
            interval=1.0,
        )
        return CaughtUp(mark, sink.committed_offsets(), time.monotonic() - began)
