"""reconcile: source-vs-lake reconciliation of the base-sized table (cdc_project/reconcile_job.reconcile),
seconds per run, in sync and with keys changed in the lake directly.

The table is loaded once into the stack's PostgreSQL and into the Delta sink (bench/reconcile_table.py);
the in-sync runs come first, then `differing` keys are deleted, altered and added in the Delta table and the
same number of runs finds them. Reconciliation without repair leaves the drift in place, so every run of a
figure compares the same two tables. The issue's targets at 1M rows: 30 s in sync, 60 s with 100 keys.
"""

from __future__ import annotations

from bench.context import Context
from bench.reconcile_table import Timed, time_reconcile
from bench.registry import Figure, Figures, case


def differing_keys(table_rows: int) -> int:
    """100 keys at the full and quick sizes (the issue's figure), fewer on a tiny table."""
    return min(100, max(3, table_rows // 100))


def _figure(timed: Timed, rows: int, **info: int) -> Figure:
    return Figure("seconds", timed.seconds,
                  {"table_rows": rows, "keys_found": timed.found, "ranges_compared": timed.ranges_compared, **info})  # fmt: skip


@case("reconcile", needs="broker", keys=("reconcile.in_sync", "reconcile.differing"))
def reconcile_case(ctx: Context) -> Figures:
    """Reconcile the base-sized table in sync, then with keys changed in the lake."""
    rows, differing = ctx.sizes.table_rows, differing_keys(ctx.sizes.table_rows)
    times = time_reconcile(
        ctx.stack.settings, str(ctx.scratch("reconcile")), rows, differing, ctx.sizes.repetitions
    )
    if times.in_sync.found or times.differing.found != differing:
        raise RuntimeError(
            f"bench: reconcile found {times.in_sync.found} keys in sync and {times.differing.found} of "
            f"{differing} changed keys"
        )
    return {
        "reconcile.in_sync": _figure(times.in_sync, rows),
        "reconcile.differing": _figure(times.differing, rows, keys_changed=differing),
    }
