"""The services a group of cases needs: the suite's own local stack, or one that is already running.

`OwnStack` (make bench) lives in `<state dir>/bench`, so a demo's lake and database are never touched. It
refuses to start when something already listens on one of its ports: a stack that answers there would be
measured (or wiped) instead of the suite's own. Before the `stack` group it stops everything and starts
afresh, so the broker does not carry the ingest cases' topics into the memory figures; the Dagster
webserver is left out (the daemon's sensors and run launcher are the live path, the UI is not). `close()` stops
every service it started and checks that no process of it is left.

`RunningStack` (make test) uses the session's stack as it is and leaves it running.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from bench.driver import TABLE as LAG_TABLE
from bench.registry import Needs
from cdc_project.config import PipelineConfig, load_config
from cdc_project.settings import StackSettings, load_settings
from cdc_project.stack import services

WEBSERVER = "dagster-webserver"


class StackHandle(Protocol):
    settings: StackSettings
    config: PipelineConfig

    def ensure(self, needs: Needs) -> None: ...

    def close(self) -> None: ...


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def one_sink_pipeline(pipeline: Path, out_dir: Path) -> Path:
    """The demo pipeline with the lag case's table written to Delta only, in `out_dir`.

    The demo writes customers to Delta, Iceberg and PostgreSQL: three runs per batch, each fetching and
    decoding the same events, which on this 2-core machine (with PostgreSQL, capture and broker busy at
    5,000 changes/s) measures CPU contention between sinks rather than one sink's path. The lag figures
    are those of the Delta path; each further sink on a table adds its own run of the same size.
    """
    raw = yaml.safe_load(pipeline.read_text())  # ${VAR}s stay as text: load_config substitutes them
    for source in raw["sources"]:
        for table in source["tables"]:
            if table["name"] == LAG_TABLE:  # the table bench/driver.py writes and the lag case watches
                table["sinks"] = ["delta"]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "bench-pipeline.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@dataclass
class OwnStack:
    settings: StackSettings
    config: PipelineConfig
    echo: Callable[[str], None] = print
    _running: Needs = "nothing"
    _started: bool = field(default=False)

    @classmethod
    def create(cls, echo: Callable[[str], None] = print) -> OwnStack:
        base = load_settings()
        settings = dataclasses.replace(base, state_dir=base.state_dir / "bench")
        ports = {"CDC_PG_PORT": settings.ports.postgres, "CDC_KAFKA_PORT": settings.ports.kafka,
                 "CDC_DAGSTER_PORT": settings.ports.dagster_webserver}  # fmt: skip
        busy = {name: port for name, port in ports.items() if _listening(settings.host, port)}
        if busy:
            raise SystemExit(
                f"bench: ports {busy} are already in use (a running `make demo`/`make up` stack?). Stop it with "
                "`make down`, or give the bench other ports, e.g. CDC_PG_PORT=26033 CDC_KAFKA_PORT=29693 "
                "CDC_DAGSTER_PORT=23601 make bench"
            )
        # Before process_env: the stack's services and this process read the pipeline from this path.
        os.environ["CDC_PIPELINE_CONFIG"] = str(one_sink_pipeline(base.pipeline_config, base.state_dir))
        env = services.process_env(settings)
        os.environ.update(
            env
        )  # Dagster instance and pipeline ${VAR}s of this process resolve to the bench stack
        config = load_config(settings.pipeline_config, env=env)
        stack = cls(settings, config, echo)
        stack._wipe()
        return stack

    def _wipe(self) -> None:
        if self.settings.state_dir.exists():
            services.down(self.settings, self.config, echo=lambda _line: None)
            shutil.rmtree(self.settings.state_dir)
        self.settings.state_dir.mkdir(parents=True)

    def ensure(self, needs: Needs) -> None:
        if needs == "nothing" or needs == self._running:
            return
        if self._running != "nothing":
            services.down(self.settings, self.config, echo=lambda _line: None)
        self.echo(
            f"bench: starting {'PostgreSQL and the broker' if needs == 'broker' else 'the whole stack'}"
        )
        self._started = True
        if needs == "broker":
            only = {"postgres", "kafka"}
        else:  # the UI is no part of the measured path: it would only take CPU from it
            only = {s.name for s in services.build_services(self.settings, self.config)} - {WEBSERVER}
            # What the webserver's start does for the daemon too (services.build_services start_web).
            self.settings.dagster_home.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.settings.root / "dagster.yaml", self.settings.dagster_home / "dagster.yaml")
        services.up(self.settings, self.config, only=only, echo=lambda line: self.echo(f"  {line.strip()}"))
        self._running = needs

    def close(self) -> None:
        if not self._started:
            return
        services.down(self.settings, self.config, echo=lambda _line: None)
        left = services.leftover_pids(self.settings)
        if left:
            self.echo(f"bench: WARNING processes of the bench stack still alive: {left}")
        shutil.rmtree(self.settings.state_dir, ignore_errors=True)
        self._running = "nothing"


@dataclass
class RunningStack:
    """A stack someone else started and will stop (the test session's)."""

    settings: StackSettings
    config: PipelineConfig

    def ensure(self, needs: Needs) -> None:
        return None

    def close(self) -> None:
        return None
