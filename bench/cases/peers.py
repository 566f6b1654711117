"""peers: what a Dagster user would otherwise pick, fed the same decoded events, events/s.

- `peer.dlt_delta`: dlt's filesystem destination with `table_format="delta"`, `write_disposition` merge
  (strategy upsert) on primary key `id`, deletes through a `hard_delete` column. Each timed run is one
  `pipeline.run` (extract, normalize, load): dlt's whole path from in-memory Arrow rows to a Delta commit.
- `peer.pyiceberg_upsert`: pyiceberg's own `Table.upsert(rows, join_cols=["id"])` for the inserts and
  updates, preceded by `Table.delete(In("id", ...))` for the deletes (upsert cannot delete); both timed.
  SQLite SQL catalog and a local warehouse, as the project's Iceberg sink defaults to.

Both start from the base rows (seeded untimed) and take the timed batches in the same order as the ceiling
and the project, so their k-th runs see the same table state. The report divides the project's ingest
figure by these (`ratio_project_to_peer`).
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from bench.context import LABELS, BatchLabel, Context
from bench.registry import Figure, Figures, case, rate, timed
from bench.workload import data_columns, is_delete

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable

DLT_KEYS = tuple(f"peer.dlt_delta.{label}" for label in LABELS)
PYICEBERG_KEYS = tuple(f"peer.pyiceberg_upsert.{label}" for label in LABELS)


def _figures(
    ctx: Context, family: str, samples: dict[BatchLabel, list[float]], info: dict[str, object]
) -> Figures:
    return {
        f"{family}.{label}": Figure(
            "events/s",
            tuple(samples[label]),
            {"batch_events": ctx.batch_size(label), "table_rows": ctx.sizes.table_rows, **info},
        )
        for label in LABELS
    }


def _with_delete_flag(rows: pa.Table) -> pa.Table:
    return data_columns(rows).append_column("deleted", is_delete(rows))


@case("peer.dlt_delta", needs="nothing", keys=DLT_KEYS)
def dlt_case(ctx: Context) -> Figures:
    """dlt merge (upsert, hard_delete column) into a Delta table."""
    import dlt

    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    logging.getLogger("dlt").setLevel(logging.ERROR)
    root = ctx.scratch("dlt")
    pipeline = dlt.pipeline(
        "bench_dlt",
        pipelines_dir=str(root / "pipelines"),
        destination=dlt.destinations.filesystem(f"file://{root / 'lake'}"),
        dataset_name="bench",
    )
    hints: dict[str, Any] = {
        "table_name": "t",
        "write_disposition": {"disposition": "merge", "strategy": "upsert"},
        "primary_key": "id",
        "table_format": "delta",
        "columns": {"deleted": {"hard_delete": True}},
    }
    pipeline.run(_with_delete_flag(ctx.workload.base_rows), **hints)
    samples: dict[BatchLabel, list[float]] = {label: [] for label in LABELS}
    for label, batch in ctx.batches():
        rows = _with_delete_flag(ctx.decoded(batch))
        samples[label].append(rate(batch.size, timed(partial(pipeline.run, rows, **hints))))
    return _figures(ctx, "peer.dlt_delta", samples, {"dlt": dlt.__version__})


def _upsert(table: IcebergTable, deleted: list[int], upserts: pa.Table) -> None:
    """What a pyiceberg user writes for a CDC batch: deletes by key, then upsert on the key."""
    from pyiceberg.expressions import In

    if deleted:
        table.delete(In("id", deleted))  # type: ignore[call-arg,arg-type]  # pydantic model, own __new__
    table.upsert(upserts, join_cols=["id"])


@case("peer.pyiceberg_upsert", needs="nothing", keys=PYICEBERG_KEYS)
def pyiceberg_case(ctx: Context) -> Figures:
    """pyiceberg Table.delete + Table.upsert into an Iceberg table."""
    import pyiceberg
    from pyiceberg.catalog.sql import SqlCatalog

    root = ctx.scratch("pyiceberg")
    catalog = SqlCatalog(
        "bench", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=f"file://{root / 'warehouse'}"
    )
    catalog.create_namespace("bench")
    base = data_columns(ctx.workload.base_rows)
    table = catalog.create_table("bench.t", schema=base.schema)
    table.append(base)
    samples: dict[BatchLabel, list[float]] = {label: [] for label in LABELS}
    for label, batch in ctx.batches():
        rows = ctx.decoded(batch)
        deleted = rows.filter(is_delete(rows))["id"].to_pylist()
        upserts = data_columns(rows.filter(pc.invert(is_delete(rows))))
        samples[label].append(rate(batch.size, timed(partial(_upsert, table, deleted, upserts))))
    return _figures(ctx, "peer.pyiceberg_upsert", samples, {"pyiceberg": pyiceberg.__version__})
