"""The report of one reconciliation of one table in one sink, and its verdict under the table's thresholds.

drift_pct = differing rows / max(source rows, lake rows) * 100, where differing rows are the keys found
missing, extra or mismatched (keyless tables: the rows whose multiplicity differs). Keys still changing
after every recheck round (`in_flight`) are not drift: the source changed after the lake's watermark.

Verdict: `critical` when drift_pct >= critical_drift_pct (and something differs), `warn` when
drift_pct > warn_drift_pct, else `ok`. The defaults (warn above 0, critical at 1%) make any drift a
warning and 1% of the table a blocking failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Severity = Literal["ok", "warn", "critical"]
Status = Literal["in_sync", "drift", "repaired", "error"]


@dataclass(frozen=True)
class DriftThresholds:
    warn_pct: float = 0.0
    critical_pct: float = 1.0


@dataclass(frozen=True)
class ReconcileReport:
    job_id: str
    source: str
    table: str
    sink: str
    started_at: datetime
    finished_at: datetime
    status: Status
    source_rows: int
    lake_rows: int
    ranges_compared: int
    missing: int
    extra: int
    mismatched: int
    in_flight: int  # keys still changing after the last recheck round: not drift
    rounds: int  # recheck rounds run (0: no candidate keys)
    watermark_lsn: str | None  # the source position the last round's sink caught up to
    watermark_offsets: dict[int, int]  # the sink's committed offsets after that catch-up
    repaired: int = 0  # keys this run re-synced (their drift is still counted above)
    repair_of: str | None = None  # the job whose repair this run re-checks
    columns_not_compared: tuple[str, ...] = ()  # source columns the lake lacks or the config excludes
    error: str | None = None

    @property
    def differing(self) -> int:
        return self.missing + self.extra + self.mismatched

    @property
    def drift_pct(self) -> float:
        base = max(self.source_rows, self.lake_rows)
        return 0.0 if base == 0 else round(100.0 * self.differing / base, 6)


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    drift_pct: float
    message: str

    @property
    def passed(self) -> bool:
        return self.severity == "ok"


def judge(report: ReconcileReport, thresholds: DriftThresholds) -> Verdict:
    pct = report.drift_pct
    where = f"{report.source}.{report.table}@{report.sink}"
    counts = f"missing={report.missing} extra={report.extra} mismatched={report.mismatched}"
    if report.differing and pct >= thresholds.critical_pct:
        return Verdict("critical", pct, f"{where}: drift {pct:.4f}% >= {thresholds.critical_pct}% ({counts})")
    if pct > thresholds.warn_pct:
        return Verdict("warn", pct, f"{where}: drift {pct:.4f}% > {thresholds.warn_pct}% ({counts})")
    return Verdict(
        "ok", pct, f"{where}: in sync ({report.source_rows} source rows, {report.lake_rows} lake rows)"
    )
