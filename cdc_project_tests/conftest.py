"""Session fixtures: the real local stack (PostgreSQL, Kafka, Kafka Connect with Debezium, Dagster) in a
throwaway state dir.

Tests run on their own loopback ports and state dir, so a developer's `make demo` stack is untouched (the
broker's SASL and controller listeners and Connect's REST port follow CDC_TEST_KAFKA_PORT, settings.py). The
environment is set here, at import, because cdc_project.definitions reads it when Dagster loads it.
Live fixtures never skip: a service that does not come up fails the tests that need it, with its log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_STATE_DIR = Path(os.environ.get("CDC_TEST_STATE_DIR", "/tmp/cdc-lakehouse-test"))
os.environ.update(
    CDC_STATE_DIR=str(TEST_STATE_DIR),
    CDC_PG_PORT=os.environ.get("CDC_TEST_PG_PORT", "25532"),
    CDC_KAFKA_PORT=os.environ.get("CDC_TEST_KAFKA_PORT", "29192"),
    CDC_DAGSTER_PORT=os.environ.get("CDC_TEST_DAGSTER_PORT", "23100"),
)

from cdc_project.config import PipelineConfig, load_config  # noqa: E402
from cdc_project.settings import StackSettings, load_settings  # noqa: E402
from cdc_project.stack import postgres, services  # noqa: E402

SETTINGS = load_settings()
os.environ.update(services.process_env(SETTINGS))


@pytest.fixture(scope="session")
def settings() -> StackSettings:
    return SETTINGS


@pytest.fixture(scope="session")
def pipeline_config(settings: StackSettings) -> PipelineConfig:
    return load_config(settings.pipeline_config)


def _fresh_state(settings: StackSettings) -> None:
    if settings.state_dir.exists():
        services.down(settings, echo=lambda _line: None)
        shutil.rmtree(settings.state_dir)
    settings.state_dir.mkdir(parents=True)


_started: set[str] = set()


@pytest.fixture(scope="session")
def pg_cluster(settings: StackSettings, pipeline_config: PipelineConfig) -> Iterator[StackSettings]:
    """The PostgreSQL service alone (seeded demo source, replication slot), shared by every live test."""
    if not _started:
        _fresh_state(settings)
    services.up(settings, pipeline_config, only={"postgres"}, echo=lambda _line: None)
    _started.add("postgres")
    yield settings


@pytest.fixture(scope="session")
def pg_source_dsn(pg_cluster: StackSettings) -> str:
    """A scratch database on the stack's cluster for tests that (re)create the demo schema themselves."""
    postgres.ensure_database(pg_cluster, "scratch")
    return postgres.dsn(pg_cluster, "scratch")


@pytest.fixture(scope="session")
def stack(pg_cluster: StackSettings, pipeline_config: PipelineConfig) -> Iterator[StackSettings]:
    """Every service of the local stack, healthy; stopped at the end of the session."""
    services.up(pg_cluster, pipeline_config, echo=lambda _line: None)
    _started.add("all")
    yield pg_cluster


@pytest.fixture(scope="session", autouse=True)
def _stop_stack_at_end(settings: StackSettings) -> Iterator[None]:
    yield
    if _started:
        services.down(settings, echo=lambda _line: None)
