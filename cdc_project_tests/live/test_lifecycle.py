"""The local stack's lifecycle on its own ports and state dir: `cdc up` makes every service healthy,
an unhealthy service is named with its log, and `cdc down` leaves no process behind."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cdc_project.config import load_config
from cdc_project.core.errors import ServiceUnhealthyError
from cdc_project.settings import Ports, StackSettings
from cdc_project.stack import services

pytestmark = pytest.mark.live


# The lifecycle stack sits beside the session's: its state dir and ports derive from the session's, so
# suites run side by side on one machine (other checkouts, CI) never share a port or a state dir.
PORT_OFFSET = 7


@pytest.fixture()
def own_stack(settings: StackSettings) -> StackSettings:
    state = Path(f"{settings.state_dir}-lifecycle")
    shutil.rmtree(state, ignore_errors=True)
    ports = Ports(**{f.name: getattr(settings.ports, f.name) + PORT_OFFSET for f in dataclasses.fields(Ports)})
    return dataclasses.replace(settings, state_dir=state, ports=ports)


def _cli(stack: StackSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = services.process_env(stack)
    env.update(CDC_PG_PORT=str(stack.ports.postgres), CDC_KAFKA_PORT=str(stack.ports.kafka),
               CDC_KAFKA_SASL_PORT=str(stack.ports.kafka_sasl),
               CDC_KAFKA_CONTROLLER_PORT=str(stack.ports.kafka_controller),
               CDC_CONNECT_PORT=str(stack.ports.connect),
               CDC_DAGSTER_PORT=str(stack.ports.dagster_webserver), CDC_STATE_DIR=str(stack.state_dir))
    return subprocess.run([sys.executable, "-m", "cdc_project.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_stack_unhealthy_service_is_named_with_its_log(own_stack: StackSettings) -> None:
    config = load_config(own_stack.pipeline_config, env=services.process_env(own_stack))
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((own_stack.host, own_stack.ports.kafka))  # the broker cannot listen: it must be reported
    blocker.listen()
    try:
        with pytest.raises(ServiceUnhealthyError) as info:
            services.up(own_stack, config, only={"kafka"}, echo=lambda _l: None)
    finally:
        blocker.close()
        services.down(own_stack, config, echo=lambda _l: None)
    err = info.value
    assert err.service == "kafka"
    assert err.log_file.endswith("kafka.log")
    assert "kafka.log" in str(err) and err.tail.strip()


def test_stack_up_healthy_then_down_leaves_nothing(own_stack: StackSettings) -> None:
    up = _cli(own_stack, "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for name in ("postgres", "kafka", "connect", "connector-shop", "dagster-webserver", "dagster-daemon"):
            assert f"{name}: healthy" in up.stdout, up.stdout
        status = _cli(own_stack, "status")
        assert status.returncode == 0, status.stdout
        assert f"{own_stack.host}:{own_stack.ports.kafka} (PLAINTEXT)" in status.stdout, status.stdout
        assert "shop: RUNNING (task 0 RUNNING)" in status.stdout, status.stdout
        as_json = json.loads(_cli(own_stack, "status", "--json").stdout)
        by_name = {s["name"]: s for s in as_json["services"]}
        assert by_name["connect"]["healthy"] and by_name["connect"]["address"] == own_stack.connect_url
        assert as_json["connectors"][0]["state"] == "RUNNING" and as_json["connectors"][0]["running"]
        # deploying the running config again changes nothing (Connect would restart the task on a PUT)
        deploy = _cli(own_stack, "connectors", "deploy")
        assert deploy.returncode == 0 and "shop: unchanged" in deploy.stdout, deploy.stdout + deploy.stderr
        # a second `up` reuses what runs
        again = _cli(own_stack, "up")
        assert again.returncode == 0 and "already up" in again.stdout
    finally:
        down = _cli(own_stack, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert services.leftover_pids(own_stack) == []
    assert _cli(own_stack, "status").returncode == 1
