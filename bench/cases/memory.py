"""memory: peak RSS of a run process at a large batch, of the Connect worker and of the broker, MiB.

- `memory.run_process`: a child process (bench/run_process.py) executes the Delta ingest job of one large
  batch into a table seeded with the base rows, exactly as a run worker does; its peak RSS is the kernel's
  high-water mark (VmHWM) of that process, so no sample can miss the peak. `growth_by_stage` is the profile
  that explains it: how much each stage raised the peak (fetch holds the raw batch, decode adds the Arrow
  rows, the current-table MERGE adds delta-rs's working set).
- `memory.capture_process`, `memory.broker`: the high-water mark (VmHWM) of the stack's Kafka Connect
  worker (the JVM running the Debezium connector) and of the Kafka broker, read after the lag case: their
  peak while the lake took the steady 1k and 5k changes/s. Both heaps are fixed (stack/jvm.py), so the
  figures are bounded by heap + metaspace + page cache they map, not by the changes held.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.cases.ingest import bench_config, drop_topic, produce, seeded_sink
from bench.context import Context
from bench.procs import pid_from_file, vm_hwm_mib
from bench.registry import Figures, Measured, NotAvailable, case
from bench.run_process import HIGH_WATER
from bench.workload import Workload
from cdc_project.settings import PROJECT_ROOT


def run_child(argv: list[str], log: Path) -> tuple[int, float]:
    """(exit code, seconds) of one child process; its output goes to `log`."""
    began = time.perf_counter()
    with log.open("wb") as out:
        code = subprocess.run(
            argv, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    return code, time.perf_counter() - began


@case("memory.run_process", needs="broker", keys=("memory.run_process",))
def run_process_case(ctx: Context) -> Figures:
    """Peak RSS of a run process applying one large batch to the Delta sink."""
    lake_root = str(ctx.scratch("memory-run-process"))
    sink = seeded_sink(ctx, "delta", lake_root)
    if isinstance(sink, NotAvailable):
        return {"memory.run_process": sink}
    batch = Workload(ctx.sizes.table_rows, ctx.workload.seed, stream=1).batch(0, ctx.sizes.large_batch)
    config = bench_config(ctx, "delta", lake_root, "benchmemory")
    topic = config.sources[0].topic_for(config.sources[0].tables[0])
    produce(config.kafka.bootstrap_servers, topic, batch)
    try:
        argv = [
            sys.executable,
            "-m",
            "bench.run_process",
            json.dumps(config.model_dump(mode="json")),
            f"0:0-{batch.size}",
        ]
        log = Path(lake_root) / "run_process.log"
        status, seconds = run_child(argv, log)
    finally:
        drop_topic(config.kafka.bootstrap_servers, topic)
    if status != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"bench: the run process exited with {status}; the end of its output:\n{tail}")
    line = next(line for line in reversed(log.read_text().splitlines()) if line.startswith(HIGH_WATER + " "))
    marks = json.loads(line.split(" ", 1)[1])
    size = sum(len(k) + len(v) for k, v in batch.envelopes(schemas=True)) / batch.size
    values = {"peak_rss": marks["peak"], "after_imports": marks["start"], "batch_events": batch.size,
              "bytes_per_event": round(size), "table_rows": ctx.sizes.table_rows, "run_seconds": round(seconds, 1),
              "growth_by_stage": marks["growth_by_stage"]}  # fmt: skip
    return {"memory.run_process": Measured("MiB", values)}


@case("memory.services", needs="stack", keys=("memory.capture_process", "memory.broker"))
def services_case(ctx: Context) -> Figures:
    """Peak RSS (VmHWM) of the Connect worker and the broker so far: after the lag case, under its load."""
    settings = ctx.stack.settings
    figures: Figures = {}
    for key, pid_file in (("memory.capture_process", settings.run_dir / "connect.pid"),
                          ("memory.broker", settings.run_dir / "kafka.pid")):  # fmt: skip
        pid = pid_from_file(pid_file)
        peak = vm_hwm_mib(pid) if pid is not None else None
        figures[key] = (
            Measured("MiB", {"peak_rss": round(peak), "pid_file": pid_file.name if pid_file else None})
            if peak is not None
            else NotAvailable(f"no running process behind {pid_file}")
        )
    return figures
