"""Scope: the reconciliation stage's Dagster wiring (defs/reconcile/): per table and sink an asset with a
blocking drift check, a repair job and one pool per table; per table a schedule from config whose decision
(evaluated with build_schedule_context on a real instance) skips while a reconciliation of the table runs;
the check result under the thresholds; the instance configs limiting overlapping runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from cdc_project.config import load_config, parse_config
from cdc_project.definitions import build_definitions
from cdc_project.defs.reconcile.assets import CHECK_NAME, drift_check_result
from cdc_project.defs.reconcile.schedules import decide_schedule
from cdc_project.settings import PROJECT_ROOT
from cdc_project_tests.reconcile_reports import AT, outcome


def _config(**reconcile: Any) -> Any:
    raw = load_config(PROJECT_ROOT / "pipeline.yaml", env={}).model_dump()
    raw["sources"][0]["tables"][0]["reconcile"] = {**raw["sources"][0]["tables"][0]["reconcile"], **reconcile}
    return parse_config(raw)


def test_every_table_and_sink_gets_an_asset_with_a_blocking_check_and_a_repair_job() -> None:
    defs = build_definitions(_config())
    for table in ("customers", "products", "orders", "order_items", "page_views"):
        asset = defs.resolve_assets_def(dg.AssetKey(["delta", "shop", f"{table}_reconciliation"]))
        [check] = asset.check_specs
        assert (check.name, check.blocking) == (CHECK_NAME, True)
        assert asset.op.pool == f"reconcile_shop_{table}"
        assert dg.AssetKey(["delta", "shop", table]) in asset.dependency_keys
        repair = defs.resolve_job_def(f"reconcile_repair_shop_{table}_delta_job")
        assert repair.tags["cdc/reconcile"] == f"shop.public.{table}" and repair.tags["cdc/repair"] == "true"
        assert repair.run_config == {"ops": {asset.op.name: {"config": {"repair": True}}}}
    schedule = defs.resolve_schedule_def("reconcile_shop_customers_schedule")
    assert schedule.cron_schedule == "0 * * * *" and schedule.execution_timezone == "UTC"


def test_schedule_follows_the_table_config() -> None:
    defs = build_definitions(_config(cron="*/15 * * * *"))
    assert defs.resolve_schedule_def("reconcile_shop_customers_schedule").cron_schedule == "*/15 * * * *"
    off = build_definitions(_config(enabled=False))
    names = {s.name for s in off.schedules or []}
    assert "reconcile_shop_customers_schedule" not in names and "reconcile_shop_orders_schedule" in names


@pytest.mark.parametrize(
    ("in_flight", "run_key", "skip"),
    [
        (None, "shop.public.customers|2026-01-01T12:00:00+00:00", None),  # one run per scheduled time
        ("r-1", None, "shop.public.customers: reconciliation run r-1 has not finished"),
    ],
)
def test_decide_schedule(in_flight: str | None, run_key: str | None, skip: str | None) -> None:
    decision = decide_schedule("shop.public.customers", in_flight, AT)
    assert (decision.run_key, decision.skip_reason) == (run_key, skip)


def test_schedule_skips_while_a_reconciliation_of_the_table_is_unfinished() -> None:
    defs = build_definitions(_config())
    schedule = defs.resolve_schedule_def("reconcile_shop_customers_schedule")
    with dg.instance_for_test() as instance:
        request = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=AT)
        )
        [run] = request.run_requests or []
        assert run.run_key == "shop.public.customers|2026-01-01T12:00:00+00:00"
        assert run.tags["cdc/reconcile"] == "shop.public.customers"
        instance.add_run(
            dg.DagsterRun(
                job_name="reconcile_shop_customers_job",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
                tags={"cdc/reconcile": "shop.public.customers"},
            )
        )
        skipped = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=AT)
        )
        assert not skipped.run_requests and "has not finished" in (skipped.skip_message or "")
        # another table's schedule is not held back
        other = defs.resolve_schedule_def("reconcile_shop_orders_schedule")
        assert other.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=AT)
        ).run_requests


@pytest.mark.parametrize(
    ("missing", "passed", "severity"),
    [
        (0, True, dg.AssetCheckSeverity.WARN),  # in sync (severity only matters on failure)
        (1, False, dg.AssetCheckSeverity.WARN),  # 0.1%: above warn (0), below critical (1%)
        (10, False, dg.AssetCheckSeverity.ERROR),  # 1%: at critical, blocking
    ],
)
def test_drift_check_result_under_default_thresholds(
    missing: int, passed: bool, severity: dg.AssetCheckSeverity
) -> None:
    result = drift_check_result(outcome(missing=missing, lake_rows=1000 - missing))
    assert (result.passed, result.severity, result.check_name) == (passed, severity, CHECK_NAME)
    assert result.metadata["drift_pct"].value == pytest.approx(missing / 10)  # type: ignore[union-attr]


def test_instance_config_limits_overlapping_reconciliations() -> None:
    for path in (PROJECT_ROOT / "dagster.yaml", PROJECT_ROOT / "docker" / "dagster.yaml"):
        instance = yaml.safe_load(path.read_text())
        limits = instance["run_coordinator"]["config"]["tag_concurrency_limits"]
        assert {"key": "cdc/reconcile", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits, (
            path
        )
        assert {"key": "cdc/role", "value": "reconcile", "limit": 2} in limits, path
        assert instance["concurrency"]["default_op_concurrency_limit"] == 1, path


def test_local_instance_config_is_valid(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "dagster.yaml").read_text()
    storage = "postgres:\n    postgres_url:\n      env: CDC_DAGSTER_PG_URL"
    assert storage in text
    (tmp_path / "dagster.yaml").write_text(text.replace(storage, f"sqlite:\n    base_dir: {tmp_path}"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
