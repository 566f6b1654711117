"""lag: source commit -> visible through DuckDB, p50/p95/max in seconds, at two steady rates, through the
whole live path: PostgreSQL -> Debezium capture -> broker -> Dagster sensor and run -> Delta -> DuckDB.

bench/driver.py commits a transaction every 0.1 s on the demo shop's `public.customers` (the stack's own
pipeline.yaml, all five tables and sensors live), first at the low rate, then at the high rate, each for
`lag_seconds`. A watcher queries the lake's current table through DuckDB (`delta_scan`, pinned extension)
every 0.5 s for the largest marker it holds. A transaction's lag is the end of the first query that shows
its marker minus the moment its COMMIT returned; one that never shows within `lag_catch_up_seconds` after
the last commit counts as infinitely late (`not_visible`). Before the clock starts, one second of changes
must have reached the lake and the stack's start-up runs must be over. The Dagster runs of the window explain the
figure: how many, how long each took, how long each waited from creation (the sensor's request) to start;
and a sample of the topic's messages says how long capture took (commit -> broker, bench/capture.py).
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime
from typing import Any, Self

import dagster as dg
import duckdb

from bench import duck
from bench.capture import sample_delays
from bench.context import Context
from bench.driver import TABLE, Commit, Drive, SteadyDriver, marker
from bench.procs import RunWorkers
from bench.registry import Figures, Measured, case
from cdc_project.adapters import kafka_source
from cdc_project.adapters.sinks import sink_for
from cdc_project.defs.ingest.sensors import UNFINISHED
from cdc_project.stack import postgres

KEYS = ("lag.low_rate", "lag.high_rate")
POLL_SECONDS = 0.5
PRIME_TIMEOUT_SECONDS = 240.0


class Watcher:
    """Polls the lake for the largest marker of one driver run, in a thread."""

    def __init__(self, location: str, run: str) -> None:
        prefix = marker(run, 0)[:-9]
        self._query = f"select max(notes) from delta_scan({duck.quote(location)}) where notes like {duck.quote(prefix + '%')}"
        self.observations: list[tuple[float, int]] = []  # (time the query returned, largest seq visible)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-lag-watcher", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def seen(self) -> int:
        return self.observations[-1][1] if self.observations else 0

    def _loop(self) -> None:
        con = duck.connect()
        best = 0
        while not self._stop.is_set():
            try:
                row = con.execute(self._query).fetchone()
            except duckdb.Error:  # the table may not exist yet; keep polling
                row = None
            if row and row[0]:
                best = max(best, int(row[0][-9:]))
            self.observations.append((time.time(), best))
            self._stop.wait(POLL_SECONDS)
        con.close()

    def wait_for(self, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.seen < seq and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)


def lags(commits: tuple[Commit, ...], observations: list[tuple[float, int]]) -> list[float]:
    """Per commit: first observation at or after it that shows its marker, minus its commit time (inf: never)."""
    out = []
    for commit in commits:
        shown = next((at for at, seq in observations if seq >= commit.seq and at >= commit.at), None)
        out.append(float("inf") if shown is None else shown - commit.at)
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _seconds(value: float) -> float | None:
    return None if value == float("inf") else round(value, 2)


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


def _figure(
    drive: Drive, observations: list[tuple[float, int]], runs: dict[str, Any], extra: dict[str, Any]
) -> Measured:
    values = lags(drive.commits, observations)
    if not values:
        return Measured("seconds", {"p50": None, "p95": None, "max": None, "transactions": 0, **runs})
    return Measured(
        "seconds",
        {
            "p50": _seconds(_percentile(values, 0.5)),
            "p95": _seconds(_percentile(values, 0.95)),
            "max": _seconds(max(values)),
            "rate": drive.rate,
            "achieved_rate": round(drive.achieved_rate),
            "seconds": round(drive.seconds, 1),
            "transactions": len(values),
            "not_visible": sum(1 for v in values if v == float("inf")),
            **runs,
            **extra,
        },
    )


def _capture(ctx: Context, topic: str, first: int, run: str, low: Drive) -> dict[str, dict[str, Any]]:
    """Commit-to-broker delay of a sample of the window's messages, per phase (bench/capture.py)."""
    bootstrap = ctx.stack.config.kafka.bootstrap_servers
    last = kafka_source.end_offsets(bootstrap, topic).get(0, first) - 1
    low_last = low.commits[-1].seq if low.commits else 0
    prefix = marker(run, 0)[:-9]

    def phase_of(payload: dict[str, object]) -> str | None:
        after = payload.get("after")
        notes = after.get("notes") if isinstance(after, dict) else None
        if not isinstance(notes, str) or not notes.startswith(prefix):
            return None
        return "low" if int(notes[-9:]) <= low_last else "high"

    delays = sample_delays(bootstrap, topic, first, last, phase_of)
    return {
        phase: {"capture_seconds_p50": _seconds(_percentile(values, 0.5)), "capture_seconds_max": _seconds(max(values)),
                "capture_samples": len(values)}
        for phase, values in delays.items()
    }  # fmt: skip


@case("lag", needs="stack", keys=KEYS)
def lag_case(ctx: Context) -> Figures:
    """Steady low then high change rate into public.customers; lag until DuckDB shows each commit."""
    settings, config = ctx.stack.settings, ctx.stack.config
    source, table = next((s, t) for s, t in config.tables() if t.name == TABLE)
    location = sink_for(config, source, table, "delta").location
    stream, topic = f"{source.name}.{table.name}@delta", source.topic_for(table)
    run = datetime.now(UTC).strftime("%H%M%S%f")
    low_rate, high_rate = ctx.sizes.lag_rates
    driver = SteadyDriver(postgres.dsn(settings, source.database), run)
    try:
        with RunWorkers(settings.dagster_home) as workers, Watcher(location, run) as watcher:
            # Prime: one second at the low rate must reach the lake before anything is measured, and the
            # runs of the stack's start (the initial snapshot) must be over.
            primer = driver.drive(low_rate, 1.0)
            watcher.wait_for(primer.commits[-1].seq, PRIME_TIMEOUT_SECONDS)
            if watcher.seen < primer.commits[-1].seq:
                raise RuntimeError(
                    f"bench: {location} did not show a change within {PRIME_TIMEOUT_SECONDS} s"
                )
            wait_idle(ctx, PRIME_TIMEOUT_SECONDS)
            first_offset = kafka_source.end_offsets(config.kafka.bootstrap_servers, topic).get(0, 0)
            began = time.time()
            low = driver.drive(low_rate, ctx.sizes.lag_seconds)
            switched = time.time()
            high = driver.drive(high_rate, ctx.sizes.lag_seconds)
            ended = time.time()
            ctx.echo(
                f"bench: lag: drove {low.achieved_rate:.0f} then {high.achieved_rate:.0f} changes/s; waiting for the lake"
            )
            watcher.wait_for(high.commits[-1].seq if high.commits else 0, ctx.sizes.lag_catch_up_seconds)
    finally:
        driver.close()
    capture = _capture(ctx, topic, first_offset, run, low)
    live_peak = max(workers.peaks.values(), default=None)
    live = {"run_process_peak_rss_mib": None if live_peak is None else round(live_peak),
            "run_processes_sampled": len(workers.peaks)}  # fmt: skip
    low_runs = run_stats(ctx, stream, began, switched)
    high_runs = run_stats(ctx, stream, switched, ended + ctx.sizes.lag_catch_up_seconds)
    return {
        "lag.low_rate": _figure(low, watcher.observations, low_runs, capture.get("low", {})),
        "lag.high_rate": _figure(high, watcher.observations, high_runs, {**capture.get("high", {}), **live}),
    }
