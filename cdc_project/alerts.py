"""The one alert path of the pipeline (reconciliation drift and failures, a capture connector failing and
recovering; data-quality checks use it too): a structured JSON log line on the `cdc.alerts` logger, and,
when `CDC_ALERT_WEBHOOK_URL` is set, the same JSON POSTed to that URL.

The webhook URL is read from the environment at each alert (it often embeds a token, so it is a secret and
never a config value). A webhook that fails or times out is logged, never raised: an alert must not turn a
finished reconciliation into a failed run, nor hide the finding it reports.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

WEBHOOK_ENV = "CDC_ALERT_WEBHOOK_URL"
# info: the all-clear after an alerted failure (a capture connector RUNNING again): a receiver closes it.
AlertSeverity = Literal["info", "warn", "critical", "error"]

log = logging.getLogger("cdc.alerts")


@dataclass(frozen=True)
class Alert:
    kind: str  # what raised it, e.g. "reconcile"
    severity: AlertSeverity
    subject: str  # e.g. shop.public.customers@delta
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_json(self) -> str:
        return json.dumps({"event": "cdc.alert", **asdict(self)}, default=str, sort_keys=True)


@dataclass(frozen=True)
class Delivery:
    logged: bool
    webhook_status: int | None  # HTTP status, None when no webhook is configured or it was unreachable
    webhook_error: str | None = None


def raise_alert(alert: Alert, timeout: float = 5.0) -> Delivery:
    body = alert.to_json()
    log.warning(body)
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return Delivery(True, None)
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Delivery(True, int(response.status))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.error(
            json.dumps({"event": "cdc.alert.webhook_failed", "subject": alert.subject, "error": str(exc)})
        )
        status = exc.code if isinstance(exc, urllib.error.HTTPError) else None
        return Delivery(True, status, str(exc))
