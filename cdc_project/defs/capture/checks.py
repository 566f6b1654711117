"""Per captured source: the asset check `connector_running` on each of its topic assets, and the one status
call both the check and the sensor judge (core/connect_status.evaluate).

The check is blocking with ERROR severity when nothing is captured (the connector or a task FAILED, the
connector MISSING, Connect not answering, PAUSED/STOPPED/no tasks at two consecutive looks) and WARN while
Connect moves it (UNASSIGNED, RESTARTING; PAUSED/STOPPED/no tasks at the first look). Its evaluations are
reported by the capture-health sensor (sensors.py) every tick; executing the check by hand (the UI's
"Execute") judges the moment with no memory: no grace escalation and no alert, which stay the sensor's.
"""

# No `from __future__ import annotations` here: Dagster reads the check's context annotation at runtime.

from collections.abc import Iterator

import dagster as dg

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.config import SourceConfig
from cdc_project.core.connect_status import CaptureMemo, CaptureVerdict, Severity, evaluate
from cdc_project.core.errors import ConnectError
from cdc_project.defs.ingest.assets import TableAssets

CHECK_NAME = "connector_running"
# Below Dagster's 60 s sensor timeout even with the alert webhook's 5 s: a hung worker is "not reachable".
STATUS_TIMEOUT_SECONDS = 10.0

_SEVERITY: dict[Severity, dg.AssetCheckSeverity] = {
    "ok": dg.AssetCheckSeverity.ERROR,  # not shown: a passing check has no severity to show
    "warn": dg.AssetCheckSeverity.WARN,
    "error": dg.AssetCheckSeverity.ERROR,
}


def connect_sources(sources: list[SourceConfig]) -> list[SourceConfig]:
    """Sources captured through Kafka Connect; the connector is named after the source. Cassandra has the
    standalone agent instead (core/connectors.py)."""
    return [s for s in sources if s.kind != "cassandra"]


def topic_keys(source: SourceConfig) -> list[dg.AssetKey]:
    """The source's topic assets, keyed as the ingest stage keys them (kafka/<topic>)."""
    return [TableAssets(source, table, table.changelog_sink).topic_key for table in source.tables]


def judge(client: ConnectClient, connector: str, previous: CaptureMemo | None) -> CaptureVerdict:
    """The one I/O call (GET /connectors/<name>/status) and the pure verdict on its answer."""
    try:
        health = client.status(connector)
    except (ConnectError, ValueError) as exc:  # ValueError: something answered, but not Connect's JSON
        if isinstance(exc, ConnectError):
            detail = exc.detail.removeprefix("not reachable: ")  # the verdict says "not reachable" itself
        else:
            detail = f"the answer is not Connect's status JSON: {exc}"
        return evaluate(None, previous, connector=connector, connect_url=client.url, error=detail)
    return evaluate(health, previous, connector=connector, connect_url=client.url)


def check_metadata(verdict: CaptureVerdict) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        key: dg.MetadataValue.text(value) for key, value in verdict.metadata.items() if key != "connect_url"
    }
    meta["connect_url"] = dg.MetadataValue.url(verdict.connect_url)
    if verdict.trace is not None:
        meta["trace"] = dg.MetadataValue.md(f"```\n{verdict.trace}\n```")
    return meta


def check_evaluation(key: dg.AssetKey, verdict: CaptureVerdict) -> dg.AssetCheckEvaluation:
    """The verdict as a run-less check evaluation (what a sensor reports)."""
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=verdict.passed,
        severity=_SEVERITY[verdict.severity],
        description=verdict.description,
        metadata=check_metadata(verdict),
        blocking=True,
    )


def check_specs(source: SourceConfig, url: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            blocking=True,
            description=f"Connector {source.name} on Kafka Connect at {url}: fails (ERROR) when it or a task "
            "is FAILED, it is missing, Connect does not answer, or it stays PAUSED/STOPPED/without tasks; "
            "warns while UNASSIGNED or RESTARTING. Reported by capture_health_"
            f"{source.name}_sensor",
        )
        for key in topic_keys(source)
    ]


def build_capture_check(source: SourceConfig, client: ConnectClient) -> dg.AssetChecksDefinition:
    keys = topic_keys(source)

    @dg.multi_asset_check(
        name=f"capture_health_{source.name}",
        specs=check_specs(source, client.url),
        description=f"Asks Kafka Connect for connector {source.name}'s status, now",
    )
    def connector_running(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        verdict = judge(client, source.name, None)
        context.log.info(verdict.description)
        for key in keys:
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=verdict.passed,
                severity=_SEVERITY[verdict.severity],
                description=verdict.description,
                metadata=check_metadata(verdict),
            )

    return connector_running
