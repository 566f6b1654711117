"""Run the registered cases group by group (nothing, then broker, then the whole stack) and build the results.

A case that raises is recorded as failed for each of its keys and the suite goes on; `failed()` tells the
caller to exit non-zero. Only the selected cases run (`only`: case names or figure keys); their keys are
all in the results, measured or not.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench.cases  # noqa: F401 - registers every case
from bench import report
from bench.context import Context
from bench.registry import CASES, NEEDS_ORDER, Case, Failed, Result
from bench.sizes import Sizes
from bench.stack import StackHandle
from bench.workload import Workload


def select(only: Collection[str] | None) -> list[Case]:
    if not only:
        return list(CASES.values())
    chosen = [c for c in CASES.values() if c.name in only or any(key in only for key in c.keys)]
    known = set(CASES) | {key for c in CASES.values() for key in c.keys}
    unknown = sorted(set(only) - known)
    if unknown:
        raise SystemExit(f"bench: unknown cases {unknown}. Valid values are: {sorted(CASES)}")
    return chosen


def run_suite(
    sizes: Sizes,
    stack: StackHandle,
    work_dir: Path,
    *,
    only: Collection[str] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the selected cases and return the results document (report.build)."""
    started, began, load_before = datetime.now(UTC), time.monotonic(), os.getloadavg()[0]
    ctx = Context(sizes, Workload(sizes.table_rows), work_dir, stack, echo)
    results: dict[str, Result] = {}
    cases = select(only)
    try:
        for needs in NEEDS_ORDER:
            group = [c for c in cases if c.needs == needs]
            if not group:
                continue
            try:
                stack.ensure(needs)
            except Exception as exc:  # noqa: BLE001 - the other groups' figures are still worth writing
                echo(traceback.format_exc())
                results.update(
                    {key: Failed(f"services did not start: {exc}") for c in group for key in c.keys}
                )
                continue
            for case in group:
                results.update(_run_case(ctx, case))
    finally:
        stack.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    return report.build(results, sizes, started=started, seconds=time.monotonic() - began, load=load)


def _run_case(ctx: Context, case: Case) -> dict[str, Result]:
    ctx.echo(f"bench: {case.name}: {case.doc}")
    began = time.monotonic()
    try:
        figures = case.run(ctx)
    except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others' figures
        ctx.echo(traceback.format_exc())
        return {key: Failed(f"{type(exc).__name__}: {exc}") for key in case.keys}
    missing = set(case.keys) - set(figures)
    if missing:
        return {key: figures.get(key) or Failed(f"{case.name} returned no {key}") for key in case.keys}
    ctx.echo(f"bench: {case.name}: done in {time.monotonic() - began:.0f} s")
    return figures


def failed(document: dict[str, Any]) -> list[str]:
    return [key for key, figure in document["figures"].items() if figure.get("status") == "failed"]
