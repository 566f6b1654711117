"""Reconcile one captured table in one sink: the application service `cdc reconcile` and the Dagster
reconciliation asset call (docs/DESIGN.md "Reconciliation" holds the invariants).

1. Bisection (core/reconcile.bisect) between a source snapshot and a lake snapshot: candidate keys.
2. Recheck rounds, the in-flight invariant: per round, read the lake's state and rows of the candidates,
   take a new source snapshot, wait until the sink applied everything committed before it
   (adapters/reconcile_watermark.py), read the lake's state again. Keys whose state did not move are judged
   (core/reconcile.split_settled + classify); keys that moved were changing and go to the next round. Keys
   still moving after `recheck_rounds` are reported as in flight, never as drift.
3. Repair (optional): the judged keys are re-synced from that round's snapshot through the sink's
   `apply_repair`, then the table is reconciled again and that re-check is the run's final report.
Keyless tables compare row multisets by row hash, in the same rounds; they are not repairable.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cdc_project.adapters.reconcile_lake import LakeSide, lake_side_for
from cdc_project.adapters.reconcile_source_pg import (
    catalog,
    connect,
    primary_key,
    qualified,
    snapshot,
    source_rows,
    table_side,
)
from cdc_project.adapters.reconcile_watermark import PostgresCaptureWatermark, Watermark
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, TableConfig
from cdc_project.core.drift import ReconcileReport, Status
from cdc_project.core.errors import ConfigError, RepairRefusedError
from cdc_project.core.key_ranges import Bound
from cdc_project.core.reconcile import (
    DEFAULT_SETTINGS,
    EMPTY,
    BisectionSettings,
    DiffKind,
    Key,
    KeyDiff,
    bisect,
    classify,
    split_settled,
)
from cdc_project.core.reconcile_plan import ComparisonPlan, SourceColumn, plan_comparison
from cdc_project.core.repair_rows import RepairRow, repair_batch


@dataclass(frozen=True)
class Findings:
    source_rows: int
    lake_rows: int
    ranges_compared: int
    diffs: tuple[KeyDiff, ...]
    in_flight: int
    rounds: int
    watermark_lsn: str | None
    repairs: dict[Key, RepairRow]


@dataclass(frozen=True)
class Result:
    report: ReconcileReport
    diffs: tuple[KeyDiff, ...]
    key_names: tuple[str, ...]
    repaired_keys: frozenset[Key] = frozenset()


class TableReconciler:
    """Reconciliation of `table` in its `kind` sink; a context manager holding the two sides' connections."""

    def __init__(
        self,
        config: PipelineConfig,
        source: SourceConfig,
        table: TableConfig,
        kind: SinkKind,
        *,
        watermark: Watermark | None = None,
        settings: BisectionSettings = DEFAULT_SETTINGS,
    ) -> None:
        if source.kind != "postgres":
            raise ConfigError(
                f"sources[{source.name}].kind",
                "reconciliation reads the source with PostgreSQL "
                "SQL; other source kinds are not supported yet",
                ["postgres"],
            )
        self.config, self.source, self.table, self.kind = config, source, table, kind
        self.settings = settings
        self.watermark = watermark or PostgresCaptureWatermark(
            source, table, config.kafka, table.reconcile.catch_up_timeout_seconds
        )
        self.relation = qualified(table.schema_name, table.table_name)
        self.lake: LakeSide = lake_side_for(config, source, table, kind)
        try:
            self.conn = connect(source)
        except Exception:
            self.lake.close()
            raise

    def __enter__(self) -> TableReconciler:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.lake.close()
        self.conn.close()

    def plan(self) -> tuple[ComparisonPlan, list[SourceColumn]]:
        with self.conn.cursor() as cursor:
            columns = catalog(cursor, self.relation)
            keys = (
                []
                if self.table.append_only
                else (self.table.primary_key or primary_key(cursor, self.relation))
            )
        self.conn.rollback()
        if not keys and not self.table.append_only:
            raise ConfigError(
                f"tables[{self.table.name}].primary_key",
                "the source table has no primary key; "
                "name the key columns, or declare `primary_key: []` for a keyless table",
            )
        schema = self.lake.data_schema()
        lake_columns = None if schema is None else set(schema.names)
        plan = plan_comparison(
            self.table.name, columns, keys, lake_columns, self.table.reconcile.exclude_columns
        )
        return plan, columns

    def run(self, job_id: str | None = None, *, repair: bool = False, repair_of: str | None = None) -> Result:
        job_id = job_id or str(uuid.uuid4())
        started = datetime.now(UTC)
        plan, columns = self.plan()
        found = self._keyless(plan) if not plan.keys else self._keyed(plan, columns, collect=repair)
        kinds = Counter[str]()
        for diff in found.diffs:
            kinds[diff.kind] += diff.rows
        status: Status = "drift" if found.diffs else "in_sync"
        report = ReconcileReport(
            job_id=job_id,
            source=self.source.name,
            table=self.table.name,
            sink=self.kind,
            started_at=started,
            finished_at=datetime.now(UTC),
            status=status,
            source_rows=found.source_rows,
            lake_rows=found.lake_rows,
            ranges_compared=found.ranges_compared,
            missing=kinds["missing"],
            extra=kinds["extra"],
            mismatched=kinds["mismatched"],
            in_flight=found.in_flight,
            rounds=found.rounds,
            watermark_lsn=found.watermark_lsn,
            watermark_offsets=self.lake.sink.committed_offsets(),
            repair_of=repair_of,
            columns_not_compared=plan.not_compared,
        )
        names = tuple(plan.key_names)
        if not (repair and found.diffs):
            return Result(report, found.diffs, names)
        if not plan.keys:
            raise RepairRefusedError(
                self.table.name, self.kind, "a keyless table has no key to re-sync rows by"
            )
        self._repair(plan, found.repairs)
        report = dataclasses.replace(
            report, status="repaired", repaired=len(found.repairs), finished_at=datetime.now(UTC)
        )
        return Result(report, found.diffs, names, frozenset(found.repairs))

    def _keyed(self, plan: ComparisonPlan, columns: list[SourceColumn], *, collect: bool) -> Findings:
        with snapshot(self.conn) as snap:
            lake = self.lake.snapshot(plan)
            source = table_side(snap.runner, self.relation, plan)
            bisection = bisect(source, lake or EMPTY, self.settings)
            lsn: str | None = snap.lsn
        pending: dict[Key, Bound] = dict(bisection.candidates)
        diffs: list[KeyDiff] = []
        repairs: dict[Key, RepairRow] = {}
        rounds = 0
        while pending and rounds < self.table.reconcile.recheck_rounds:
            rounds += 1
            values = list(pending.values())
            before = self.lake.key_states(plan, values)
            lake_rows = self.lake.rows(plan, values)
            with snapshot(self.conn) as snap:
                source_digests = table_side(snap.runner, self.relation, plan).rows(values)
                full = source_rows(snap.runner, self.relation, plan, values, columns) if collect else {}
            lsn = self.watermark.catch_up(self.lake.sink).lsn or lsn
            after = self.lake.key_states(plan, values)
            settled, pending = split_settled(pending, before, after)
            judged = classify(settled, source_digests, lake_rows, plan.columns)
            diffs += judged
            for d in judged:
                repairs[d.key] = RepairRow(
                    dict(zip(plan.key_names, d.values, strict=True)), full.get(d.key), after.get(d.key)
                )
        return Findings(
            bisection.source_rows,
            bisection.lake_rows,
            bisection.ranges_compared,
            tuple(diffs),
            len(pending),
            rounds,
            lsn,
            repairs,
        )

    def _keyless(self, plan: ComparisonPlan) -> Findings:
        """Rows compared as multisets of row hashes; a hash's lake count is its watermark state."""
        with snapshot(self.conn) as snap:
            source = table_side(snap.runner, self.relation, plan).hash_counts()
            lsn: str | None = snap.lsn
        lake = self.lake.hash_counts(plan)
        totals = (sum(source.values()), sum(lake.values()))
        pending: dict[Key, Bound] = {
            (f"{h:015x}",): (h,) for h in source.keys() | lake.keys() if source[h] != lake[h]
        }
        diffs: list[KeyDiff] = []
        rounds = 0
        while pending and rounds < self.table.reconcile.recheck_rounds:
            rounds += 1
            before = self.lake.hash_counts(plan)
            with snapshot(self.conn) as snap:
                source = table_side(snap.runner, self.relation, plan).hash_counts()
            lsn = self.watermark.catch_up(self.lake.sink).lsn or lsn
            after = self.lake.hash_counts(plan)
            settled, pending = split_settled(pending, _counts(before, pending), _counts(after, pending))
            diffs += [
                _multiset_diff(key, h, source[h], before[h])
                for key, (h,) in settled.items()
                if source[h] != before[h]
            ]
        return Findings(totals[0], totals[1], 1, tuple(diffs), len(pending), rounds, lsn, {})

    def _repair(self, plan: ComparisonPlan, repairs: Mapping[Key, RepairRow]) -> None:
        schema = self.lake.data_schema()
        if schema is None:
            raise RepairRefusedError(
                self.table.name,
                self.kind,
                "the lake table does not exist yet; let the ingest create it (or re-snapshot the table)",
            )
        rows = repair_batch(list(repairs.values()), schema, self.lake.sink.topic, datetime.now(UTC))
        self.lake.sink.apply_repair(rows, plan.key_names)


def _counts(counts: Counter[int], keys: Mapping[Key, Bound]) -> dict[Key, str | None]:
    return {key: str(counts[h]) for key, (h,) in keys.items()}


def _multiset_diff(key: Key, row_hash: int, source: int, lake: int) -> KeyDiff:
    kind: DiffKind = "missing" if source > lake else "extra"
    return KeyDiff(
        key,
        (row_hash,),
        kind,
        (),
        row_hash if source else None,
        row_hash if lake else None,
        rows=abs(source - lake),
    )
