"""The results document (bench/results/*.json) and its Markdown table: figures, ratios, targets, machine.

Ratios are computed here, from figures measured in the same run: ingest / ceiling for each sink and batch
size, project / peer for each peer. A target that is missed carries the explanation its figure holds (the
ingest stage breakdown, the decode profile, the lag's run statistics).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from bench.registry import Figure, Result
from bench.sizes import Sizes

LABELS = ("small_batch", "large_batch")
PEERS = {"peer.dlt_delta": "ingest.delta", "peer.pyiceberg_upsert": "ingest.iceberg"}
PACKAGES = ("deltalake", "pyarrow", "duckdb", "dagster", "dlt", "pyiceberg", "orjson", "confluent-kafka")
FAMILY_ORDER = ("decode", "ceiling", "ingest", "peer", "apply", "reconcile", "lag", "memory")


def _machine() -> dict[str, Any]:
    model, mem_kib = None, None
    try:
        model = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")), None)  # fmt: skip
        mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                           if line.startswith("MemTotal")))  # fmt: skip
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _ratio(numerator: Result | None, denominator: Result | None) -> float | None:
    if isinstance(numerator, Figure) and isinstance(denominator, Figure) and denominator.median > 0:
        return round(numerator.median / denominator.median, 3)
    return None


def _ratios(results: Mapping[str, Result], figures: dict[str, dict[str, Any]]) -> None:
    for key in list(figures):
        family, _, label = key.rpartition(".")
        if key.startswith("ingest.") and isinstance(results[key], Figure):
            figures[key]["ratio_to_ceiling"] = _ratio(
                results[key], results.get(f"ceiling.delta_merge.{label}")
            )
        if family in PEERS and isinstance(results[key], Figure):
            figures[key]["ratio_project_to_peer"] = _ratio(
                results.get(f"{PEERS[family]}.{label}"), results[key]
            )


def _stages_text(figure: Mapping[str, Any]) -> str:
    stages: Mapping[str, float] = figure.get("stages_of_median_run", {})
    total = sum(v for k, v in stages.items() if "." not in k) or 1.0
    ranked = sorted(((k, v) for k, v in stages.items() if not k.startswith("missing")), key=lambda kv: -kv[1])
    parts = [f"{k} {v:.2f}s ({v / total:.0%})" for k, v in ranked[:7] if v > 0]
    return "time of the median run by stage (apply.* are inside apply): " + ", ".join(parts)


def _profile_text(figure: Mapping[str, Any]) -> str:
    profile: Mapping[str, float] = figure.get("profile", {})
    return "own time by function (cProfile): " + ", ".join(
        f"{k} {v:.0%}" for k, v in list(profile.items())[:5]
    )


def _lag_text(figure: Mapping[str, Any]) -> str:
    return (
        f"table written to {figure.get('table_sinks')} (a run per sink per batch); "
        f"capture (commit -> broker) {figure.get('capture_seconds_p50')} s median, "
        f"{figure.get('capture_seconds_max')} s max of {figure.get('capture_samples')} sampled changes; "
        f"{figure.get('runs', 0)} runs in the window; a change waits for the sensor's next tick (every "
        f"{figure.get('sensor_interval_seconds')} s), then {figure.get('launch_delay_seconds_median')} s (median) "
        f"from run request to run start, then the run itself ({figure.get('run_seconds_median')} s median, "
        f"{figure.get('run_seconds_max')} s max); achieved {figure.get('achieved_rate')} changes/s; CPU cores "
        f"used by part: {figure.get('cpu_cores_by_part')}; load average {figure.get('load_average_1m')}"
    )


def _memory_text(figure: Mapping[str, Any]) -> str:
    growth: Mapping[str, float] = figure.get("growth_by_stage", {})
    stages = ", ".join(f"{stage} +{mib:.0f}" for stage, mib in sorted(growth.items(), key=lambda kv: -kv[1]))
    return (
        f"{figure.get('peak_rss')} MiB at {figure.get('batch_events')} events of {figure.get('bytes_per_event')} "
        f"bytes into {figure.get('table_rows')} rows; {figure.get('after_imports')} MiB after imports, then "
        f"MiB added to the peak by stage (apply.* inside apply): {stages}"
    )


def _reconcile_text(figure: Mapping[str, Any]) -> str:
    return (
        f"{figure.get('table_rows')} rows, {figure.get('ranges_compared')} key ranges compared, "
        f"{figure.get('keys_found')} keys found"
    )


@dataclass(frozen=True)
class Target:
    name: str
    key: str
    field: str
    op: Literal[">=", "<="]
    bound: float
    explain: Callable[[Mapping[str, Any]], str]

    def evaluate(self, figures: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        figure = figures.get(self.key, {})
        measured = figure.get(self.field)
        entry: dict[str, Any] = {
            "target": self.name,
            "figure": self.key,
            "field": self.field,
            "bound": self.bound,
        }
        if figure.get("status") or self.key not in figures:
            return {
                **entry,
                "measured": None,
                "met": None,
                "why": figure.get("reason") or figure.get("error"),
            }
        if measured is None and not figure.get("not_visible"):
            return {**entry, "measured": None, "met": None, "why": "not measured in this run"}
        if measured is None:  # a lag percentile of changes that never became visible: infinitely late
            met = False
        else:
            met = measured >= self.bound if self.op == ">=" else measured <= self.bound
        out = {**entry, "measured": measured, "met": met}
        if not met:
            out["explanation"] = self.explain(figure)
        return out


TARGETS: tuple[Target, ...] = (
    Target("ingest into Delta >= 0.6x the ceiling", "ingest.delta.large_batch", "ratio_to_ceiling", ">=", 0.6,
           _stages_text),
    Target("ingest into Iceberg >= 50,000 events/s", "ingest.iceberg.large_batch", "median", ">=", 50_000,
           _stages_text),
    Target("ingest into PostgreSQL >= 50,000 events/s", "ingest.postgres.large_batch", "median", ">=", 50_000,
           _stages_text),
    Target("lag p95 <= 15 s at the high rate", "lag.high_rate", "p95", "<=", 15.0, _lag_text),
    Target("run process peak RSS <= 1 GiB", "memory.run_process", "peak_rss", "<=", 1024.0, _memory_text),
    Target("reconcile a 1M-row table in sync <= 30 s", "reconcile.in_sync", "median", "<=", 30.0, _reconcile_text),
    Target("reconcile 1M rows with 100 keys differing <= 60 s", "reconcile.differing", "median", "<=", 60.0,
           _reconcile_text),
    Target("decode >= 200,000 events/s (schemas on)", "decode.schemas_on", "median", ">=", 200_000, _profile_text),
    Target("decode >= 200,000 events/s (schemas off)", "decode.schemas_off", "median", ">=", 200_000,
           _profile_text),
)  # fmt: skip


def _order(key: str) -> tuple[int, str]:
    family = key.split(".")[0]
    return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER), key)


def build(results: Mapping[str, Result], sizes: Sizes, *, started: datetime, seconds: float,
          load: tuple[float, float]) -> dict[str, Any]:  # fmt: skip
    figures = {key: results[key].to_json() for key in sorted(results, key=_order)}
    _ratios(results, figures)
    return {
        "meta": {
            "date": started.astimezone(UTC).isoformat(timespec="seconds"),
            "mode": sizes.mode,
            "sizes": sizes.to_json(),
            "seconds": round(seconds),
            "load_average_1m": {"before": round(load[0], 2), "after": round(load[1], 2)},
            "machine": _machine(),
            "versions": _versions(),
            "commit": _commit(),
        },
        "figures": figures,
        "targets": [target.evaluate(figures) for target in TARGETS],
    }


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 100:
        return f"{value:,.2f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def _row(key: str, figure: Mapping[str, Any]) -> str:
    if figure.get("status"):
        return f"| {key} | {figure['status']} | | | | {figure.get('reason') or figure.get('error')} |"
    unit = figure["unit"]
    if "median" in figure:
        notes = [f"x{figure[k]} {k.replace('_', ' ')}" for k in ("ratio_to_ceiling", "ratio_project_to_peer")
                 if figure.get(k) is not None]  # fmt: skip
        size = f"{figure['batch_events']:,} events" if "batch_events" in figure else ""
        cells = [_number(figure["median"]), _number(figure["min"]), _number(figure["max"])]
        return f"| {key} | {' | '.join(cells)} | {unit} | {'; '.join(filter(None, [size, *notes]))} |"
    if "p95" in figure:
        cells = [
            f"p50 {_number(figure['p50'])}",
            f"p95 {_number(figure['p95'])}",
            f"max {_number(figure['max'])}",
        ]
        note = f"{figure.get('rate')} changes/s for {figure.get('seconds')} s, {figure.get('runs')} runs"
        return f"| {key} | {' | '.join(cells)} | {unit} | {note} |"
    return f"| {key} | {_number(figure.get('peak_rss'))} | | | {unit} peak RSS | |"


def markdown(document: Mapping[str, Any]) -> str:
    meta = document["meta"]
    machine = meta["machine"]
    lines = [
        (
            f"cdc-lakehouse bench, {meta['mode']} mode, {meta['date']}, commit {meta['commit']}, "
            f"{machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
            f"load {meta['load_average_1m']['before']} -> {meta['load_average_1m']['after']}, {meta['seconds']} s"
        ),
        "",
        "| figure | median | min | max | unit | notes |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *(_row(key, figure) for key, figure in document["figures"].items()),
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for target in document["targets"]:
        met = {True: "yes", False: "NO", None: "n/a"}[target["met"]]
        lines.append(f"| {target['target']} | {_number(target['measured'])} | {met} |")
    gaps = [t for t in document["targets"] if t["met"] is False]
    if gaps:
        lines += ["", "Gaps:", *(f"- {t['target']}: {t['explanation']}" for t in gaps)]
    return "\n".join(lines)
