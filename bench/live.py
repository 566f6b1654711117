"""Facts about the running stack that explain a lag figure: its Dagster runs and the CPU each part used."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from bench.context import Context
from bench.procs import cpu_seconds, pid_from_file
from cdc_project.defs.ingest.sensors import UNFINISHED
from cdc_project.stack import postgres


def run_stats(ctx: Context, stream: str, since: float, until: float) -> dict[str, Any]:
    """The Dagster runs of `stream` created in [since, until): count, duration and launch delay."""
    instance = dg.DagsterInstance.from_config(str(ctx.stack.settings.dagster_home))
    try:
        records = instance.get_run_records(
            dg.RunsFilter(tags={"cdc/stream": stream}, created_after=datetime.fromtimestamp(since, UTC))
        )
    finally:
        instance.dispose()
    window = [r for r in records if r.create_timestamp.timestamp() < until and r.start_time and r.end_time]
    if not window:
        return {"runs": 0}
    durations = [r.end_time - r.start_time for r in window]  # type: ignore[operator]
    delays = [r.start_time - r.create_timestamp.timestamp() for r in window]  # type: ignore[operator]
    return {
        "runs": len(window),
        "run_seconds_median": round(statistics.median(durations), 2),
        "run_seconds_max": round(max(durations), 2),
        "launch_delay_seconds_median": round(statistics.median(delays), 2),
        "sensor_interval_seconds": ctx.stack.config.ingest.sensor_interval_seconds,
    }


def wait_idle(ctx: Context, timeout: float) -> None:
    """Until no run of the instance is queued or running: the stack's initial snapshot runs are done."""
    deadline = time.monotonic() + timeout
    instance = dg.DagsterInstance.from_config(str(ctx.stack.settings.dagster_home))
    try:
        while instance.get_runs(dg.RunsFilter(statuses=UNFINISHED), limit=1) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        instance.dispose()


def service_roots(ctx: Context) -> dict[str, int | None]:
    """The root process of each part of the live path; their trees hold PostgreSQL's backends (the
    walsender Debezium reads from), the code server and run workers under the daemon."""
    run_dir = ctx.stack.settings.run_dir
    return {
        "postgres": postgres.server_pid(ctx.stack.settings),
        "capture": pid_from_file(run_dir / "connect.pid"),  # the Kafka Connect worker running Debezium
        "broker": pid_from_file(run_dir / "kafka.pid"),
        "dagster_daemon_and_runs": pid_from_file(run_dir / "dagster-daemon.pid"),
    }


def cpu_by_part(roots: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far of each part's process tree, plus this process alone (the driver, the watcher and
    the samplers: its children are the stack's services, counted in their own parts)."""
    return {**cpu_seconds(roots), "bench_driver_and_watcher": time.process_time()}


def cpu_shares(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU cores each part used on average over a window (1.0 = one core busy all the time)."""
    return {name: round((after[name] - before[name]) / seconds, 2) for name in after if name in before}
