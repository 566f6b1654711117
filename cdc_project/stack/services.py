"""The local stack as an ordered list of services, each with start, health check and stop.

postgres -> kafka (KRaft broker + controller) -> connect (Kafka Connect, distributed) -> connector-<source>
(a Debezium connector deployed through Connect's REST API) -> dagster-webserver -> dagster-daemon.

`up` starts them in order and waits for each to be healthy; when one is not, it raises
ServiceUnhealthyError naming the service, its log file and the last lines of that log. `down` stops them
in reverse order and verifies that no process of the stack remains. Every service keeps its state in the
state dir (PostgreSQL's data, the broker's logs, Connect's topics), so `down` then `up` resumes.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.adapters.kafka_source import broker_healthy
from cdc_project.config import PipelineConfig, SourceConfig, load_config
from cdc_project.core.connectors import connector_config
from cdc_project.core.errors import ServiceUnhealthyError
from cdc_project.settings import StackSettings
from cdc_project.stack import connect, kafka, postgres, process


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[], None]
    healthy: Callable[[], bool]
    stop: Callable[[], None]
    log_file: Path
    address: str  # where a client reaches it (cdc status)
    startup_timeout: float = 90.0
    running: Callable[[], bool] | None = None  # a process that exited is reported at once, not at timeout


def _starter(proc: process.ManagedProcess, argv: list[str], env: dict[str, str], cwd: Path) -> Callable[[], None]:
    def start() -> None:
        process.start(proc, argv, env, cwd)

    return start


def _stopper(proc: process.ManagedProcess, timeout: float = 20.0) -> Callable[[], None]:
    def stop() -> None:
        process.stop(proc, timeout=timeout)

    return stop


def _venv_bin(tool: str) -> str:
    return str(Path(sys.executable).parent / tool)


def process_env(settings: StackSettings) -> dict[str, str]:
    env = {**os.environ, **settings.service_env()}
    env["CDC_PIPELINE_CONFIG"] = str(settings.pipeline_config)
    env.setdefault("CDC_PG_PASSWORD", "")  # local cluster trusts loopback; production sets a real secret
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    if (settings.secrets_dir / "kafka_sasl_password").exists():
        # The SASL listener's credentials, for clients of a secured pipeline config (never in a file they read).
        env.setdefault(kafka.SASL_USER_ENV, kafka.SASL_USER)
        env.setdefault(kafka.SASL_PASSWORD_ENV, kafka.sasl_password(settings))
    return env


def managed(settings: StackSettings, name: str) -> process.ManagedProcess:
    return process.ManagedProcess(name, settings.run_dir / f"{name}.pid", settings.log_file(name))


def _start_postgres(settings: StackSettings, config: PipelineConfig) -> None:
    from cdc_project.demo.seed import seed

    postgres.start(settings)
    postgres.ensure_database(settings, settings.pg_dagster_db)
    replica = config.postgres_sink
    if replica is not None and (replica.host, replica.port) == (settings.host, settings.ports.postgres):
        postgres.ensure_database(settings, replica.database)  # the postgres sink's target on this cluster
    for source in config.sources:
        if source.kind != "postgres":
            continue
        postgres.ensure_database(settings, source.database)
        source_dsn = postgres.dsn(settings, source.database)
        if not _has_table(source_dsn, source.tables[0].name):
            seed(source_dsn)
        postgres.ensure_replication(source_dsn, source.publication, source.replication_slot, source.published_tables())


def connect_client(settings: StackSettings) -> ConnectClient:
    return ConnectClient(settings.connect_url)


def connector_sources(config: PipelineConfig) -> list[SourceConfig]:
    """The sources the local stack captures: PostgreSQL only runs here (README "Sources")."""
    return [s for s in config.sources if s.kind == "postgres"]


def _deploy_connector(settings: StackSettings, config: PipelineConfig, source: SourceConfig) -> None:
    """Deploy (a no-op when the running config is the same), and restart what an outage left FAILED: a
    task whose transaction could not commit while the broker was down stays FAILED until restarted."""
    client = connect_client(settings)
    client.deploy(source.name, connector_config(source, config.kafka))
    if client.status(source.name).failed:
        client.restart(source.name, only_failed=True)


def _connector_healthy(settings: StackSettings, source: SourceConfig) -> bool:
    """Connector and task RUNNING, and (PostgreSQL) its replication slot streaming."""
    client = connect_client(settings)
    if not client.ready() or not client.status(source.name).running:
        return False
    return postgres.slot_active(postgres.dsn(settings, source.database), source.replication_slot)


def _has_table(dsn: str, qualified: str) -> bool:
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (qualified,))
        row = cur.fetchone()
        return bool(row and row[0])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
            return bool(response.status == 200)
    except OSError:
        return False


def _daemon_healthy(settings: StackSettings, proc: process.ManagedProcess) -> bool:
    """Alive, and its sensor loop has written a heartbeat to instance storage within the last minute."""
    if not proc.is_running():
        return False
    from dagster import DagsterInstance

    # dagster.yaml resolves CDC_DAGSTER_PG_URL from the environment when the instance is built: lend it
    # this stack's value for that moment only, so checking another stack never re-points this process.
    saved = os.environ.get("CDC_DAGSTER_PG_URL")
    os.environ["CDC_DAGSTER_PG_URL"] = settings.service_env()["CDC_DAGSTER_PG_URL"]
    try:
        instance = DagsterInstance.from_config(str(settings.dagster_home))
    finally:
        if saved is None:
            os.environ.pop("CDC_DAGSTER_PG_URL", None)
        else:
            os.environ["CDC_DAGSTER_PG_URL"] = saved
    try:
        beats = instance.get_daemon_heartbeats()
    finally:
        instance.dispose()
    sensor = beats.get("SENSOR")
    return sensor is not None and time.time() - sensor.timestamp < 60


def build_services(settings: StackSettings, config: PipelineConfig) -> list[Service]:
    env = process_env(settings)
    root = settings.root
    services: list[Service] = [
        Service(
            "postgres",
            start=lambda: _start_postgres(settings, config),
            healthy=lambda: postgres.healthy(settings),
            stop=lambda: postgres.stop(settings),
            log_file=settings.log_file("postgres"),
            address=f"{settings.host}:{settings.ports.postgres}",
        )
    ]
    broker = managed(settings, "kafka")

    def start_broker() -> None:
        process.start(broker, kafka.start_argv(settings), {**env, **kafka.broker_env(settings)}, root)

    services.append(
        Service(
            "kafka",
            start=start_broker,
            healthy=lambda: broker.is_running() and broker_healthy(settings.kafka_bootstrap),
            stop=_stopper(broker, timeout=30),
            log_file=broker.log_file,
            address=f"{settings.kafka_bootstrap} (PLAINTEXT), {settings.kafka_sasl_bootstrap} (SASL_PLAINTEXT)",
            running=broker.is_running,
        )
    )
    worker = managed(settings, "connect")
    services.append(
        Service(
            "connect",
            start=lambda: _starter(worker, connect.start_argv(settings), env, root)(),
            healthy=lambda: worker.is_running() and connect_client(settings).ready(),
            stop=_stopper(worker, timeout=30),
            log_file=worker.log_file,
            address=settings.connect_url,
            running=worker.is_running,
            startup_timeout=180.0,
        )
    )
    for source in connector_sources(config):
        services.append(
            Service(
                f"connector-{source.name}",
                start=partial(_deploy_connector, settings, config, source),
                healthy=partial(_connector_healthy, settings, source),
                stop=lambda: None,  # the connector lives in Connect's config topic; stopping Connect stops it
                log_file=worker.log_file,
                address=f"{settings.connect_url}/connectors/{source.name}",
                running=worker.is_running,
                startup_timeout=180.0,
            )
        )
    home = settings.dagster_home
    web = managed(settings, "dagster-webserver")
    daemon = managed(settings, "dagster-daemon")
    workspace = str(root / "workspace.yaml")

    def start_web() -> None:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "dagster.yaml", home / "dagster.yaml")
        argv = [_venv_bin("dagster-webserver"), "-h", settings.host, "-p", str(settings.ports.dagster_webserver), "-w", workspace]
        process.start(web, argv, env, root)

    web_url = f"http://{settings.host}:{settings.ports.dagster_webserver}"
    services.append(
        Service(
            "dagster-webserver",
            start=start_web,
            healthy=lambda: web.is_running() and _http_ok(f"{web_url}/server_info"),
            stop=_stopper(web),
            log_file=web.log_file,
            address=web_url,
            running=web.is_running,
            startup_timeout=180.0,
        )
    )
    services.append(
        Service(
            "dagster-daemon",
            start=_starter(daemon, [_venv_bin("dagster-daemon"), "run", "-w", workspace], env, root),
            healthy=lambda: _daemon_healthy(settings, daemon),
            stop=_stopper(daemon),
            log_file=daemon.log_file,
            address=f"instance {settings.dagster_home}",
            running=daemon.is_running,
            startup_timeout=180.0,
        )
    )
    return services


def _wait_healthy(service: Service) -> None:
    deadline = time.monotonic() + service.startup_timeout
    while time.monotonic() < deadline:
        if service.healthy():
            return
        if service.running is not None and not service.running():
            break
        time.sleep(0.5)
    tail = process.ManagedProcess(service.name, Path("/nonexistent"), service.log_file).log_tail(20)
    raise ServiceUnhealthyError(service.name, str(service.log_file), tail)


def up(settings: StackSettings, config: PipelineConfig | None = None, only: set[str] | None = None,
       echo: Callable[[str], None] = print) -> None:
    config = config or load_config(settings.pipeline_config, env=process_env(settings))
    for service in build_services(settings, config):
        if only is not None and service.name not in only:
            continue
        if service.healthy():
            echo(f"  {service.name}: already up")
            continue
        started = time.monotonic()
        service.start()
        _wait_healthy(service)
        echo(f"  {service.name}: healthy ({time.monotonic() - started:.1f}s, log {service.log_file})")


def down(settings: StackSettings, config: PipelineConfig | None = None, echo: Callable[[str], None] = print) -> None:
    config = config or load_config(settings.pipeline_config, env=process_env(settings))
    for service in reversed(build_services(settings, config)):
        service.stop()
        echo(f"  {service.name}: stopped")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    log_file: str


def status(settings: StackSettings, config: PipelineConfig | None = None) -> list[ServiceStatus]:
    config = config or load_config(settings.pipeline_config, env=process_env(settings))
    return [
        ServiceStatus(s.name, s.address, s.healthy(), str(s.log_file)) for s in build_services(settings, config)
    ]


def leftover_pids(settings: StackSettings) -> list[int]:
    """Processes of this stack still alive: tracked groups, plus anything whose cmdline names the state dir."""
    pids: set[int] = set()
    for pid_file in settings.run_dir.glob("*.pid"):
        try:
            pids.update(process.group_members(int(pid_file.read_text())))
        except ValueError:
            continue
    pg = postgres.server_pid(settings)
    if pg is not None and process.pid_alive(pg):
        pids.add(pg)
    pids.update(postgres.cluster_pids(settings))  # backends too: their command lines name no path
    marker = str(settings.state_dir).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return sorted(p for p in pids if process.pid_alive(p))
