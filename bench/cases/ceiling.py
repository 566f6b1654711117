"""ceiling: raw delta-rs MERGE of already-decoded batches into the base table, rows/s.

What the hardware and delta-rs can do at best for this workload: no broker, no decoding, no fold, no
order guard, no changelog, no tombstones, no offsets. One MERGE per batch on the key: delete when the event
is a delete, update every column when matched, insert when not matched and not a delete. The table is the
base table written once (`write_deltalake`); each timed run opens it and merges the next batch, so the
k-th run here sees the same table state as the k-th run of `ingest.delta`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from bench.context import LABELS, Context
from bench.registry import Figure, Figures, case, rate, timed
from cdc_project.core.delta_types import to_delta_compatible

KEYS = tuple(f"ceiling.delta_merge.{label}" for label in LABELS)


def raw_merge(path: Path, rows: pa.Table) -> dict[str, int]:
    merger = DeltaTable(str(path)).merge(rows, "t.id = s.id", source_alias="s", target_alias="t")
    merger = merger.when_matched_delete(predicate="s._cdc_op = 'd'").when_matched_update_all()
    metrics: dict[str, int] = merger.when_not_matched_insert_all(predicate="s._cdc_op != 'd'").execute()
    return metrics


@case("ceiling", needs="nothing", keys=KEYS)
def ceiling_case(ctx: Context) -> Figures:
    """MERGE each timed batch into a plain Delta table of the base rows."""
    path = ctx.scratch("ceiling") / "t"
    write_deltalake(str(path), to_delta_compatible(ctx.workload.base_rows))
    samples: dict[str, list[float]] = {label: [] for label in LABELS}
    for label, batch in ctx.batches():
        rows = to_delta_compatible(ctx.decoded(batch))
        samples[label].append(rate(batch.size, timed(partial(raw_merge, path, rows))))
    return {
        f"ceiling.delta_merge.{label}": Figure(
            "rows/s",
            tuple(samples[label]),
            {"batch_events": ctx.batch_size(label), "table_rows": ctx.sizes.table_rows},
        )
        for label in LABELS
    }
