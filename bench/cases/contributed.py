"""Slots for benchmark functions other parts of the project deliver, measured like every other figure.

Each slot names a function `fn(rows: int, table_rows: int)` that builds its own input (seeded), times one
apply of `rows` changes into a table of `table_rows` rows and returns the seconds it took (a float, or a
mapping with a "seconds" entry). The suite calls it `repetitions` times and reports events/s. While the
function does not exist (its module is not merged yet) the figure is "not available".

To enable one, point its entry at the module that defines the function; the needs say which services the
suite starts first (PostgreSQL and the broker for anything that writes to or reads from PostgreSQL).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.context import Context
from bench.registry import Figure, Figures, Needs, NotAvailable, case, rate
from bench.sizes import Sizes


@dataclass(frozen=True)
class Slot:
    key: str
    target: str  # "module:function"
    needs: Needs
    unit: str  # the first argument per second
    args: Callable[[Sizes], tuple[int, int]]
    what: str


SLOTS: tuple[Slot, ...] = (
    Slot("apply.iceberg", "cdc_project.adapters.iceberg_sink:bench_iceberg_apply", "nothing", "events/s",
         lambda s: (s.large_batch, s.table_rows), "Iceberg sink apply of a large batch of decoded rows"),
    Slot("apply.postgres", "cdc_project.adapters.postgres_sink:bench_postgres_apply", "broker", "events/s",
         lambda s: (s.large_batch, s.table_rows), "PostgreSQL sink apply of a large batch of decoded rows"),
    Slot("reconcile", "cdc_project.reconcile:bench_reconcile", "broker", "rows/s",
         lambda s: (s.table_rows, max(1, s.table_rows // 100)), "reconcile the base table with 1% keys differing"),
)  # fmt: skip


def _load(target: str) -> Callable[..., Any] | NotAvailable:
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name, None)
    except ImportError as exc:
        return NotAvailable(f"{target} is not merged yet ({exc})")
    return fn if callable(fn) else NotAvailable(f"{module} has no {name}() yet")


def _seconds(result: object) -> float:
    if isinstance(result, Mapping):
        return float(result["seconds"])
    return float(result)  # type: ignore[arg-type]


def _register(slot: Slot) -> None:
    @case(slot.key, needs=slot.needs, keys=(slot.key,))
    def run(ctx: Context) -> Figures:
        fn = _load(slot.target)
        if isinstance(fn, NotAvailable):
            return {slot.key: fn}
        args = slot.args(ctx.sizes)
        samples = tuple(rate(args[0], _seconds(fn(*args))) for _ in range(ctx.sizes.repetitions))
        return {slot.key: Figure(slot.unit, samples, {"args": list(args)})}

    run.__doc__ = slot.what


for _slot in SLOTS:
    _register(_slot)
