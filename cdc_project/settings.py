"""Where the local stack lives: the one place that chooses ports, paths and service environment.

Pure: reads environment variables, never starts anything. Every other module (CLI, stack supervisor,
Dagster definitions, tests) asks this module, so a port is chosen exactly once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Environment = Literal["local", "ci", "prod"]
VALID_ENVIRONMENTS: frozenset[str] = frozenset({"local", "ci", "prod"})

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the local stack.

    Below the kernel's ephemeral port range (32768-60999): a child server bound to port 0 (Dagster's code
    server) or an outgoing connection can otherwise take one of them first.
    """

    postgres: int = 25432
    kafka: int = 29092  # the broker's PLAINTEXT listener: the stack's own clients
    kafka_sasl: int = 29093  # SASL_PLAINTEXT (PLAIN) listener: what a secured cluster's clients speak
    kafka_controller: int = 29094  # KRaft controller listener (same process, loopback only)
    connect: int = 28083  # Kafka Connect REST API
    dagster_webserver: int = 23000


@dataclass(frozen=True)
class StackSettings:
    environment: Environment
    root: Path
    state_dir: Path
    ports: Ports
    host: str = "127.0.0.1"
    pg_user: str = "cdc"
    pg_source_db: str = "shop"
    pg_dagster_db: str = "dagster"

    @property
    def pg_data_dir(self) -> Path:
        return self.state_dir / "postgres" / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def lake_root(self) -> Path:
        return self.state_dir / "lake"

    @property
    def kafka_dir(self) -> Path:
        """Broker + controller: server.properties, meta.properties and the topic logs (durable)."""
        return self.state_dir / "kafka"

    @property
    def connect_dir(self) -> Path:
        """The Connect worker's properties; its configs, offsets and status live in topics on the broker."""
        return self.state_dir / "connect"

    @property
    def secrets_dir(self) -> Path:
        """Secrets the local stack generates for itself (mode 0700), e.g. the SASL listener's password."""
        return self.state_dir / "secrets"

    @property
    def jvm_dir(self) -> Path:
        """Jars scripts/install.sh copied from Maven Central: kafka/ and plugins/<connector>/."""
        return Path(os.environ.get("CDC_JVM_DIR", str(self.root / ".cache" / "jvm")))

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster_home"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.ports.kafka}"

    @property
    def kafka_sasl_bootstrap(self) -> str:
        return f"{self.host}:{self.ports.kafka_sasl}"

    @property
    def connect_url(self) -> str:
        return f"http://{self.host}:{self.ports.connect}"

    @property
    def pipeline_config(self) -> Path:
        return Path(os.environ.get("CDC_PIPELINE_CONFIG", str(self.root / "pipeline.yaml")))

    def log_file(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    def service_env(self) -> dict[str, str]:
        """Environment every stack process (and the pipeline config's ${VAR}s) resolves against."""
        return {
            "CDC_ENV": self.environment,
            "CDC_STATE_DIR": str(self.state_dir),
            "CDC_PG_HOST": self.host,
            "CDC_PG_PORT": str(self.ports.postgres),
            "CDC_PG_USER": self.pg_user,
            "CDC_PG_SOURCE_DB": self.pg_source_db,
            "CDC_PG_DAGSTER_DB": self.pg_dagster_db,
            "CDC_KAFKA_PORT": str(self.ports.kafka),
            "CDC_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "CDC_KAFKA_SASL_BOOTSTRAP": self.kafka_sasl_bootstrap,
            "CDC_CONNECT_URL": self.connect_url,
            "CDC_LAKE_ROOT": str(self.lake_root),
            "CDC_DAGSTER_PORT": str(self.ports.dagster_webserver),
            "DAGSTER_HOME": str(self.dagster_home),
            # dagster.yaml reads it. psycopg2 is named: SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3.
            "CDC_DAGSTER_PG_URL": (
                f"postgresql+psycopg2://{self.pg_user}@{self.host}:{self.ports.postgres}/{self.pg_dagster_db}"
            ),
        }


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number; set it to an integer such as {default}") from None


def load_settings() -> StackSettings:
    """Resolve settings from the environment; defaults describe the local stack."""
    env = os.environ.get("CDC_ENV", "ci" if os.environ.get("CI") else "local")
    if env not in VALID_ENVIRONMENTS:
        raise ValueError(f"CDC_ENV={env!r} is not valid. Valid values are: {sorted(VALID_ENVIRONMENTS)}")
    root = Path(os.environ.get("CDC_PROJECT_ROOT", str(PROJECT_ROOT)))
    state_dir = Path(os.environ.get("CDC_STATE_DIR", str(root / ".state")))
    defaults = Ports()
    kafka = _port("CDC_KAFKA_PORT", defaults.kafka)
    ports = Ports(
        postgres=_port("CDC_PG_PORT", defaults.postgres),
        kafka=kafka,
        # The broker's other listeners and Connect sit right after its port unless set: a second stack
        # (tests, bench) moves all of them by setting CDC_KAFKA_PORT alone.
        kafka_sasl=_port("CDC_KAFKA_SASL_PORT", kafka + 1),
        kafka_controller=_port("CDC_KAFKA_CONTROLLER_PORT", kafka + 2),
        connect=_port("CDC_CONNECT_PORT", defaults.connect + kafka - defaults.kafka),
        dagster_webserver=_port("CDC_DAGSTER_PORT", defaults.dagster_webserver),
    )
    return StackSettings(environment=env, root=root, state_dir=state_dir, ports=ports)  # type: ignore[arg-type]


def apply_service_env(settings: StackSettings) -> None:
    """Export the stack environment into this process, without overriding what the user set."""
    for key, value in settings.service_env().items():
        os.environ.setdefault(key, value)
    if settings.environment != "prod":
        # The local cluster trusts loopback: an unset password is the empty one (stack/services.process_env
        # does the same for the services). Production sets the real secret.
        os.environ.setdefault("CDC_PG_PASSWORD", "")
