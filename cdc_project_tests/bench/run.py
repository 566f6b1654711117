"""`make bench`: throughput, lag and memory of the ingest path on this machine.

Stages measured separately, then end to end on the real stack:
1. decode: Debezium JSON envelopes (schemas on) -> Arrow, events/s on one core;
2. apply: fold + ordered MERGE + changelog append + offsets into Delta, rows/s for a 100k-event batch,
   and the peak RSS of this process;
3. end to end: a 100k-row bulk transaction in PostgreSQL -> Debezium -> Tansu -> Dagster run -> Delta,
   seconds from source commit until the lake holds every row (events/s for one table);
4. steady lag: the change generator at a fixed rate for a while; lag p50/p95 from source commit to lake.
Results are printed and written to .state/bench/results.json.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg2

from cdc_project.core.events import RawMessage, decode_batch
from cdc_project.settings import Ports, load_settings

CASE = Path(__file__).resolve().parent.parent / "cases" / "postgres" / "debezium_3_6_embedded.jsonl"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_messages(n: int) -> list[RawMessage]:
    """n update events of public.t shaped exactly like the recorded Debezium 3.6 event, keys 0..n/4."""
    recorded = [json.loads(line) for line in CASE.read_text().splitlines()]
    template = next(r for r in recorded if '"op":"u"' in (r.get("value") or "").replace(" ", ""))
    value = json.loads(template["value"])
    key = json.loads(template["key"])
    messages = []
    for i in range(n):
        k = i % max(1, n // 4)
        value["payload"]["after"]["id"] = k
        value["payload"]["after"]["tx"] = f"v{i}"
        value["payload"]["source"]["lsn"] = 30_000_000 + i * 100
        value["payload"]["source"]["sequence"] = json.dumps([str(29_000_000 + i * 100), str(30_000_000 + i * 100)])
        key["payload"]["id"] = k
        messages.append(RawMessage("shop.public.t", 0, i, json.dumps(key).encode(), json.dumps(value).encode()))
    return messages


def bench_decode(n: int = 100_000) -> dict[str, float]:
    messages = synthetic_messages(n)
    began = time.perf_counter()
    decoded = decode_batch(messages, source_kind="postgres")
    seconds = time.perf_counter() - began
    assert decoded.rows.num_rows == n and not decoded.dead_letters
    return {"events": n, "seconds": round(seconds, 3), "events_per_second": round(n / seconds)}


def bench_apply(n: int = 100_000) -> dict[str, float]:
    from cdc_project.adapters.delta_sink import DeltaTableSink
    from cdc_project.config import TableConfig

    decoded = decode_batch(synthetic_messages(n), source_kind="postgres")
    lake = tempfile.mkdtemp(prefix="cdc-bench-lake-")
    try:
        sink = DeltaTableSink(lake, "bench", TableConfig(name="public.t"), "shop.public.t")
        began = time.perf_counter()
        result = sink.apply(decoded.rows, decoded.key_columns)
        first = time.perf_counter() - began
        began = time.perf_counter()
        sink.apply(decoded.rows, decoded.key_columns)  # replay: must be a no-op
        replay = time.perf_counter() - began
    finally:
        shutil.rmtree(lake, ignore_errors=True)
    return {
        "events": n,
        "upserts": result.upserts,
        "seconds": round(first, 3),
        "events_per_second": round(n / first),
        "replay_seconds": round(replay, 3),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


def bench_end_to_end(rows: int = 100_000, lag_seconds: float = 60.0, rate: float = 200.0) -> dict[str, Any]:
    from cdc_project.config import load_config
    from cdc_project.demo.generator import WorkloadMix, run_generator
    from cdc_project.demo.run import compare_all, summarize
    from cdc_project.stack import postgres, services

    base = load_settings()
    settings = dataclasses.replace(
        base, state_dir=Path("/tmp/cdc-lakehouse-bench"), ports=Ports(postgres=25832, kafka=29392, dagster_webserver=23400)
    )
    services.down(settings, load_config(settings.pipeline_config, env=services.process_env(settings)), echo=lambda _l: None)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    env = services.process_env(settings)
    config = load_config(settings.pipeline_config, env=env)
    import os

    os.environ.update(env)
    services.up(settings, config, echo=lambda line: print(f"  {line.strip()}"))
    try:
        dsn = postgres.dsn(settings, settings.pg_source_db)
        # catch up on the seed first
        _wait(lambda: all(c.equal for c in compare_all(settings, config)), 300)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "insert into public.page_views (viewed_at, customer_id, url, referrer) "
                "select now(), (g %% 200) + 1, '/bench/' || g, null from generate_series(1, %s) g",
                (rows,),
            )
        committed = time.monotonic()
        _wait(lambda: all(c.equal for c in compare_all(settings, config)), 600)
        bulk_seconds = time.monotonic() - committed
        started_ms = time.time() * 1000
        run_generator(dsn, rate=rate, duration=lag_seconds, mix=WorkloadMix(), seed=5)
        _wait(lambda: all(c.equal for c in compare_all(settings, config)), 300)
        summaries = summarize(settings, config, compare_all(settings, config), started_ms)
        lags = {s.comparison.table: {"p50": s.lag_p50, "p95": s.lag_p95, "runs": s.runs} for s in summaries}
    finally:
        services.down(settings, config, echo=lambda _l: None)
    return {
        "bulk_rows": rows,
        "bulk_seconds_commit_to_lake": round(bulk_seconds, 1),
        "bulk_events_per_second": round(rows / bulk_seconds),
        "steady_rate_changes_per_second": rate,
        "steady_seconds": lag_seconds,
        "lag_seconds_by_table": lags,
    }


def _wait(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: not caught up after {timeout}s")
        time.sleep(1)


def main() -> None:
    results = {"decode": bench_decode(), "apply": bench_apply()}
    print(f"decode: {results['decode']}", flush=True)
    print(f"apply:  {results['apply']}", flush=True)
    results["end_to_end"] = bench_end_to_end()
    print(f"end to end: {json.dumps(results['end_to_end'], indent=2)}")
    out = load_settings().state_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"bench: results in {out / 'results.json'}")


if __name__ == "__main__":
    main()
