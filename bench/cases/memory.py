"""memory: peak RSS of a run process at a large batch, of the capture process and of the broker, MiB.

- `memory.run_process`: a child process (bench/run_process.py) executes the Delta ingest job of one large
  batch into a table seeded with the base rows, exactly as a run worker does; its peak RSS is the kernel's
  (`os.wait4` rusage, ru_maxrss), so no sample can miss the peak. `high_water_after_stage` is the profile
  that explains it: the peak after each stage (fetch holds the raw batch, decode adds the Arrow rows, the
  current-table MERGE adds delta-rs's working set).
- `memory.capture_process`, `memory.broker`: the high-water mark (VmHWM) of the stack's Debezium capture
  process (Python + the JVM it embeds) and of Tansu, read after the lag case: their peak while the lake
  took the steady 1k and 5k changes/s. Tansu keeps every topic in memory, so its figure grows with the
  changes it has held.
"""

from __future__ import annotations

import json
import os
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


def child_peak_rss_mib(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, int, float]:
    """(peak RSS in MiB, exit code, seconds) of one child process; its output goes to `log`."""
    began = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, child.returncode, time.perf_counter() - began


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
        peak, status, seconds = child_peak_rss_mib(argv, dict(os.environ), log)
    finally:
        drop_topic(config.kafka.bootstrap_servers, topic)
    if status != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"bench: the run process exited with {status}; the end of its output:\n{tail}")
    marks = next((line.split(" ", 1)[1] for line in reversed(log.read_text().splitlines())
                  if line.startswith(HIGH_WATER + " ")), "{}")  # fmt: skip
    values = {"peak_rss": round(peak), "batch_events": batch.size, "table_rows": ctx.sizes.table_rows,
              "bytes_per_event": round(sum(len(k) + len(v) for k, v in batch.envelopes(schemas=True)) / batch.size),
              "run_seconds": round(seconds, 1), "high_water_after_stage": json.loads(marks)}  # fmt: skip
    return {"memory.run_process": Measured("MiB", values)}


@case("memory.services", needs="stack", keys=("memory.capture_process", "memory.broker"))
def services_case(ctx: Context) -> Figures:
    """Peak RSS (VmHWM) of the capture process and the broker so far: after the lag case, under its load."""
    settings = ctx.stack.settings
    figures: Figures = {}
    capture = [p for p in settings.run_dir.glob("capture-*.pid")]
    for key, pid_file in (("memory.capture_process", capture[0] if capture else None),
                          ("memory.broker", settings.run_dir / "broker.pid")):  # fmt: skip
        pid = pid_from_file(pid_file) if pid_file is not None else None
        peak = vm_hwm_mib(pid) if pid is not None else None
        figures[key] = (
            Measured("MiB", {"peak_rss": round(peak), "pid_file": pid_file.name if pid_file else None})
            if peak is not None
            else NotAvailable(f"no running process behind {pid_file}")
        )
    return figures
