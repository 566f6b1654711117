"""The local stack as an ordered list of services, each with start, health check and stop.

`up` starts them in order and waits for each to be healthy; when one is not, it raises
ServiceUnhealthyError naming the service, its log file and the last lines of that log. `down` stops them
in reverse order and verifies that no process of the stack remains.
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

from cdc_project.adapters.kafka_source import broker_healthy
from cdc_project.config import PipelineConfig, load_config
from cdc_project.core.errors import ServiceUnhealthyError
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres, process
from cdc_project.stack.broker import broker_command


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[], None]
    healthy: Callable[[], bool]
    stop: Callable[[], None]
    log_file: Path
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


def _capture_healthy(proc: process.ManagedProcess, dsn: str, slot: str) -> bool:
    return proc.is_running() and postgres.slot_active(dsn, slot)


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
        )
    ]
    broker = managed(settings, "broker")
    services.append(
        Service(
            "broker",
            start=lambda: _starter(broker, broker_command(settings), env, root)(),
            healthy=lambda: broker.is_running() and broker_healthy(settings.kafka_bootstrap),
            stop=_stopper(broker),
            log_file=broker.log_file,
            running=broker.is_running,
        )
    )
    for source in config.sources:
        if source.kind != "postgres":
            continue  # only PostgreSQL can run on this machine; see README "Sources"
        proc = managed(settings, f"capture-{source.name}")
        source_dsn = postgres.dsn(settings, source.database)
        argv = [sys.executable, "-m", "cdc_project.stack.capture", "--source", source.name]
        slot = source.replication_slot
        services.append(
            Service(
                proc.name,
                start=_starter(proc, argv, env, root),
                healthy=partial(_capture_healthy, proc, source_dsn, slot),
                stop=_stopper(proc, timeout=30),
                log_file=proc.log_file,
                running=proc.is_running,
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

    services.append(
        Service(
            "dagster-webserver",
            start=start_web,
            healthy=lambda: web.is_running()
            and _http_ok(f"http://{settings.host}:{settings.ports.dagster_webserver}/server_info"),
            stop=_stopper(web),
            log_file=web.log_file,
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


def status(settings: StackSettings, config: PipelineConfig | None = None) -> dict[str, bool]:
    config = config or load_config(settings.pipeline_config, env=process_env(settings))
    return {service.name: service.healthy() for service in build_services(settings, config)}


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
    marker = str(settings.state_dir).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return sorted(p for p in pids if process.pid_alive(p))
