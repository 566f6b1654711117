"""Per table and sink: the reconciliation asset `<sink>/<source>/<table>_reconciliation` (downstream of the
sink's current-state asset) with its blocking asset check `drift_within_thresholds`.

A materialization reconciles the table now (cdc_project/reconcile_job.py), writes the report and key rows,
records drift and counts as metadata, and evaluates the check: WARN above `warn_drift_pct`, ERROR (blocking
downstream assets) at `critical_drift_pct`. With `repair: true` (the repair job) it re-syncs the differing
keys and reports the re-check. Every reconciliation op of a table shares the pool `reconcile_<table>`
(limit 1, dagster.yaml), so runs launched any way - schedule, repair job, the UI - never overlap on a table.
"""

# No `from __future__ import annotations` here: Dagster reads the asset's config annotation at runtime.

import json
from dataclasses import dataclass

import dagster as dg

from cdc_project.config import PipelineConfig
from cdc_project.defs.ingest.assets import TableAssets
from cdc_project.reconcile_job import ReconcileOutcome, reconcile

CHECK_NAME = "drift_within_thresholds"


@dataclass(frozen=True)
class ReconcileNames:
    """Names of one table's reconciliation in one sink (built on the ingest naming)."""

    table: TableAssets

    @property
    def key(self) -> dg.AssetKey:
        t = self.table
        return dg.AssetKey([t.sink, t.source.name, f"{t.table.table_name}_reconciliation"])

    @property
    def table_slug(self) -> str:  # e.g. shop_customers: one schedule, job and pool per table
        return self.table.slug.removesuffix(f"_{self.table.sink}")

    @property
    def tags(self) -> dict[str, str]:
        # Not cdc/stream: a reconciliation waits for the table's ingest runs; it must not queue behind them.
        return {"cdc/reconcile": self.table.key, "cdc/role": "reconcile"}


class ReconcileRunConfig(dg.Config):
    """repair: re-sync the differing keys from the source, then re-check (the repair job sets it)."""

    repair: bool = False


def report_metadata(
    outcome: ReconcileOutcome,
) -> dict[str, dg.MetadataValue | int | float | str | bool | None]:
    report = outcome.report
    meta: dict[str, dg.MetadataValue | int | float | str | bool | None] = {
        "job_id": report.job_id,
        "status": report.status,
        "drift_pct": report.drift_pct,
        "source_rows": report.source_rows,
        "lake_rows": report.lake_rows,
        "ranges_compared": report.ranges_compared,
        "missing": report.missing,
        "extra": report.extra,
        "mismatched": report.mismatched,
        "in_flight": report.in_flight,
        "rounds": report.rounds,
        "watermark_lsn": report.watermark_lsn or "",
        "watermark_offsets": dg.MetadataValue.json({str(p): o for p, o in report.watermark_offsets.items()}),
        "duration_seconds": round((report.finished_at - report.started_at).total_seconds(), 3),
    }
    if outcome.repaired is not None:
        meta["repaired_keys"] = outcome.repaired.repaired
        meta["repaired_job_id"] = outcome.repaired.job_id
    if report.columns_not_compared:
        meta["columns_not_compared"] = json.dumps(list(report.columns_not_compared))
    return meta


def drift_check_result(outcome: ReconcileOutcome) -> dg.AssetCheckResult:
    verdict = outcome.verdict
    severity = dg.AssetCheckSeverity.ERROR if verdict.severity == "critical" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=verdict.passed,
        severity=severity,
        description=verdict.message,
        metadata={
            "drift_pct": verdict.drift_pct,
            "severity": verdict.severity,
            "differing": outcome.report.differing,
            "job_id": outcome.report.job_id,
        },
    )


def build_reconcile_asset(pipeline: PipelineConfig, names: ReconcileNames) -> dg.AssetsDefinition:
    t = names.table
    limits = t.table.reconcile
    check = dg.AssetCheckSpec(
        CHECK_NAME,
        asset=names.key,
        blocking=True,
        description=f"drift_pct warns above {limits.warn_drift_pct}% and fails (blocking) at "
        f"{limits.critical_drift_pct}%",
    )

    @dg.asset(
        key=names.key,
        deps=[t.current_key],
        check_specs=[check],
        group_name="reconciliation",
        kinds={t.sink, "duckdb"} if t.sink != "postgres" else {"postgres"},
        pool=f"reconcile_{names.table_slug}",
        op_tags=names.tags,
        description=f"{t.table.name} in {t.sink} reconciled against its source: hashed key ranges, keys that "
        "differ, drift; report rows in lake.root/_reconcile/",
        metadata={"cdc/table": t.key, "cdc/sink": t.sink},
    )
    def reconciliation(context: dg.AssetExecutionContext, config: ReconcileRunConfig) -> dg.MaterializeResult:  # type: ignore[type-arg]
        outcome = reconcile(pipeline, t.source, t.table, t.sink, repair=config.repair)
        context.log.info(outcome.verdict.message)
        return dg.MaterializeResult(
            metadata=report_metadata(outcome), check_results=[drift_check_result(outcome)]
        )

    return reconciliation
