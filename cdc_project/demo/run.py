"""`make demo`: seed, start the stack and the change generator; headless with a duration.

Headless (`make demo DURATION=60`): run the generator that long, stop it, wait (bounded) for the lake to
catch up, print a per-table summary, and exit non-zero if any lake table differs from its source.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import pyarrow.compute as pc

from cdc_project.adapters.sinks import sink_for
from cdc_project.config import PipelineConfig, SourceConfig, TableConfig
from cdc_project.core import columns
from cdc_project.demo.compare import TableComparison, compare_table, primary_key
from cdc_project.settings import StackSettings, apply_service_env
from cdc_project.stack import postgres, services

CATCH_UP_TIMEOUT_SECONDS = 240.0


@dataclass(frozen=True)
class TableSummary:
    comparison: TableComparison
    events_applied: int
    runs: int
    lag_p50: float | None
    lag_p95: float | None


def compare_all(settings: StackSettings, config: PipelineConfig) -> list[TableComparison]:
    """Every table in every one of its sinks against its source."""
    result = []
    for source, table in config.tables():
        dsn = postgres.dsn(settings, source.database)
        keys = [] if table.append_only else (table.primary_key or primary_key(dsn, table.name))
        for kind in table.sinks:
            lake = sink_for(config, source, table, kind).read_current()
            result.append(compare_table(dsn, lake, table.name, keys, sink=kind))
    return result


def wait_until_equal(settings: StackSettings, config: PipelineConfig, timeout: float) -> list[TableComparison]:
    deadline = time.monotonic() + timeout
    while True:
        comparisons = compare_all(settings, config)
        if all(c.equal for c in comparisons) or time.monotonic() > deadline:
            return comparisons
        time.sleep(3)


def _changelog_stats(config: PipelineConfig, source: SourceConfig, table: TableConfig,
                     since_ms: float) -> tuple[int, float | None, float | None]:
    sink = sink_for(config, source, table, table.changelog_sink)
    log = sink.read_changelog([columns.SOURCE_TS, columns.INGESTED_AT])
    if log is None:
        return 0, None, None
    lag = pc.divide(
        pc.subtract(log.column(columns.INGESTED_AT), log.column(columns.SOURCE_TS)).cast("int64").cast("float64"),
        1_000_000.0,
    )
    recent = pc.filter(lag, pc.greater_equal(log.column(columns.SOURCE_TS).cast("int64"), int(since_ms * 1000)))
    if len(recent.drop_null()) == 0:
        return log.num_rows, None, None
    p50, p95 = pc.quantile(recent.drop_null(), q=[0.5, 0.95]).to_pylist()
    return log.num_rows, p50, p95


def _run_counts(settings: StackSettings) -> dict[str, int]:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        counts: dict[str, int] = {}
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])):
            stream = run.tags.get("cdc/stream")
            if stream:
                counts[stream] = counts.get(stream, 0) + 1
        return counts
    finally:
        instance.dispose()


def summarize(settings: StackSettings, config: PipelineConfig, comparisons: list[TableComparison],
              since_ms: float) -> list[TableSummary]:
    runs = _run_counts(settings)
    stats = {f"{s.name}.{t.name}": _changelog_stats(config, s, t, since_ms) for s, t in config.tables()}
    summaries = []
    for comparison in comparisons:
        key = next(f"{s.name}.{t.name}" for s, t in config.tables() if t.name == comparison.table)
        events, p50, p95 = stats[key]
        runs_of_stream = runs.get(f"{key}@{comparison.sink}", 0)
        summaries.append(TableSummary(comparison, events, runs_of_stream, p50, p95))
    return summaries


def print_summary(summaries: list[TableSummary]) -> None:
    fmt = "{:<22} {:<8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>9}  {}"
    print(fmt.format("table", "sink", "source", "lake", "events", "runs", "lag p50", "lag p95", "status"))
    for s in summaries:
        c = s.comparison
        status = "equal" if c.equal else f"DIFFERS missing={c.missing} extra={c.extra} different={c.different}"
        lag50 = f"{s.lag_p50:.1f}s" if s.lag_p50 is not None else "-"
        lag95 = f"{s.lag_p95:.1f}s" if s.lag_p95 is not None else "-"
        print(fmt.format(c.table, c.sink, c.source_rows, c.lake_rows, s.events_applied, s.runs, lag50, lag95, status))
        for example in c.examples:
            print(f"    {example}")


def run_demo(settings: StackSettings, config: PipelineConfig, *, duration: float | None, rate: float) -> int:
    from cdc_project.demo.generator import WorkloadMix, format_progress, run_generator

    apply_service_env(settings)
    print("cdc demo: starting the local stack")
    services.up(settings, config)
    url = f"http://{settings.host}:{settings.ports.dagster_webserver}"
    print(f"cdc demo: Dagster UI at {url} (ingestion sensors are on)")
    stop = threading.Event()
    started_ms = time.time() * 1000
    tty = sys.stdout.isatty()

    def progress(stats: object) -> None:
        print(format_progress(stats), end="\r" if tty else "\n", flush=True)  # type: ignore[arg-type]

    dsn = postgres.dsn(settings, settings.pg_source_db)
    if duration is None:
        print("cdc demo: generating changes until Ctrl-C; the stack keeps running afterwards (`make down`)")
        try:
            run_generator(dsn, rate=rate, duration=None, mix=WorkloadMix(), seed=7, progress=progress, stop=stop)
        except KeyboardInterrupt:
            stop.set()
        return 0
    stats = run_generator(dsn, rate=rate, duration=duration, mix=WorkloadMix(), seed=7, progress=progress, stop=stop)
    print(f"\ncdc demo: generator done: {format_progress(stats)}; waiting for the lake to catch up")
    comparisons = wait_until_equal(settings, config, CATCH_UP_TIMEOUT_SECONDS)
    print_summary(summarize(settings, config, comparisons, started_ms))
    ok = all(c.equal for c in comparisons)
    print(f"cdc demo: {'every table equals its source' if ok else 'SOME TABLES DIFFER'}; stop with `make down`")
    return 0 if ok else 1
