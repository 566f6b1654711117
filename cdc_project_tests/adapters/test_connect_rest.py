"""The Kafka Connect REST client against the stack's real Connect worker: deploy is idempotent (created,
unchanged, updated), a connector whose task cannot stream shows FAILED with the worker's trace, and pause,
resume, restart and delete do what they say. A scratch connector naming a publication that does not exist
is used (Debezium refuses to stream before it creates a slot), so the shared `shop` connector is never
touched."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.config import PipelineConfig
from cdc_project.core.connect_status import ConnectorHealth
from cdc_project.core.connectors import connector_config
from cdc_project.core.errors import ConnectError
from cdc_project.settings import StackSettings
from cdc_project.stack import services
from cdc_project_tests.live.helpers import wait_for

pytestmark = pytest.mark.live


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens there


def _until(client: ConnectClient, name: str, wanted: str, timeout: float = 90) -> ConnectorHealth:
    deadline = time.monotonic() + timeout
    health = client.status(name)
    while time.monotonic() < deadline:
        health = client.status(name)
        states = {health.state, *(t.state for t in health.tasks)}
        if health.tasks and wanted in states:
            return health
        time.sleep(1)
    raise AssertionError(f"{name} never showed {wanted}: {health.summary()}")


def test_deploy_status_pause_resume_restart_delete_on_a_failing_connector(
    stack: StackSettings, pipeline_config: PipelineConfig
) -> None:
    client = services.connect_client(stack)
    assert "io.debezium.connector.postgresql.PostgresConnector" in client.plugins()
    source = services.connector_sources(pipeline_config)[0]
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    config = connector_config(source, pipeline_config.kafka)
    config.update({"publication.name": name, "topic.prefix": name, "slot.name": name})
    try:
        assert client.deploy(name, config) == "created"
        assert client.deploy(name, config) == "unchanged"  # no PUT: the task is not restarted
        assert name in client.connectors()
        failed = _until(client, name, "FAILED")
        assert failed.failed and not failed.running
        trace = failed.first_trace() or ""
        assert "ublication" in trace, trace[:500]
        assert name in failed.summary() and "FAILED" in failed.summary()

        client.pause(name)
        assert _until(client, name, "PAUSED").state == "PAUSED"
        client.resume(name)
        client.restart(name, only_failed=True)
        assert _until(client, name, "FAILED").failed  # still cannot reach its database

        changed = {**config, "heartbeat.interval.ms": "7000"}
        assert client.deploy(name, changed) == "updated"
        assert client.config(name) == {**changed, "name": name}
    finally:
        client.delete(name)
    # the worker stops the connector after answering the DELETE
    wait_for(lambda: client.status(name) == ConnectorHealth.missing(name), 30, f"{name} to be gone")
    assert client.delete(name) is False


def test_an_unreachable_worker_is_a_connect_error_naming_the_fix() -> None:
    client = ConnectClient(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    assert not client.ready()
    with pytest.raises(ConnectError) as info:
        client.status("shop")
    assert "not reachable" in str(info.value) and "cdc status" in str(info.value)
