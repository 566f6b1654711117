"""One reconciliation schedule per table (tables[].reconcile.cron, UTC): a pure decision around one look at
the instance, skipping while a reconciliation of the table is still queued or running."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from cdc_project.defs.ingest.sensors import UNFINISHED
from cdc_project.defs.reconcile.assets import ReconcileNames


@dataclass(frozen=True)
class ScheduleDecision:
    run_key: str | None
    skip_reason: str | None


def decide_schedule(table_key: str, in_flight_run: str | None, scheduled_at: datetime) -> ScheduleDecision:
    if in_flight_run is not None:
        return ScheduleDecision(None, f"{table_key}: reconciliation run {in_flight_run} has not finished")
    return ScheduleDecision(f"{table_key}|{scheduled_at.isoformat()}", None)


def in_flight_reconciliation(instance: dg.DagsterInstance, table_key: str) -> str | None:
    runs = instance.get_runs(dg.RunsFilter(tags={"cdc/reconcile": table_key}, statuses=UNFINISHED), limit=1)
    return runs[0].run_id if runs else None


def build_reconcile_schedule(
    names: ReconcileNames, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    table = names.table

    @dg.schedule(
        name=f"reconcile_{names.table_slug}_schedule",
        cron_schedule=table.table.reconcile.cron,
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Reconciles {table.table.name} against each of its sinks; skips while one still runs",
    )
    def reconcile_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        scheduled_at = context.scheduled_execution_time
        assert scheduled_at is not None
        decision = decide_schedule(
            table.key, in_flight_reconciliation(context.instance, table.key), scheduled_at
        )
        if decision.run_key is None:
            return dg.SkipReason(decision.skip_reason)
        return dg.RunRequest(run_key=decision.run_key, tags=names.tags)

    return reconcile_schedule
