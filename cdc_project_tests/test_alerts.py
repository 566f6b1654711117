"""Scope: the alert path (cdc_project/alerts.py): every alert is a structured JSON log line; with
CDC_ALERT_WEBHOOK_URL set it is also POSTed to a real local HTTP server; a failing webhook is logged, never
raised."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cdc_project.alerts import WEBHOOK_ENV, Alert, raise_alert


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"path": self.path, "type": self.headers["Content-Type"], **json.loads(body)}
        )
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture()
def webhook() -> Iterator[tuple[str, type[_Receiver]]]:
    class Receiver(_Receiver):
        received: list[dict[str, object]] = []

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/cdc", Receiver
    finally:
        server.shutdown()
        server.server_close()


ALERT = Alert("reconcile", "critical", "shop.public.customers@delta", "drift 2% >= 1%", {"missing": 3})


def test_alert_is_logged_as_json_without_a_webhook(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="cdc.alerts"):
        delivery = raise_alert(ALERT)
    assert (delivery.logged, delivery.webhook_status) == (True, None)
    line = json.loads(caplog.records[-1].getMessage())
    assert (
        line["event"] == "cdc.alert" and line["severity"] == "critical" and line["details"] == {"missing": 3}
    )


def test_alert_is_posted_to_the_webhook(
    monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, type[_Receiver]]
) -> None:
    url, receiver = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    delivery = raise_alert(ALERT)
    assert delivery.webhook_status == 200
    [got] = receiver.received
    assert got["path"] == "/hooks/cdc" and got["type"] == "application/json"
    assert got["subject"] == "shop.public.customers@delta" and got["kind"] == "reconcile"


@pytest.mark.parametrize("status", [500, None])  # the receiver fails; nothing listens at all
def test_alert_survives_a_failing_webhook(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    webhook: tuple[str, type[_Receiver]],
    status: int | None,
) -> None:
    url, receiver = webhook
    receiver.status = status or 200
    monkeypatch.setenv(WEBHOOK_ENV, url if status else "http://127.0.0.1:9/unreachable")
    with caplog.at_level(logging.WARNING, logger="cdc.alerts"):
        delivery = raise_alert(ALERT, timeout=2)
    assert delivery.logged and delivery.webhook_error
    assert delivery.webhook_status == status
    assert any("webhook_failed" in r.getMessage() for r in caplog.records)
