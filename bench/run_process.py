"""A Dagster run process, as the daemon's run launcher would start it, for the memory figure.

    python -m bench.run_process '<pipeline config JSON>' '<ranges>'

Builds the ingest definitions of that config and executes the (only) table's Delta ingest job in this
process with an ephemeral instance: the same imports, op and `run_batch` call as a daemon-launched run
worker, without the event-log writes to PostgreSQL. The last line printed is `HIGH_WATER <json>`: this
process's peak RSS (VmHWM, MiB) at the start (imports done), at the end, and how much each stage raised it
(bench/stages.py). VmHWM starts afresh at exec; the parent's rusage would not (a forked child's
`ru_maxrss` counts the parent's pages it shared before exec).
"""

from __future__ import annotations

import json
import os
import sys

import dagster as dg

from bench.procs import vm_hwm_mib
from bench.stages import stage_high_water
from cdc_project.config import parse_config
from cdc_project.defs.ingest import build_ingest_defs
from cdc_project.defs.ingest.assets import TableAssets

HIGH_WATER = "HIGH_WATER"


def main(config_json: str, ranges: str) -> int:
    config = parse_config(json.loads(config_json))
    source = config.sources[0]
    names = TableAssets(source, source.tables[0], "delta")
    job = build_ingest_defs(config).resolve_job_def(f"ingest_{names.slug}_job")
    run_config = {"ops": {f"ingest_{names.slug}": {"config": {"ranges": ranges}}}}
    start = vm_hwm_mib(os.getpid()) or 0.0
    with dg.DagsterInstance.ephemeral() as instance, stage_high_water() as growth:
        result = job.execute_in_process(run_config=run_config, instance=instance)
    marks = {"start": round(start), "peak": round(vm_hwm_mib(os.getpid()) or 0.0),
             "growth_by_stage": {stage: round(mib) for stage, mib in growth.items() if mib >= 1}}  # fmt: skip
    print(HIGH_WATER, json.dumps(marks), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
