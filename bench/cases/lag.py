"""lag: source commit -> visible through DuckDB, p50/p95/max in seconds, at two steady rates, through the
whole live path: PostgreSQL -> Debezium capture -> broker -> Dagster sensor and run -> Delta -> DuckDB.

bench/driver.py commits a transaction every 0.1 s on the demo shop's `public.customers` (the stack's own
pipeline.yaml, all five tables and sensors live), first at the low rate, then at the high rate, each for
`lag_seconds`. A watcher queries the lake's current table through DuckDB (`delta_scan`, pinned extension)
every second for the largest marker it holds (one DuckDB thread, so the watcher takes little from the
path it measures). A transaction's lag is the end of the first query that shows
its marker minus the moment its COMMIT returned; one that never shows within `lag_catch_up_seconds` after
the last commit counts as infinitely late (`not_visible`). Before the clock starts (except in tiny mode),
one second of changes must have reached the lake and the stack's start-up runs must be over. The Dagster runs of the window explain the
figure: how many, how long each took, how long each waited from creation (the sensor's request) to start;
a sample of the topic's messages says how long capture took (commit -> broker, bench/capture.py); and the
CPU each part of the path used (cores, from /proc) says which one the two CPUs could not keep up with.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import Any, Self

import duckdb

from bench import duck
from bench.capture import sample_delays
from bench.context import Context
from bench.driver import TABLE, Commit, Drive, SteadyDriver, marker
from bench.live import cpu_by_part, cpu_shares, run_stats, service_roots, wait_idle
from bench.procs import RunWorkers
from bench.registry import Figures, Measured, case
from cdc_project.adapters import kafka_source
from cdc_project.adapters.sinks import sink_for
from cdc_project.stack import postgres

KEYS = ("lag.low_rate", "lag.high_rate")
POLL_SECONDS = 1.0  # the lag's resolution; each poll reads the table's Delta log and its notes column
PRIME_TIMEOUT_SECONDS = 240.0


class Watcher:
    """Polls the lake for the largest marker of one driver run, in a thread."""

    def __init__(self, location: str, run: str) -> None:
        prefix = marker(run, 0)[:-9]
        self._query = f"select max(notes) from delta_scan({duck.quote(location)}) where notes like {duck.quote(prefix + '%')}"
        self.observations: list[tuple[float, int]] = []  # (time the query returned, largest seq visible)
        self.query_seconds: list[tuple[float, float]] = []  # (wall, CPU of this thread) per query
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
        con.execute("SET threads = 1")
        best = 0
        while not self._stop.is_set():
            began, cpu = time.perf_counter(), time.thread_time()
            try:
                row = con.execute(self._query).fetchone()
            except duckdb.Error:  # the table may not exist yet; keep polling
                row = None
            if row and row[0]:
                best = max(best, int(row[0][-9:]))
            self.observations.append((time.time(), best))
            self.query_seconds.append((time.perf_counter() - began, time.thread_time() - cpu))
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
            if ctx.sizes.lag_prime:
                # One second at the low rate must reach the lake before anything is measured, and the
                # runs of the stack's start (the initial snapshot) must be over.
                primer = driver.drive(low_rate, 1.0)
                watcher.wait_for(primer.commits[-1].seq, PRIME_TIMEOUT_SECONDS)
                if watcher.seen < primer.commits[-1].seq:
                    raise RuntimeError(f"bench: {location} showed no change within {PRIME_TIMEOUT_SECONDS} s")
                wait_idle(ctx, PRIME_TIMEOUT_SECONDS)
                ctx.echo(f"bench: lag: primed in {time.time() - primer.commits[0].at:.0f} s")
            first_offset = kafka_source.end_offsets(config.kafka.bootstrap_servers, topic).get(0, 0)
            roots = service_roots(ctx)
            began, cpu_began = time.time(), cpu_by_part(roots)
            low = driver.drive(low_rate, ctx.sizes.lag_seconds)
            switched, cpu_switched, load_low = time.time(), cpu_by_part(roots), os.getloadavg()[0]
            high = driver.drive(high_rate, ctx.sizes.lag_seconds)
            ended, cpu_ended, load_high = time.time(), cpu_by_part(roots), os.getloadavg()[0]
            ctx.echo(
                f"bench: lag: drove {low.achieved_rate:.0f} then {high.achieved_rate:.0f} changes/s; waiting for the lake"
            )
            watcher.wait_for(high.commits[-1].seq if high.commits else 0, ctx.sizes.lag_catch_up_seconds)
            ctx.echo(f"bench: lag: the lake showed the last change {time.time() - ended:.0f} s after it")
    finally:
        driver.close()
    capture = _capture(ctx, topic, first_offset, run, low)
    live_peak = max(workers.peaks.values(), default=None)
    queries = watcher.query_seconds or [(0.0, 0.0)]
    live = {"run_process_peak_rss_mib": None if live_peak is None else round(live_peak),
            "run_processes_sampled": len(workers.peaks),
            "watcher_query_seconds_max": round(max(q[0] for q in queries), 2),
            "watcher_cpu_seconds_per_query": round(sum(q[1] for q in queries) / len(queries), 3)}  # fmt: skip
    # The table's sinks: each one is a run per batch of its own (bench/stack.py writes it to Delta only).
    sinks = {"table_sinks": list(table.sinks)}
    low_extra = {**capture.get("low", {}), **sinks, "load_average_1m": round(load_low, 1),
                 "cpu_cores_by_part": cpu_shares(cpu_began, cpu_switched, switched - began)}  # fmt: skip
    high_extra = {**capture.get("high", {}), **sinks, "load_average_1m": round(load_high, 1),
                  "cpu_cores_by_part": cpu_shares(cpu_switched, cpu_ended, ended - switched), **live}  # fmt: skip
    low_runs = run_stats(ctx, stream, began, switched)
    high_runs = run_stats(ctx, stream, switched, ended + ctx.sizes.lag_catch_up_seconds)
    return {
        "lag.low_rate": _figure(low, watcher.observations, low_runs, low_extra),
        "lag.high_rate": _figure(high, watcher.observations, high_runs, high_extra),
    }
