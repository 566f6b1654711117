"""What a Kafka Connect connector's status means for the pipeline: pure, from the REST API's JSON.

`GET /connectors/<name>/status` answers `{"name", "connector": {"state", "worker_id", "trace"?},
"tasks": [{"id", "state", "worker_id", "trace"?}]}` with states UNASSIGNED, RUNNING, PAUSED, FAILED,
RESTARTING (and STOPPED since Kafka 3.5). A connector is healthy when it and every task are RUNNING and it
has at least one task; anything FAILED carries the worker's stack trace, which the status command, the
Dagster check and the alert show as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
