"""What a Kafka Connect connector's status means for the pipeline: pure, from the REST API's JSON.

`GET /connectors/<name>/status` answers `{"name", "connector": {"state", "worker_id", "trace"?},
"tasks": [{"id", "state", "worker_id", "trace"?}]}` with states UNASSIGNED, RUNNING, PAUSED, FAILED,
RESTARTING (and STOPPED since Kafka 3.5). A connector is healthy when it and every task are RUNNING and it
has at least one task; anything FAILED carries the worker's stack trace, which the status command, the
Dagster check and the alert show as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

State = Literal["UNASSIGNED", "RUNNING", "PAUSED", "FAILED", "RESTARTING", "STOPPED", "MISSING"]
_KNOWN: frozenset[str] = frozenset({"UNASSIGNED", "RUNNING", "PAUSED", "FAILED", "RESTARTING", "STOPPED"})


@dataclass(frozen=True)
class TaskHealth:
    task_id: int
    state: State
    worker_id: str | None
    trace: str | None


@dataclass(frozen=True)
class ConnectorHealth:
    name: str
    state: State
    worker_id: str | None
    trace: str | None
    tasks: tuple[TaskHealth, ...]

    @classmethod
    def missing(cls, name: str) -> ConnectorHealth:
        return cls(name, "MISSING", None, None, ())

    @property
    def running(self) -> bool:
        return self.state == "RUNNING" and bool(self.tasks) and all(t.state == "RUNNING" for t in self.tasks)

    @property
    def failed(self) -> bool:
        return self.state == "FAILED" or any(t.state == "FAILED" for t in self.tasks)

    def summary(self) -> str:
        tasks = ", ".join(f"task {t.task_id} {t.state}" for t in self.tasks) or "no tasks"
        return f"{self.name}: {self.state} ({tasks})"

    def first_trace(self) -> str | None:
        return self.trace or next((t.trace for t in self.tasks if t.trace), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "running": self.running,
            "worker_id": self.worker_id,
            "trace": self.trace,
            "tasks": [
                {"id": t.task_id, "state": t.state, "worker_id": t.worker_id, "trace": t.trace} for t in self.tasks
            ],
        }


def _state(raw: object) -> State:
    text = str(raw)
    return text if text in _KNOWN else "UNASSIGNED"  # type: ignore[return-value]


def health_from_status(payload: Mapping[str, Any]) -> ConnectorHealth:
    connector = payload.get("connector") or {}
    tasks = tuple(
        TaskHealth(int(t.get("id", 0)), _state(t.get("state")), t.get("worker_id"), t.get("trace"))
        for t in sorted(payload.get("tasks") or [], key=lambda t: int(t.get("id", 0)))
    )
    return ConnectorHealth(
        str(payload.get("name", "")), _state(connector.get("state")), connector.get("worker_id"),
        connector.get("trace"), tasks,
    )


# --- The capture-health verdict (the Dagster check `connector_running` and its sensor, defs/capture/) ---
#
# What a connector's state means for the lake, in three severities: "ok" (RUNNING with every task
# RUNNING), "warn" (a state Connect leaves by itself: UNASSIGNED, RESTARTING; and a deliberate or settling
# state seen for the first time: PAUSED, STOPPED, RUNNING without tasks), "error" (nothing is captured and
# nothing will be until someone acts: FAILED, MISSING, Connect not answering; and PAUSED, STOPPED or no
# tasks at two consecutive checks). The one tick of grace exists because `cdc connectors pause` and a
# rebalance (tasks not yet assigned) are normal for seconds; past a tick, a paused PostgreSQL connector
# still holds its replication slot, so the source's WAL grows while the lake goes stale.
#
# Alerts go out on change, remembered in `CaptureMemo` (the sensor's cursor): entering a failure alerts
# "failed" once; the same failure at the next tick, or through a transitional state and back (a restart
# that failed again), does not; a different failure (FAILED, then Connect unreachable) alerts again; the
# first RUNNING tick after an alerted failure alerts "recovered" once.

Condition = Literal[
    "RUNNING", "UNASSIGNED", "RESTARTING", "PAUSED", "STOPPED", "NO_TASKS", "FAILED", "MISSING", "UNREACHABLE"
]
Severity = Literal["ok", "warn", "error"]
CaptureAlert = Literal["failed", "recovered"]

TRACE_LINES = 15  # head of a Java stack trace shown in the check and the alert (the CLI shows as many)
_CONDITIONS: frozenset[str] = frozenset(get_args(Condition))
_SEVERITIES: frozenset[str] = frozenset(get_args(Severity))
_TRANSITIONAL: frozenset[Condition] = frozenset({"UNASSIGNED", "RESTARTING"})
_GRACE: frozenset[Condition] = frozenset({"PAUSED", "STOPPED", "NO_TASKS"})  # an error from the 2nd tick
# Task states from the worst down, for a connector that is itself RUNNING.
_TASK_ORDER: tuple[State, ...] = ("PAUSED", "STOPPED", "RESTARTING", "UNASSIGNED")


@dataclass(frozen=True)
class CaptureMemo:
    """What the capture-health sensor remembers from one tick to the next (its cursor)."""

    condition: Condition
    severity: Severity
    alerted: Condition | None  # the failure last alerted and not recovered from since

    def encode(self) -> str:
        return json.dumps(
            {"condition": self.condition, "severity": self.severity, "alerted": self.alerted}, sort_keys=True
        )

    @classmethod
    def decode(cls, cursor: str | None) -> CaptureMemo | None:
        """None for no cursor or one this code cannot read (hand-edited, another format): no memory, at
        worst one alert is sent again."""
        if not cursor:
            return None
        try:
            raw = json.loads(cursor)
        except ValueError:
            return None
        if not isinstance(raw, dict):
            return None
        condition, severity, alerted = raw.get("condition"), raw.get("severity"), raw.get("alerted")
        if condition not in _CONDITIONS or severity not in _SEVERITIES:
            return None
        if alerted is not None and alerted not in _CONDITIONS:
            return None
        return cls(condition, severity, alerted)


@dataclass(frozen=True)
class CaptureVerdict:
    connector: str
    connect_url: str
    condition: Condition
    severity: Severity
    description: str
    metadata: dict[str, str]  # state, worker and per-task state/worker, for the check and the alert
    trace: str | None  # the first lines of the first trace (plus its "Caused by" lines), when FAILED
    alert: CaptureAlert | None  # what the sensor sends now, if anything
    memo: CaptureMemo  # what the sensor remembers for the next tick

    @property
    def passed(self) -> bool:
        return self.severity == "ok"


def condition_of(health: ConnectorHealth | None) -> Condition:
    """The one word for a status answer (None: Connect did not answer). A FAILED task outranks all."""
    if health is None:
        return "UNREACHABLE"
    if health.state == "MISSING":
        return "MISSING"
    if health.failed:
        return "FAILED"
    if health.state != "RUNNING":
        return health.state
    if not health.tasks:
        return "NO_TASKS"
    return next((s for s in _TASK_ORDER if any(t.state == s for t in health.tasks)), "RUNNING")


def trace_excerpt(trace: str, lines: int = TRACE_LINES) -> str:
    """The trace's first `lines` lines, then each later "Caused by:" line: the root cause of a Debezium
    failure (a refused connection, a missing publication) is often below the first frames."""
    all_lines = trace.strip().splitlines()
    head, rest = all_lines[:lines], all_lines[lines:]
    causes = [line for line in rest if line.lstrip().startswith("Caused by:")]
    if rest:
        causes.append(f"\t... ({len(rest)} more lines in the worker's status)")
    return "\n".join(head + causes)


def _severity(condition: Condition, previous: CaptureMemo | None) -> Severity:
    if condition == "RUNNING":
        return "ok"
    if condition in _TRANSITIONAL:
        return "warn"
    if condition in _GRACE:
        return "error" if previous is not None and previous.condition == condition else "warn"
    return "error"


def _description(
    condition: Condition,
    severity: Severity,
    name: str,
    health: ConnectorHealth | None,
    url: str,
    error: str | None,
) -> str:
    if health is None:
        return f"Connect not reachable at {url}: {error or 'no answer'}; the connector's state is unknown"
    if condition == "MISSING":
        return (
            f"connector {name} is not deployed on Kafka Connect at {url}: nothing is captured "
            "(`cdc connectors deploy` deploys it)"
        )
    summary = health.summary()
    if condition == "FAILED":
        trace = health.first_trace()
        cause = f": {trace.strip().splitlines()[0]}" if trace and trace.strip() else ""
        return f"{summary}{cause} (once the cause is fixed, `cdc connectors restart --only-failed`)"
    if condition == "RUNNING":
        return f"{summary} on Kafka Connect at {url}"
    if condition in _TRANSITIONAL:
        return f"{summary}: Connect is (re)assigning it; capture resumes when it is RUNNING"
    what = "no task running" if condition == "NO_TASKS" else condition.lower()
    if severity == "warn":
        return f"{summary}: {what}; nothing is captured while it stays so (a failure from the next check on)"
    return (
        f"{summary}: {what} for more than one check interval; nothing is captured and the source's change "
        "log (e.g. the replication slot's WAL) grows"
    )


def _metadata(name: str, health: ConnectorHealth | None, url: str, error: str | None) -> dict[str, str]:
    meta = {"connector": name, "connect_url": url}
    if health is None:
        meta.update(state="UNKNOWN", error=error or "no answer")
        return meta
    meta.update(state=health.state, worker_id=health.worker_id or "", tasks=str(len(health.tasks)))
    for task in health.tasks:
        meta[f"task_{task.task_id}_state"] = task.state
        meta[f"task_{task.task_id}_worker_id"] = task.worker_id or ""
    return meta


def evaluate(
    health: ConnectorHealth | None,
    previous: CaptureMemo | None,
    *,
    connector: str,
    connect_url: str,
    error: str | None = None,
) -> CaptureVerdict:
    """The check's verdict and the alert to send, from one status answer and the last tick's memo.

    `health` None means Connect did not answer (`error` says how): a failure like any other, never a skip.
    """
    condition = condition_of(health)
    severity = _severity(condition, previous)
    alerted = previous.alerted if previous is not None else None
    alert: CaptureAlert | None = None
    if severity == "error":
        if alerted != condition:
            alert = "failed"
        alerted = condition
    elif severity == "ok" and alerted is not None:
        alert, alerted = "recovered", None
    trace = health.first_trace() if health is not None else None
    return CaptureVerdict(
        connector=connector,
        connect_url=connect_url,
        condition=condition,
        severity=severity,
        description=_description(condition, severity, connector, health, connect_url, error),
        metadata={**_metadata(connector, health, connect_url, error), "condition": condition},
        trace=trace_excerpt(trace) if trace else None,
        alert=alert,
        memo=CaptureMemo(condition, severity, alerted),
    )
