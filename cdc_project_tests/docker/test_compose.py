"""The production `docker/` files, checked by parsing (no Docker engine here): every service the topology
needs, consistent hosts and ports, secrets only by reference, healthchecks and dependencies, the Dagster
instance config, and connector files that match what `cdc connectors` generates from pipeline.yaml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdc_project.config import load_config
from cdc_project.core.connectors import connector_config, publication_sql
from cdc_project.settings import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}")
RUNTIME_VAR = re.compile(r"\$\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


ENV_EXAMPLE = _env_file(DOCKER / ".env.example")
PIPELINE_ENV = _env_file(DOCKER / "pipeline.env")


def _resolve(value: Any) -> str:
    """Compose interpolation with the .env.example values (defaults where a value is empty)."""

    def replace(match: re.Match[str]) -> str:
        return ENV_EXAMPLE.get(match.group(1)) or (match.group(2) or "")

    return COMPOSE_VAR.sub(replace, str(value))


def _environment(service: str) -> dict[str, str]:
    """What the container sees: its env_file(s), then `environment` on top."""
    spec = SERVICES[service]
    env: dict[str, str] = {}
    for name in spec.get("env_file", []):
        env.update(_env_file(DOCKER / name))
    env.update({k: _resolve(v) for k, v in (spec.get("environment") or {}).items()})
    return env


@pytest.mark.parametrize(
    "service",
    [
        "kafka",  # KRaft, single node
        "connect",  # Kafka Connect with Debezium
        "connect-init",  # deploys docker/connectors/*.json
        "postgres-source",
        "mongo",  # replica set rs0
        "minio",
        "dagster-postgres",  # instance storage
        "code-location",
        "dagster-webserver",
        "dagster-daemon",
    ],
)
def test_compose_has_service(service: str) -> None:
    spec = SERVICES[service]
    assert "image" in spec or "build" in spec


def test_compose_kafka_clients_use_the_internal_listener() -> None:
    env = _environment("kafka")
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    internal = listeners[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal.split(":")[0] == "kafka"
    assert _environment("connect")["BOOTSTRAP_SERVERS"] == internal
    assert PIPELINE_ENV["CDC_KAFKA_BOOTSTRAP"] == internal
    # The host-facing listener advertises the port the host actually publishes.
    external_port = listeners["EXTERNAL"].rsplit(":", 1)[1]
    published = [_resolve(p).split(":") for p in SERVICES["kafka"]["ports"]]
    assert [external_port, "29092"] in published


@pytest.mark.parametrize(
    ("service", "user_key", "db_key", "host_key"),
    [
        ("postgres-source", "CDC_PG_USER", "CDC_PG_SOURCE_DB", "CDC_PG_HOST"),
        ("dagster-postgres", "DAGSTER_PG_USER", "DAGSTER_PG_DB", "DAGSTER_PG_HOST"),
    ],
)
def test_compose_postgres_matches_pipeline_env(
    service: str, user_key: str, db_key: str, host_key: str
) -> None:
    env = _environment(service)
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (PIPELINE_ENV[user_key], PIPELINE_ENV[db_key])
    assert PIPELINE_ENV[host_key] == service


def test_compose_lake_bucket_matches_lake_root() -> None:
    assert PIPELINE_ENV["CDC_LAKE_ROOT"].startswith(f"s3://{PIPELINE_ENV['CDC_LAKE_BUCKET']}/")
    assert PIPELINE_ENV["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_compose_variables_are_listed_in_env_example() -> None:
    text = (DOCKER / "docker-compose.yml").read_text()
    referenced = {m.group(1) for m in COMPOSE_VAR.finditer(text)}
    assert referenced - set(ENV_EXAMPLE) == set()
    # Secrets have no value in the example; whoever deploys must supply them.
    assert {k: v for k, v in ENV_EXAMPLE.items() if re.search("PASSWORD|SECRET", k) and v} == {}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_runtime_variables_exist_in_the_container(service: str) -> None:
    # `$${VAR}` is left to the container's shell: it must be in that container's environment.
    spec = SERVICES[service]
    text = yaml.safe_dump(spec.get("healthcheck", {})) + json.dumps(spec.get("command"))
    assert {m.group(1) for m in RUNTIME_VAR.finditer(text)} - set(_environment(service)) == set()


@pytest.mark.parametrize(
    "service", ["kafka", "connect", "postgres-source", "mongo", "minio", "dagster-postgres", "code-location"]
)
def test_compose_stateful_services_have_healthchecks(service: str) -> None:
    assert SERVICES[service]["healthcheck"]["test"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_depends_on_existing_services(service: str) -> None:
    for dependency, spec in (SERVICES[service].get("depends_on") or {}).items():
        assert dependency in SERVICES, dependency
        condition = spec["condition"]
        if condition == "service_healthy":
            assert "healthcheck" in SERVICES[dependency], dependency
        else:
            # A one-shot job: it must not be restarted, or "completed" never comes.
            assert condition == "service_completed_successfully"
            assert SERVICES[dependency].get("restart") == "no", dependency


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_referenced_files_exist(service: str) -> None:
    spec = SERVICES[service]
    if "build" in spec:
        context = (DOCKER / spec["build"]["context"]).resolve()
        assert (context / spec["build"]["dockerfile"]).is_file()
    for volume in spec.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            assert (DOCKER / source).exists(), volume
    for name in spec.get("env_file", []):
        assert (DOCKER / name).is_file()


def test_compose_code_location_serves_the_workspace() -> None:
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    service = SERVICES[server["host"]]
    assert service["command"] == [
        *("dagster", "code-server", "start", "-m", "cdc_project.definitions"),
        *("-h", "0.0.0.0", "-p", str(server["port"])),
    ]
    # Run workers are launched from the code location's own image.
    assert _environment(server["host"])["DAGSTER_CURRENT_IMAGE"] == _resolve(service["image"])


def test_compose_uses_the_local_stacks_pinned_kafka_and_debezium() -> None:
    pom = (PROJECT_ROOT / "cdc_project" / "stack" / "maven" / "pom.xml").read_text()
    debezium = re.search(r"<debezium.version>([^<]+)</debezium.version>", pom)
    kafka = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert debezium is not None and kafka is not None
    assert _resolve(SERVICES["connect"]["image"]) == f"quay.io/debezium/connect:{debezium.group(1)}"
    assert _resolve(SERVICES["kafka"]["image"]) == f"apache/kafka:{kafka.group(1)}"
    assert SERVICES["connect"]["environment"]["CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT"] == "enabled"


def _dagster_yaml() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "dagster.yaml").read_text())


def test_dagster_yaml_limits_one_run_per_table() -> None:
    coordinator = _dagster_yaml()["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert {"key": "cdc/stream", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def test_dagster_yaml_launches_runs_in_docker() -> None:
    launcher = _dagster_yaml()["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert launcher["config"]["network"] == COMPOSE["networks"]["default"]["name"]
    # The launcher copies these from the daemon's environment: the daemon must have every one.
    assert set(launcher["config"]["env_vars"]) - set(_environment("dagster-daemon")) == set()


def test_dagster_yaml_is_a_valid_instance_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes.config_class import class_from_code_pointer

    for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, "x")
    config, _ = dagster_instance_config(str(DOCKER), "dagster.yaml")
    for key in ("run_coordinator", "run_launcher"):
        section = config[key]
        cls = class_from_code_pointer(section["module"], section["class"])
        assert validate_config(cls.config_type(), section["config"]).success, key


def test_connector_files_match_the_pipeline_config() -> None:
    # What `set -a; . docker/pipeline.env; set +a; cdc connectors --out docker/connectors` writes.
    pipeline = load_config(PROJECT_ROOT / "pipeline.yaml", env=PIPELINE_ENV)
    for source in pipeline.sources:
        body = json.loads((DOCKER / "connectors" / f"{source.name}.json").read_text())
        assert body == {"name": source.name, "config": connector_config(source, pipeline.kafka)}
        if source.kind == "postgres":
            publication = DOCKER / "connectors" / f"{source.name}.publication.sql"
            assert publication.read_text() == publication_sql(source)
        # Connect resolves each ${env:VAR} from its own environment.
        placeholders = set(re.findall(r"\$\{env:(\w+)\}", json.dumps(body)))
        assert placeholders - set(_environment("connect")) == set()
    assert _environment("connect")["CONNECT_CONFIG_PROVIDERS"] == "env"


def test_cdc_connectors_writes_the_committed_files_from_the_documented_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `set -a; . docker/pipeline.env; set +a; cdc connectors --out ...`: the production hosts, not the
    # local stack's, even though the CLI knows the local stack's settings.
    from cdc_project.cli import main

    for key, value in PIPELINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CDC_PIPELINE_CONFIG", str(PROJECT_ROOT / "pipeline.yaml"))
    with pytest.raises(SystemExit) as exit_info:
        main(["connectors", "--out", str(tmp_path)])
    assert exit_info.value.code == 0
    for committed in sorted((DOCKER / "connectors").iterdir()):
        assert (tmp_path / committed.name).read_text() == committed.read_text(), committed.name
