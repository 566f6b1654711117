"""Thin Kafka Connect REST client: deploy, inspect and steer connectors (stdlib HTTP, no Connect logic).

What a connector's status means is decided in `core/connect_status.py`; what its config is, in
`core/connectors.py`. Deploy is idempotent: the running config is compared first and a PUT is sent only
when it differs, because Connect rewrites the config topic and restarts the tasks on every PUT.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from cdc_project.core.connect_status import ConnectorHealth, health_from_status
from cdc_project.core.errors import ConnectError

DeployOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class ConnectClient:
    url: str  # e.g. http://127.0.0.1:28083
    timeout: float = 15.0

    def _call(self, method: str, path: str, body: object | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (the configured Connect URL)
            f"{self.url.rstrip('/')}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw) if raw else None
            except ValueError:
                detail = raw.decode(errors="replace")
            return exc.code, detail
        except OSError as exc:
            raise ConnectError(self.url, f"{method} {path}", f"not reachable: {exc}") from exc

    def _expect(self, method: str, path: str, ok: tuple[int, ...], body: object | None = None) -> Any:
        status, payload = self._call(method, path, body)
        if status not in ok:
            raise ConnectError(self.url, f"{method} {path}", f"HTTP {status}: {payload}")
        return payload

    @staticmethod
    def _name(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    def ready(self) -> bool:
        """The worker answers and has joined its group (GET /connectors answers 200 only then)."""
        try:
            status, _ = self._call("GET", "/connectors")
        except ConnectError:
            return False
        return status == 200

    def plugins(self) -> list[str]:
        return [p["class"] for p in self._expect("GET", "/connector-plugins", (200,))]

    def connectors(self) -> list[str]:
        return sorted(self._expect("GET", "/connectors", (200,)))

    def config(self, name: str) -> dict[str, str] | None:
        status, payload = self._call("GET", f"/connectors/{self._name(name)}/config")
        if status == 404:
            return None
        if status != 200:
            raise ConnectError(self.url, f"GET /connectors/{name}/config", f"HTTP {status}: {payload}")
        return dict(payload)

    def deploy(self, name: str, config: dict[str, str]) -> DeployOutcome:
        """Create or update `name` with `config`; a second deploy of the same config changes nothing."""
        wanted = {**config, "name": name}
        running = self.config(name)
        if running == wanted:
            return "unchanged"
        self._expect("PUT", f"/connectors/{self._name(name)}/config", (200, 201), wanted)
        return "created" if running is None else "updated"

    def status(self, name: str) -> ConnectorHealth:
        status, payload = self._call("GET", f"/connectors/{self._name(name)}/status")
        if status == 404:
            return ConnectorHealth.missing(name)
        if status != 200:
            raise ConnectError(self.url, f"GET /connectors/{name}/status", f"HTTP {status}: {payload}")
        return health_from_status(payload)

    def pause(self, name: str) -> None:
        self._expect("PUT", f"/connectors/{self._name(name)}/pause", (202,))

    def resume(self, name: str) -> None:
        self._expect("PUT", f"/connectors/{self._name(name)}/resume", (202,))

    def restart(self, name: str, *, only_failed: bool = False) -> None:
        """Restart the connector and its tasks (only the failed ones with `only_failed`)."""
        query = f"includeTasks=true&onlyFailed={'true' if only_failed else 'false'}"
        self._expect("POST", f"/connectors/{self._name(name)}/restart?{query}", (200, 202, 204))

    def delete(self, name: str) -> bool:
        """Remove the connector; False when there was none. Its source offsets stay in Connect's topic."""
        status, payload = self._call("DELETE", f"/connectors/{self._name(name)}")
        if status == 404:
            return False
        if status not in (200, 204):
            raise ConnectError(self.url, f"DELETE /connectors/{name}", f"HTTP {status}: {payload}")
        return True
