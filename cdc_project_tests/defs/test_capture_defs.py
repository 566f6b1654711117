"""Scope: the capture stage's Dagster wiring (defs/capture/), no stack needed: every topic asset of a source
captured through Kafka Connect gets the blocking `connector_running` check, every such source one
`capture_health_<source>_sensor` (running by default, every 30 s), Cassandra sources neither; where the Connect
URL comes from; and the sensor, evaluated with build_sensor_context against a loopback port nothing listens
on, failing the check ("Connect not reachable") and alerting a real webhook once, not at every tick.
The same sensor against a real Connect worker is in test_capture_health.py (live)."""

from __future__ import annotations

import socket
from typing import Any

import dagster as dg
import pytest

from cdc_project.config import PipelineConfig, load_config, parse_config
from cdc_project.definitions import build_definitions
from cdc_project.defs.capture import CONNECT_URL_ENV, resolve_connect_url
from cdc_project.defs.capture.checks import CHECK_NAME
from cdc_project.settings import PROJECT_ROOT, load_settings
from cdc_project_tests.alert_webhook import alert_webhook

TOPICS = ["customers", "products", "orders", "order_items", "page_views"]


def _config(connect_url: str | None = None, with_cassandra: bool = False) -> PipelineConfig:
    raw: dict[str, Any] = load_config(PROJECT_ROOT / "pipeline.yaml", env={}).model_dump()
    raw["kafka"]["connect_url"] = connect_url
    if with_cassandra:
        raw["sources"].append(
            {"name": "ks", "kind": "cassandra", "host": "127.0.0.1", "port": 9042, "database": "ks", "user": "u",
             "topic_prefix": "ks", "tables": [{"name": "ks.events"}]}
        )
    return parse_config(raw)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_topic_of_a_connect_source_gets_a_blocking_connector_check_and_the_source_a_sensor() -> None:
    defs = build_definitions(_config(with_cassandra=True))
    graph = defs.resolve_asset_graph()
    checked = {key.asset_key for key in graph.asset_check_keys if key.name == CHECK_NAME}
    assert checked == {dg.AssetKey(["kafka", f"shop.public.{t}"]) for t in TOPICS}  # not ks.ks.events
    assert all(graph.get_check_spec(dg.AssetCheckKey(key, CHECK_NAME)).blocking for key in checked)
    sensor = defs.resolve_sensor_def("capture_health_shop_sensor")
    assert (sensor.minimum_interval_seconds, sensor.default_status) == (30, dg.DefaultSensorStatus.RUNNING)
    assert not [s.name for s in defs.sensors or [] if s.name == "capture_health_ks_sensor"]


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("https://connect.prod:8443", "http://127.0.0.1:1", "https://connect.prod:8443"),  # the config wins
        (None, "http://connect:8083", "http://connect:8083"),  # else what the stack exports
        (None, None, load_settings().connect_url),  # else the local stack's, as `cdc connectors` does
    ],
)
def test_connect_url_comes_from_config_then_environment(
    monkeypatch: pytest.MonkeyPatch, configured: str | None, env: str | None, expected: str
) -> None:
    if env is None:
        monkeypatch.delenv(CONNECT_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(CONNECT_URL_ENV, env)
    assert resolve_connect_url(_config(configured)) == expected


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def test_unreachable_connect_fails_the_check_and_alerts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    sensor = build_definitions(_config(url)).resolve_sensor_def("capture_health_shop_sensor")
    instance = dg.DagsterInstance.ephemeral()
    with alert_webhook(monkeypatch) as alerts:
        first = _tick(sensor, instance)
        second = _tick(sensor, instance, first.cursor)  # the next tick, with what the first remembered
    keys = {dg.AssetKey(["kafka", f"shop.public.{t}"]) for t in TOPICS}
    for result in (first, second):
        evaluations = [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
        assert {e.asset_key for e in evaluations} == keys
        for evaluation in evaluations:
            assert (evaluation.check_name, evaluation.passed) == (CHECK_NAME, False)
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR
            assert (evaluation.description or "").startswith(f"Connect not reachable at {url}: ")
            assert evaluation.metadata["connect_url"] == dg.MetadataValue.url(url)
    assert [(a["kind"], a["severity"], a["subject"], a["details"]["transition"]) for a in alerts] == [
        ("capture", "critical", "shop", "failed")  # the second tick, unchanged, sent nothing
    ]
    assert url in alerts[0]["message"]

    # What the daemon does with a tick's asset events: each becomes the check's latest (failed) execution.
    for event in second.asset_events:
        instance.report_runless_asset_event(event)
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(key, CHECK_NAME) for key in keys]
    )
    assert sorted(r.status.value for r in records.values()) == ["FAILED"] * len(keys)
