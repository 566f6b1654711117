"""One capture-health sensor per connector: a pure decision (core/connect_status.evaluate) around one
status call, reporting the `connector_running` check of every topic of the source and alerting on change.

The cursor holds the last verdict (CaptureMemo), so an unchanged failure alerts once, not every tick, and
the first RUNNING tick after it alerts "recovered". The tick itself never fails on a connector's or
Connect's state: the check evaluation carries it, and the skip reason repeats it in the tick history.
"""

from __future__ import annotations

import dagster as dg

from cdc_project.adapters.connect_rest import ConnectClient
from cdc_project.alerts import Alert, AlertSeverity, raise_alert
from cdc_project.config import SourceConfig
from cdc_project.core.connect_status import CaptureMemo, CaptureVerdict
from cdc_project.defs.capture.checks import check_evaluation, judge, topic_keys

# No config key fits (ingest.sensor_interval_seconds paces the topics, every 5 s): a connector's state
# changes seldom, and the PAUSED grace is one interval long.
CAPTURE_SENSOR_INTERVAL_SECONDS = 30


def capture_alert(verdict: CaptureVerdict) -> Alert:
    severity: AlertSeverity = "info" if verdict.alert == "recovered" else "critical"
    message = (
        f"connector {verdict.connector} recovered: {verdict.description}"
        if verdict.alert == "recovered"
        else verdict.description
    )
    details: dict[str, object] = {"transition": verdict.alert, **verdict.metadata}
    if verdict.trace is not None:
        details["trace"] = verdict.trace
    return Alert("capture", severity, verdict.connector, message, details)


def build_capture_sensor(source: SourceConfig, client: ConnectClient) -> dg.SensorDefinition:
    keys = topic_keys(source)

    @dg.sensor(
        name=f"capture_health_{source.name}_sensor",
        minimum_interval_seconds=CAPTURE_SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Asks Kafka Connect at {client.url} for connector {source.name}'s status; reports the "
        "connector_running check of its topics and alerts when it fails or recovers",
    )
    def capture_health(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        verdict = judge(client, source.name, CaptureMemo.decode(context.cursor))
        if verdict.alert is not None:
            delivery = raise_alert(capture_alert(verdict))
            context.log.warning(f"{verdict.connector}: {verdict.alert} alert sent ({delivery})")
        return dg.SensorResult(
            asset_events=[check_evaluation(key, verdict) for key in keys],
            cursor=verdict.memo.encode(),
            skip_reason=verdict.description,
        )

    return capture_health
