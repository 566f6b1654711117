"""Reconciliation on the real stack (PostgreSQL -> Debezium -> Tansu -> Dagster -> Delta): rows deleted from,
altered in and added to the Delta tables directly are found exactly (single and composite keys, the keyless
table) and repaired through `cdc reconcile --repair` and the Dagster repair job; a reconciliation while the
change generator writes reports no drift; the blocking check fails at the configured thresholds and the
alert reaches a webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from cdc_project.adapters.reconcile_tables import read_table
from cdc_project.alerts import WEBHOOK_ENV
from cdc_project.config import PipelineConfig, parse_config
from cdc_project.definitions import build_definitions
from cdc_project.demo.generator import WorkloadMix, run_generator
from cdc_project.reconcile_job import reconcile
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres
from cdc_project_tests.live.helpers import assert_lake_equals_source, table

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def changes_flowed(stack: StackSettings, pipeline_config: PipelineConfig) -> StackSettings:
    """Changes of every kind went through the live path once for the module (catching up costs a minute
    on this machine, so each test does not pay it again)."""
    run_generator(
        postgres.dsn(stack, stack.pg_source_db), rate=50.0, duration=4.0, mix=WorkloadMix(), seed=41
    )
    return stack


@pytest.fixture()
def caught_up(changes_flowed: StackSettings, pipeline_config: PipelineConfig) -> Iterator[StackSettings]:
    stack = changes_flowed
    assert_lake_equals_source(stack, pipeline_config)
    yield stack
    # Whatever a test changed in the lake directly is put right, so one failing test cannot fail the next.
    for source, tbl in pipeline_config.tables():
        if not tbl.append_only:
            reconcile(pipeline_config, source, tbl, "delta", repair=True)


def _current(config: PipelineConfig, name: str) -> DeltaTable:
    return DeltaTable(f"{config.lake.root}/shop/public/{name}/current")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdc_project.cli", "reconcile", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )


def _ids(config: PipelineConfig, name: str) -> list[int]:
    return sorted(_current(config, name).to_pyarrow_table(columns=["id"])["id"].to_pylist())


def test_rows_changed_in_the_lake_are_found_exactly_and_repaired(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    ids = _ids(pipeline_config, "customers")
    gone, altered, limit = ids[1], ids[2], ids[3]
    customers = _current(pipeline_config, "customers")
    customers.delete(f"id = {gone}")
    customers.update(updates={"email": "'reconcile@example.com'"}, predicate=f"id = {altered}")
    customers.update(
        updates={"credit_limit": "coalesce(credit_limit, 0) + 1", "is_vip": "NOT is_vip"},
        predicate=f"id = {limit}",
    )
    copy = customers.to_pyarrow_table(filters=[("id", "=", ids[4])])
    added = ids[-1] + 10_000
    write_deltalake(
        customers,
        copy.set_column(copy.schema.get_field_index("id"), "id", pa.array([added], pa.int64())),
        mode="append",
    )

    result = _cli("--table", "public.customers", "--sink", "delta", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout[result.stdout.index("{") :])
    found = sorted((k["key"]["id"], k["kind"], tuple(k["columns"])) for k in report["keys"])
    assert found == sorted(
        [
            (gone, "missing", ()),
            (altered, "mismatched", ("email",)),
            (limit, "mismatched", ("is_vip", "credit_limit")),
            (added, "extra", ()),
        ]
    )
    assert (report["missing"], report["extra"], report["mismatched"]) == (1, 1, 2)

    repaired = _cli("--table", "public.customers", "--sink", "delta", "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired 4 keys" in repaired.stdout
    assert_lake_equals_source(caught_up, pipeline_config, timeout=60)
    reports = read_table(pipeline_config.lake.root, "reports")
    assert reports is not None
    last = (
        reports.filter(pc.equal(reports["table"], "public.customers")).sort_by("finished_at").to_pylist()[-2:]
    )
    assert [r["status"] for r in last] == ["repaired", "in_sync"] and last[1]["repair_of"] == last[0][
        "job_id"
    ]


def test_composite_key_drift_is_repaired_by_the_dagster_repair_job(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    items = _current(pipeline_config, "order_items")
    rows = items.to_pyarrow_table(columns=["order_id", "line_no"]).sort_by([("order_id", "ascending")])
    (o1, l1), (o2, l2) = [(r["order_id"], r["line_no"]) for r in rows.slice(0, 2).to_pylist()]
    items.delete(f"order_id = {o1} AND line_no = {l1}")
    items.update(updates={"quantity": "quantity + 5"}, predicate=f"order_id = {o2} AND line_no = {l2}")
    source, tbl = table(pipeline_config, "public.order_items")
    found = reconcile(pipeline_config, source, tbl, "delta")
    assert sorted((d.key, d.kind, d.columns) for d in found.diffs) == sorted(
        [
            ((str(o1), str(l1)), "missing", ()),
            ((str(o2), str(l2)), "mismatched", ("quantity",)),
        ]
    )

    with dg.DagsterInstance.from_config(str(caught_up.dagster_home)) as instance:
        job = build_definitions(pipeline_config).resolve_job_def(
            "reconcile_repair_shop_order_items_delta_job"
        )
        result = job.execute_in_process(instance=instance)
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    [materialization] = result.asset_materializations_for_node(job.all_node_defs[0].name)
    assert materialization.metadata["repaired_keys"].value == 2
    assert materialization.metadata["drift_pct"].value == 0.0
    assert_lake_equals_source(caught_up, pipeline_config, timeout=60)


def test_keyless_table_drift_is_counted_by_row_and_not_repairable(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    views = _current(pipeline_config, "page_views")
    everything = views.to_pyarrow_table()
    url = everything["url"][0].as_py()
    rows = everything.filter(pc.equal(everything["url"], url))  # every row of that page: one or more copies
    views.delete(f"url = '{url}'")
    try:
        result = _cli("--table", "public.page_views", "--sink", "delta")
        assert result.returncode == 1 and f"missing {rows.num_rows}," in result.stdout, result.stdout
        refused = _cli("--table", "public.page_views", "--sink", "delta", "--repair")
        assert refused.returncode == 2 and "keyless" in refused.stderr
    finally:
        write_deltalake(views, rows, mode="append")  # put them back for the other tests
    assert _cli("--table", "public.page_views", "--sink", "delta").returncode == 0


def test_reconciling_while_the_generator_writes_reports_no_false_drift(
    caught_up: StackSettings, pipeline_config: PipelineConfig
) -> None:
    stop = threading.Event()
    dsn = postgres.dsn(caught_up, caught_up.pg_source_db)
    worker = threading.Thread(
        target=run_generator,
        kwargs=dict(
            dsn=dsn, rate=40.0, duration=90.0, mix=WorkloadMix(burst_probability=0.2), seed=43, stop=stop
        ),
    )
    worker.start()
    outcomes = []
    try:
        for name in ("public.customers", "public.orders", "public.order_items", "public.page_views"):
            source, tbl = table(pipeline_config, name)
            outcomes.append(reconcile(pipeline_config, source, tbl, "delta"))
    finally:
        stop.set()
        worker.join()
    assert [(o.report.table, o.report.differing) for o in outcomes] == [
        (o.report.table, 0) for o in outcomes
    ], [(o.report.table, [(d.key, d.kind, d.columns) for d in o.diffs]) for o in outcomes]
    # the generator was writing: the source and the lake really did differ while they were compared
    assert sum(o.report.rounds for o in outcomes) > 0
    assert_lake_equals_source(caught_up, pipeline_config)


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture()
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{server.server_address[1]}/alerts")
    _Webhook.received = []
    yield _Webhook.received
    server.shutdown()
    server.server_close()


def _with_thresholds(config: PipelineConfig, warn: float, critical: float) -> PipelineConfig:
    raw = config.model_dump()
    for spec in raw["sources"][0]["tables"]:
        if spec["name"] == "public.products":
            spec["reconcile"].update(warn_drift_pct=warn, critical_drift_pct=critical)
    return parse_config(raw)


@pytest.mark.parametrize(
    ("warn", "critical", "severity", "alert"),
    [
        (0.0, 50.0, dg.AssetCheckSeverity.WARN, "warn"),  # 2 of ~50 products: above warn, below critical
        (0.0, 1.0, dg.AssetCheckSeverity.ERROR, "critical"),  # at or above critical: a blocking failure
        (10.0, 50.0, None, None),  # below the warning threshold: the check passes
    ],
)
def test_check_fails_at_the_configured_thresholds(
    caught_up: StackSettings,
    pipeline_config: PipelineConfig,
    webhook: list[dict[str, Any]],
    warn: float,
    critical: float,
    severity: dg.AssetCheckSeverity | None,
    alert: str | None,
) -> None:
    products = _current(pipeline_config, "products")
    ids = sorted(products.to_pyarrow_table(columns=["id"])["id"].to_pylist())
    products.update(updates={"stock": "stock + 1000"}, predicate=f"id IN ({ids[0]}, {ids[1]})")
    config = _with_thresholds(pipeline_config, warn, critical)
    job = build_definitions(config).resolve_job_def("reconcile_shop_products_job")
    with dg.DagsterInstance.from_config(str(caught_up.dagster_home)) as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    [check] = result.get_asset_check_evaluations()
    assert check.passed is (severity is None)
    if severity is not None:
        assert check.severity == severity
        assert check.metadata["drift_pct"].value == pytest.approx(200 / len(ids), rel=1e-3)  # type: ignore[union-attr]
    assert [a["severity"] for a in webhook] == ([alert] if alert else [])
    source, tbl = table(pipeline_config, "public.products")
    assert reconcile(pipeline_config, source, tbl, "delta", repair=True).report.differing == 0
