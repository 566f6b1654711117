"""Reconciliation outcomes for tests that need one without running a reconciliation (CLI, Dagster check)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cdc_project.core.drift import DriftThresholds, ReconcileReport, judge
from cdc_project.core.reconcile import KeyDiff
from cdc_project.reconcile_job import ReconcileOutcome

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
_BASE = ReconcileReport(
    job_id="j1", source="shop", table="public.customers", sink="delta", started_at=AT, finished_at=AT,
    status="in_sync", source_rows=1000, lake_rows=1000, ranges_compared=3, missing=0, extra=0, mismatched=0,
    in_flight=0, rounds=1, watermark_lsn="0/16B3748", watermark_offsets={0: 41},
)  # fmt: skip


def outcome(diffs: Sequence[KeyDiff] = (), key_names: Sequence[str] = ("id",), **report: Any) -> ReconcileOutcome:
    """An outcome whose report has `report`'s fields, judged under the default thresholds."""
    made = dataclasses.replace(_BASE, **report)
    if made.differing and "status" not in report:
        made = dataclasses.replace(made, status="drift")
    return ReconcileOutcome(made, tuple(diffs), judge(made, DriftThresholds()), tuple(key_names))
