"""`cdc reconcile --table <t> --sink <s> [--repair] [--json]`: reconcile one table in one sink now.

Exit status: 0 in sync (after a repair: the re-check found no drift), 1 drift found and not repaired,
2 the reconciliation could not run (bad table or sink name, a service down, the sink not catching up).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from cdc_project.adapters.reconcile_tables import key_json
from cdc_project.config import PipelineConfig, SourceConfig, TableConfig
from cdc_project.core.errors import ConfigError
from cdc_project.reconcile_job import ReconcileOutcome, reconcile

SHOWN_KEYS = 20


def add_parser(sub: Any, handler: Any) -> None:
    parser = sub.add_parser("reconcile", help="compare a table with one of its sinks; exit 1 on drift")
    parser.add_argument("--table", required=True, help="schema.table, or source.schema.table")
    parser.add_argument("--sink", required=True, choices=["delta", "iceberg", "postgres"])
    parser.add_argument("--repair", action="store_true", help="re-sync the differing keys, then re-check")
    parser.add_argument("--json", action="store_true", help="print the report and keys as JSON")
    parser.set_defaults(func=handler)


def find_table(config: PipelineConfig, name: str) -> tuple[SourceConfig, TableConfig]:
    matches = [(s, t) for s, t in config.tables() if name in (t.name, f"{s.name}.{t.name}")]
    if len(matches) != 1:
        valid = [f"{s.name}.{t.name}" for s, t in config.tables()]
        why = (
            "is not a captured table" if not matches else "names tables of several sources; prefix the source"
        )
        raise ConfigError("--table", f"{name!r} {why}", valid)
    return matches[0]


def render(outcome: ReconcileOutcome, as_json: bool) -> str:
    report = outcome.report
    keys = [
        {"key": key_json(d, outcome.key_names), "kind": d.kind, "columns": list(d.columns), "rows": d.rows}
        for d in outcome.diffs
    ]
    if as_json:
        body: dict[str, Any] = {
            **asdict(report),
            "drift_pct": report.drift_pct,
            "verdict": outcome.verdict.severity,
            "keys": keys,
            "repaired_report": asdict(outcome.repaired) if outcome.repaired else None,
        }
        return json.dumps(body, default=str, indent=2)
    lines = [
        f"{report.source}.{report.table}@{report.sink}: {report.status} (job {report.job_id})",
        (
            f"  rows: source {report.source_rows}, lake {report.lake_rows}; "
            f"ranges compared {report.ranges_compared}"
        ),
        (
            f"  differing: missing {report.missing}, extra {report.extra}, mismatched {report.mismatched} "
            f"({report.drift_pct:.4f}%, {outcome.verdict.severity}); in flight {report.in_flight}"
        ),
        f"  watermark: source {report.watermark_lsn}, sink offsets {report.watermark_offsets}",
    ]
    if outcome.repaired is not None:
        lines.append(
            f"  repaired {outcome.repaired.repaired} keys of job {outcome.repaired.job_id}; re-checked above"
        )
    if report.columns_not_compared:
        lines.append(f"  not compared: {list(report.columns_not_compared)}")
    lines += [f"  {k['kind']:10s} {k['key']} {k['columns'] or ''}" for k in keys[:SHOWN_KEYS]]
    if len(keys) > SHOWN_KEYS:
        lines.append(f"  ... {len(keys) - SHOWN_KEYS} more in lake.root/_reconcile/keys")
    return "\n".join(lines)


def run(config: PipelineConfig, args: argparse.Namespace) -> int:
    try:
        source, table = find_table(config, args.table)
        outcome = reconcile(config, source, table, args.sink, repair=args.repair)
    except Exception as exc:
        print(f"cdc reconcile: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(render(outcome, args.json))
    return 0 if outcome.report.differing == 0 else 1
