"""Reconciliation outputs: Delta tables under `lake.root/_reconcile/` (query them with DuckDB delta_scan).

reports   one row per reconciliation of a table in a sink (core/drift.ReconcileReport)
keys      one row per differing key of a report: kind, differing columns, both sides' row hashes
          (hex of the 60-bit hash; null on the side that lacks the key), whether this run repaired it
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from cdc_project.core.drift import ReconcileReport
from cdc_project.core.reconcile import KeyDiff

_TS = pa.timestamp("us", tz="UTC")
REPORT_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("source", pa.string()),
        ("table", pa.string()),
        ("sink", pa.string()),
        ("started_at", _TS),
        ("finished_at", _TS),
        ("status", pa.string()),
        ("source_rows", pa.int64()),
        ("lake_rows", pa.int64()),
        ("ranges_compared", pa.int64()),
        ("missing", pa.int64()),
        ("extra", pa.int64()),
        ("mismatched", pa.int64()),
        ("in_flight", pa.int64()),
        ("drift_pct", pa.float64()),
        ("rounds", pa.int32()),
        ("watermark_lsn", pa.string()),
        ("watermark_offsets", pa.string()),
        ("repaired", pa.int64()),
        ("repair_of", pa.string()),
        ("columns_not_compared", pa.list_(pa.string())),
        ("error", pa.string()),
    ]
)
KEY_SCHEMA = pa.schema(
    [
        ("job_id", pa.string()),
        ("source", pa.string()),
        ("table", pa.string()),
        ("sink", pa.string()),
        ("key", pa.string()),
        ("kind", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("source_hash", pa.string()),
        ("lake_hash", pa.string()),
        ("rows", pa.int64()),
        ("repaired", pa.bool_()),
    ]
)


def _uri(lake_root: str, name: str) -> str:
    return f"{lake_root.rstrip('/')}/_reconcile/{name}"


def write_report(
    lake_root: str, report: ReconcileReport, storage_options: dict[str, str] | None = None
) -> None:
    row = asdict(report)
    row["watermark_offsets"] = json.dumps({str(p): o for p, o in sorted(report.watermark_offsets.items())})
    row["drift_pct"] = report.drift_pct
    row["columns_not_compared"] = list(report.columns_not_compared)
    table = pa.Table.from_pylist([row], schema=REPORT_SCHEMA)
    write_deltalake(_uri(lake_root, "reports"), table, mode="append", storage_options=storage_options)


def key_json(diff: KeyDiff, key_names: Sequence[str]) -> dict[str, object]:
    """A differing key as people read it: its values by column (keyless: the row hash)."""
    if not key_names:
        return {"row_hash": diff.key[0]}
    return dict(zip(key_names, diff.values, strict=True))


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:015x}"


def write_keys(
    lake_root: str,
    report: ReconcileReport,
    key_names: Sequence[str],
    diffs: Sequence[KeyDiff],
    repaired: Collection[tuple[str | None, ...]] = (),
    storage_options: dict[str, str] | None = None,
) -> None:
    if not diffs:
        return
    rows = [
        {
            "job_id": report.job_id,
            "source": report.source,
            "table": report.table,
            "sink": report.sink,
            "key": json.dumps(key_json(d, key_names), default=str),
            "kind": d.kind,
            "columns": list(d.columns),
            "source_hash": _hex(d.source_hash),
            "lake_hash": _hex(d.lake_hash),
            "rows": d.rows,
            "repaired": d.key in repaired,
        }
        for d in diffs
    ]
    table = pa.Table.from_pylist(rows, schema=KEY_SCHEMA)
    write_deltalake(_uri(lake_root, "keys"), table, mode="append", storage_options=storage_options)


def read_table(
    lake_root: str, name: str, job_id: str | None = None, storage_options: dict[str, str] | None = None
) -> pa.Table | None:
    """`reports` or `keys`, optionally one job's rows."""
    uri = _uri(lake_root, name)
    if not DeltaTable.is_deltatable(uri, storage_options):
        return None
    rows = DeltaTable(uri, storage_options=storage_options).to_pyarrow_table()
    return rows if job_id is None else rows.filter(pc.equal(rows["job_id"], job_id))
