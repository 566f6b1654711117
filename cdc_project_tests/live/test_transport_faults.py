"""The real transport under faults, on the session's stack: the Kafka Connect worker and the Kafka broker
killed with SIGKILL mid-stream and restarted, and every process of the stack killed at once (a reboot)
followed by `up`, and a graceful `down`/`up`. Each ends with every lake table equal to its source, no Kafka
offset applied twice to any changelog, no source event twice in any topic (exactly-once source delivery)
and reconciliation finding no drift."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from cdc_project.adapters.kafka_source import end_offsets, read_range
from cdc_project.config import PipelineConfig
from cdc_project.core.events import decode_batch
from cdc_project.demo.generator import run_generator
from cdc_project.settings import StackSettings
from cdc_project.stack import postgres, process, services
from cdc_project_tests.live.helpers import assert_lake_equals_source, assert_no_offset_applied_twice, wait_for

pytestmark = pytest.mark.live


def _quiet(_line: str) -> None:
    pass


def _generate_while(stack: StackSettings, fault: threading.Event | None, seconds: float, seed: int) -> threading.Thread:
    dsn = postgres.dsn(stack, stack.pg_source_db)
    worker = threading.Thread(
        target=run_generator, kwargs=dict(dsn=dsn, rate=40.0, duration=seconds, seed=seed), daemon=True
    )
    worker.start()
    return worker


def _kill(stack: StackSettings, name: str) -> None:
    proc = services.managed(stack, name)
    pid = proc.pid()
    assert pid is not None and proc.is_running(), f"{name} is not running"
    os.killpg(pid, signal.SIGKILL)  # no shutdown hook runs
    wait_for(lambda: not proc.is_running(), 30, f"{name} to die")


def assert_no_source_event_twice(stack: StackSettings, config: PipelineConfig) -> None:
    """Every streamed change is in its topic once: with exactly-once source delivery a restarted task
    resumes from offsets committed in the same transaction as its records (snapshot rows share the
    snapshot's position, so only streamed events are counted)."""
    for source, table in config.tables():
        topic = source.topic_for(table)
        ends = end_offsets(stack.kafka_bootstrap, topic)
        read = read_range(stack.kafka_bootstrap, topic, {p: 0 for p in ends}, ends, max_events=10_000_000, timeout=60)
        decoded = decode_batch(read.messages, source_kind=source.kind, key_override=table.primary_key)
        rows = decoded.rows
        if rows.num_rows == 0:
            continue
        streamed = [
            pos for op, pos in zip(rows.column("_cdc_op").to_pylist(), rows.column("_cdc_position").to_pylist(),
                                   strict=True) if op != "r"
        ]
        twice = [pos for pos, n in Counter(streamed).items() if n > 1]
        assert not twice, f"{topic}: {len(twice)} source events delivered twice, e.g. {twice[:3]}"


def assert_reconciled(stack: StackSettings, config: PipelineConfig) -> None:
    for table in ("public.customers", "public.orders"):
        done = subprocess.run(
            [sys.executable, "-m", "cdc_project.cli", "reconcile", "--table", table, "--sink", "delta"],
            capture_output=True, text=True, timeout=600, env={**os.environ, **services.process_env(stack)},
        )
        assert done.returncode == 0, f"{table}: drift or failure\n{done.stdout}{done.stderr}"


def _assert_whole(stack: StackSettings, config: PipelineConfig) -> None:
    assert_lake_equals_source(stack, config)
    assert_no_offset_applied_twice(config)
    assert_no_source_event_twice(stack, config)


def test_connect_worker_killed_mid_stream_loses_and_duplicates_nothing(
    stack: StackSettings, pipeline_config: PipelineConfig
) -> None:
    writer = _generate_while(stack, None, 16.0, seed=41)
    time.sleep(5)
    _kill(stack, "connect")
    time.sleep(2)
    services.up(stack, pipeline_config, only={"connect", "connector-shop"}, echo=_quiet)
    writer.join()
    _assert_whole(stack, pipeline_config)


def test_broker_killed_mid_stream_loses_and_duplicates_nothing(
    stack: StackSettings, pipeline_config: PipelineConfig
) -> None:
    writer = _generate_while(stack, None, 16.0, seed=43)
    time.sleep(5)
    _kill(stack, "kafka")
    time.sleep(3)
    # The broker comes back with every topic (its log dirs are durable); Connect and the sensors reconnect,
    # and `up` restarts a connector task the outage failed.
    services.up(stack, pipeline_config, echo=_quiet)
    writer.join()
    services.up(stack, pipeline_config, echo=_quiet)
    _assert_whole(stack, pipeline_config)
    assert_reconciled(stack, pipeline_config)


def test_down_up_and_a_reboot_like_kill_of_every_process_resume_where_they_were(
    stack: StackSettings, pipeline_config: PipelineConfig
) -> None:
    run_generator(postgres.dsn(stack, stack.pg_source_db), rate=40.0, duration=4.0, seed=47)
    assert_lake_equals_source(stack, pipeline_config)

    services.down(stack, pipeline_config, echo=_quiet)
    assert services.leftover_pids(stack) == []
    services.up(stack, pipeline_config, echo=_quiet)
    run_generator(postgres.dsn(stack, stack.pg_source_db), rate=40.0, duration=4.0, seed=53)
    assert_lake_equals_source(stack, pipeline_config)

    # A reboot: every process of the stack dies at once, nothing is shut down.
    for pid in services.leftover_pids(stack):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(process.pid_alive(p) for p in services.leftover_pids(stack)), 30, "every process to die")
    services.up(stack, pipeline_config, echo=_quiet)
    run_generator(postgres.dsn(stack, stack.pg_source_db), rate=40.0, duration=4.0, seed=59)
    _assert_whole(stack, pipeline_config)
    assert_reconciled(stack, pipeline_config)
