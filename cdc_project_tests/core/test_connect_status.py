"""Scope: what a Kafka Connect status answer means for capture (core/connect_status.py): the status JSON read
into ConnectorHealth; the verdict of the `connector_running` check for each state (RUNNING, a FAILED task
with its trace, a FAILED connector, PAUSED, STOPPED, UNASSIGNED, RESTARTING, MISSING, no tasks, Connect
unreachable); the one tick of grace for PAUSED/STOPPED/no tasks; alerts on change only (a failure alerts
once, an unchanged failure does not, a recovery alerts once "recovered"); the sensor's cursor round trip."""

from __future__ import annotations

from typing import Any

import pytest

from cdc_project.core.connect_status import (
    TRACE_LINES,
    CaptureMemo,
    ConnectorHealth,
    evaluate,
    health_from_status,
    trace_excerpt,
)

URL = "http://127.0.0.1:28083"
WORKER = "127.0.0.1:28083"
TRACE = (
    "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. "
    "This connector will be stopped.\n"
    + "".join(f"\tat io.debezium.Frame{i}.run(Frame{i}.java:{i})\n" for i in range(30))
    + "Caused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:1 refused.\n"
    + "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:352)\n"
)


def _status(connector: str = "RUNNING", *tasks: str, trace: str | None = None, connector_trace: str | None = None) -> Any:
    """A `GET /connectors/shop/status` answer; a FAILED task carries `trace`."""
    return {
        "name": "shop",
        "connector": {"state": connector, "worker_id": WORKER, **({"trace": connector_trace} if connector_trace else {})},
        "tasks": [
            {"id": i, "state": s, "worker_id": WORKER, **({"trace": trace} if s == "FAILED" and trace else {})}
            for i, s in enumerate(tasks)
        ],
        "type": "source",
    }


def _health(payload: Any) -> ConnectorHealth | None:
    if payload == "missing":
        return ConnectorHealth.missing("shop")
    return None if payload is None else health_from_status(payload)


def _evaluate(payload: Any, previous: CaptureMemo | None = None) -> Any:
    return evaluate(
        _health(payload), previous, connector="shop", connect_url=URL,
        error="<urlopen error [Errno 111] Connection refused>" if payload is None else None,
    )


@pytest.mark.parametrize(
    ("payload", "condition", "severity", "says"),
    [
        (_status("RUNNING", "RUNNING"), "RUNNING", "ok", "shop: RUNNING (task 0 RUNNING)"),
        (_status("RUNNING", "FAILED", trace=TRACE), "FAILED", "error", "task 0 FAILED): org.apache.kafka"),
        (_status("FAILED", connector_trace=TRACE), "FAILED", "error", "shop: FAILED (no tasks): org.apache"),
        # one FAILED task among running ones fails the whole connector
        (_status("RUNNING", "RUNNING", "FAILED", trace=TRACE), "FAILED", "error", "task 1 FAILED"),
        # deliberate or settling: a warning at first sight (the grace is tested below)
        (_status("PAUSED", "PAUSED"), "PAUSED", "warn", "paused; nothing is captured while it stays so"),
        (_status("STOPPED"), "STOPPED", "warn", "stopped"),
        (_status("RUNNING"), "NO_TASKS", "warn", "no task running"),
        # transitional: Connect leaves these by itself
        (_status("UNASSIGNED"), "UNASSIGNED", "warn", "(re)assigning"),
        (_status("RUNNING", "UNASSIGNED"), "UNASSIGNED", "warn", "task 0 UNASSIGNED"),
        (_status("RESTARTING", "RESTARTING"), "RESTARTING", "warn", "(re)assigning"),
        ("missing", "MISSING", "error", "connector shop is not deployed on Kafka Connect at " + URL),
        (None, "UNREACHABLE", "error", f"Connect not reachable at {URL}: <urlopen error [Errno 111]"),
    ],
)
def test_verdict_per_state(payload: Any, condition: str, severity: str, says: str) -> None:
    verdict = _evaluate(payload)
    assert (verdict.condition, verdict.severity, verdict.passed) == (condition, severity, severity == "ok")
    assert says in verdict.description
    assert verdict.metadata["connect_url"] == URL and verdict.metadata["condition"] == condition
    # a first verdict that is a failure alerts (the sensor has no memory of having sent it)
    assert verdict.alert == ("failed" if severity == "error" else None)
    memo = verdict.memo
    assert (memo.condition, memo.severity, memo.alerted) == (condition, severity, condition if severity == "error" else None)


def test_failed_task_metadata_holds_states_workers_and_the_root_cause_of_the_trace() -> None:
    verdict = _evaluate(_status("RUNNING", "RUNNING", "FAILED", trace=TRACE))
    assert verdict.metadata == {
        "connector": "shop",
        "connect_url": URL,
        "condition": "FAILED",
        "state": "RUNNING",
        "worker_id": WORKER,
        "tasks": "2",
        "task_0_state": "RUNNING",
        "task_0_worker_id": WORKER,
        "task_1_state": "FAILED",
        "task_1_worker_id": WORKER,
    }
    assert verdict.trace is not None
    lines = verdict.trace.splitlines()
    assert lines[:TRACE_LINES] == TRACE.splitlines()[:TRACE_LINES]
    assert "Caused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:1 refused." in lines
    assert lines[-1] == f"\t... ({len(TRACE.splitlines()) - TRACE_LINES} more lines in the worker's status)"


def test_unreachable_and_missing_metadata() -> None:
    assert _evaluate(None).metadata == {
        "connector": "shop", "connect_url": URL, "condition": "UNREACHABLE", "state": "UNKNOWN",
        "error": "<urlopen error [Errno 111] Connection refused>",
    }
    assert _evaluate("missing").metadata["state"] == "MISSING" and _evaluate("missing").trace is None


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        ("one line", "one line"),
        ("a\nb\nc", "a\nb\nc"),  # short traces are kept whole, nothing appended
        ("\n".join(["x"] * 3 + ["Caused by: y", "z"]), "x\nx\nCaused by: y\n\t... (3 more lines in the worker's status)"),
    ],
)
def test_trace_excerpt(trace: str, expected: str) -> None:
    assert trace_excerpt(trace, lines=2 if "Caused" in trace else TRACE_LINES) == expected


RUNNING = _status("RUNNING", "RUNNING")
FAILED = _status("RUNNING", "FAILED", trace=TRACE)
PAUSED = _status("PAUSED", "PAUSED")


@pytest.mark.parametrize(
    ("ticks", "severities", "alerts"),
    [
        # a failure alerts once; unchanged, it does not again; the recovery alerts once, then silence
        ([RUNNING, FAILED, FAILED, FAILED, RUNNING, RUNNING], ["ok", "error", "error", "error", "ok", "ok"],
         [None, "failed", None, None, "recovered", None]),
        # a restart that fails again is the same failure: no second alert; the recovery still alerts
        ([FAILED, _status("RESTARTING", "RESTARTING"), FAILED, _status("RUNNING", "UNASSIGNED"), RUNNING],
         ["error", "warn", "error", "warn", "ok"], ["failed", None, None, None, "recovered"]),
        # a different failure is news: FAILED, then Connect itself unreachable, then MISSING
        ([FAILED, None, None, "missing"], ["error"] * 4, ["failed", "failed", None, "failed"]),
        # paused: a warning for one tick, a failure (alerting once) from the second on
        ([RUNNING, PAUSED, PAUSED, PAUSED, RUNNING], ["ok", "warn", "error", "error", "ok"],
         [None, None, "failed", None, "recovered"]),
        # paused for a moment only: never a failure, never an alert
        ([RUNNING, PAUSED, RUNNING], ["ok", "warn", "ok"], [None, None, None]),
        # no tasks for a tick (a rebalance) is not a failure; for two it is
        ([_status("RUNNING"), RUNNING, _status("RUNNING"), _status("RUNNING")], ["warn", "ok", "warn", "error"],
         [None, None, None, "failed"]),
        # warnings never alert
        ([_status("UNASSIGNED"), _status("RESTARTING"), _status("UNASSIGNED"), RUNNING], ["warn", "warn", "warn", "ok"],
         [None, None, None, None]),
    ],
)
def test_alerts_on_change_only(ticks: list[Any], severities: list[str], alerts: list[str | None]) -> None:
    cursor: str | None = None
    seen: list[tuple[str, str | None]] = []
    for payload in ticks:
        verdict = _evaluate(payload, CaptureMemo.decode(cursor))
        seen.append((verdict.severity, verdict.alert))
        cursor = verdict.memo.encode()  # what the sensor stores, as the daemon does
    assert seen == list(zip(severities, alerts, strict=True))


@pytest.mark.parametrize(
    "cursor",
    [None, "", "not json", "[1]", '{"condition": "SLEEPING", "severity": "ok", "alerted": null}',
     '{"condition": "FAILED", "severity": "error", "alerted": "GONE"}'],
)
def test_an_unreadable_cursor_is_no_memory(cursor: str | None) -> None:
    assert CaptureMemo.decode(cursor) is None


def test_memo_round_trip() -> None:
    memo = CaptureMemo("PAUSED", "warn", "FAILED")
    assert CaptureMemo.decode(memo.encode()) == memo
