"""Scope: the capture-health sensor (defs/capture/) evaluated with build_sensor_context against the real Kafka
Connect worker of the local stack. The shared `shop` connector, RUNNING, passes the `connector_running` check
on each of its topics, with its state and workers in the metadata, and alerts nobody. A second connector
deployed to fail for real - a copy of the shop source naming a publication that does not exist (the stack
creates publications; autocreate is off), so Debezium refuses to stream - fails the check with ERROR and the
worker's trace in the metadata, and alerts a real webhook once over two ticks. And the stack's own Dagster
daemon runs the sensor: the check's latest execution on its instance is a pass. The shared connector and
worker are never paused or restarted: other tests use them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg2
import pytest

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.config import PipelineConfig, SourceConfig, parse_config
from cdc_project.core.connectors import connector_config
from cdc_project.definitions import build_definitions
from cdc_project.defs.capture.checks import CHECK_NAME
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres
from cdc_project_tests.alert_webhook import alert_webhook
from cdc_project_tests.live.helpers import wait_for

pytestmark = pytest.mark.live

TABLES = ["customers", "products", "orders", "order_items", "page_views"]


def _with_connect(config: PipelineConfig, url: str, *extra: SourceConfig) -> PipelineConfig:
    raw = config.model_dump()
    raw["kafka"]["connect_url"] = url  # the production key, pointed at the stack's worker
    raw["sources"] += [source.model_dump() for source in extra]
    return parse_config(raw)


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def _evaluations(result: dg.SensorResult) -> list[dg.AssetCheckEvaluation]:
    return [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]


def _text(evaluation: dg.AssetCheckEvaluation, key: str) -> str:
    value = evaluation.metadata[key].value
    assert isinstance(value, str)
    return value


def _drop_slot(settings: StackSettings, source: SourceConfig) -> None:
    """Debezium may have created the copy's slot before it failed; an abandoned slot would hold WAL."""
    conn = psycopg2.connect(postgres.dsn(settings, source.database))
    conn.autocommit = True

    def dropped() -> bool:
        with conn.cursor() as cur:
            cur.execute("select active from pg_replication_slots where slot_name = %s", (source.replication_slot,))
            row = cur.fetchone()
            if row is not None and row[0]:
                return False  # the deleted task has not let go yet
            if row is not None:
                cur.execute("select pg_drop_replication_slot(%s)", (source.replication_slot,))
            return True

    try:
        wait_for(dropped, 60, f"slot {source.replication_slot} to be released")
    finally:
        conn.close()


@pytest.fixture()
def failing_connector(stack: StackSettings, pipeline_config: PipelineConfig) -> Iterator[SourceConfig]:
    """A copy of the shop source, deployed on the stack's worker, whose task has FAILED."""
    suffix = uuid.uuid4().hex[:8]
    name = f"capture_fail_{suffix}"
    source = SourceConfig.model_validate(
        {
            **pipeline_config.sources[0].model_dump(),
            "name": name,
            "topic_prefix": f"capturefail{suffix}",  # never the shared shop topics
            "slot_name": name,  # never the shop connector's slot
            "publication_name": name,  # no such publication
        }
    )
    client = ConnectClient(stack.connect_url)
    try:
        assert client.deploy(name, connector_config(source, pipeline_config.kafka)) == "created"
        wait_for(lambda: client.status(name).failed, 120, f"connector {name} to fail")
        yield source
    finally:
        client.delete(name)
        _drop_slot(stack, source)


def test_the_running_shop_connector_passes_its_check_and_alerts_nobody(
    stack: StackSettings, pipeline_config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _with_connect(pipeline_config, stack.connect_url)
    sensor = build_definitions(config).resolve_sensor_def("capture_health_shop_sensor")
    with alert_webhook(monkeypatch) as alerts:
        result = _tick(sensor, dg.DagsterInstance.ephemeral())
    evaluations = _evaluations(result)
    assert {e.asset_key for e in evaluations} == {dg.AssetKey(["kafka", f"shop.public.{t}"]) for t in TABLES}
    for evaluation in evaluations:
        assert (evaluation.check_name, evaluation.passed) == (CHECK_NAME, True), evaluation.description
        assert (evaluation.description or "").startswith("shop: RUNNING (task 0 RUNNING)"), evaluation.description
        assert (_text(evaluation, "state"), _text(evaluation, "task_0_state")) == ("RUNNING", "RUNNING")
        assert _text(evaluation, "worker_id") and _text(evaluation, "task_0_worker_id")
        assert evaluation.metadata["connect_url"] == dg.MetadataValue.url(stack.connect_url)
        assert "trace" not in evaluation.metadata
    assert alerts == []


def test_a_failed_connector_fails_its_check_with_the_trace_and_alerts_once(
    stack: StackSettings,
    pipeline_config: PipelineConfig,
    failing_connector: SourceConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = failing_connector.name
    config = _with_connect(pipeline_config, stack.connect_url, failing_connector)
    sensor = build_definitions(config).resolve_sensor_def(f"capture_health_{name}_sensor")
    instance = dg.DagsterInstance.ephemeral()
    with alert_webhook(monkeypatch) as alerts:
        first = _tick(sensor, instance)
        second = _tick(sensor, instance, first.cursor)  # the next tick

    prefix = failing_connector.topic_prefix
    for result in (first, second):
        evaluations = _evaluations(result)
        assert {e.asset_key for e in evaluations} == {dg.AssetKey(["kafka", f"{prefix}.public.{t}"]) for t in TABLES}
        for evaluation in evaluations:
            assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.ERROR)
            assert "FAILED" in (evaluation.description or ""), evaluation.description
            assert _text(evaluation, "condition") == "FAILED"
            trace = evaluation.metadata["trace"]
            assert isinstance(trace, dg.MarkdownMetadataValue)
            md = trace.md_str or ""
            assert md.startswith("```\n") and "Exception" in md

    [alert] = alerts  # the second tick saw the same failure: no second alert
    assert (alert["kind"], alert["severity"], alert["subject"]) == ("capture", "critical", name)
    assert alert["details"]["transition"] == "failed" and "Exception" in alert["details"]["trace"]
    assert stack.connect_url in alert["details"]["connect_url"]
    # the failing copy never touched the shared connector
    assert ConnectClient(stack.connect_url).status("shop").running


def test_the_stack_daemon_ticks_the_sensor_and_stores_the_passing_check(stack: StackSettings) -> None:
    key = dg.AssetCheckKey(dg.AssetKey(["kafka", "shop.public.customers"]), CHECK_NAME)
    instance = dg.DagsterInstance.from_config(str(stack.dagster_home))

    def passed() -> bool:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
        return record is not None and record.status.value == "SUCCEEDED"

    try:  # the first tick comes within the sensor's 30 s interval of the daemon's start
        wait_for(passed, 120, "the daemon's capture_health_shop_sensor to report a passing check")
    finally:
        instance.dispose()
