"""Deploy connector configs to Kafka Connect: the connect-init service of docker-compose.yml.

    python deploy_connectors.py http://connect:8083 /deploy/connectors

PUT /connectors/<name>/config creates a connector or updates it in place, so running this again after
`cdc connectors` regenerated the files is the upgrade path. Exits non-zero unless every connector and task
reaches RUNNING. Standard library only: it runs in a bare python image.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 180


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (in-network URL)
        return json.loads(response.read() or b"null")


def _states(status: dict[str, Any]) -> list[str]:
    return [status["connector"]["state"], *(task["state"] for task in status.get("tasks", []))]


def deploy(connect_url: str, directory: Path) -> int:
    files = sorted(directory.glob("*.json"))
    if not files:
        print(f"connect-init: no connector files in {directory}; run `cdc connectors` to generate them")
        return 1
    for path in files:
        spec = json.loads(path.read_text())
        _request("PUT", f"{connect_url}/connectors/{spec['name']}/config", spec["config"])
        print(f"connect-init: {spec['name']} configured from {path.name}")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    pending = {json.loads(p.read_text())["name"] for p in files}
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            try:
                status = _request("GET", f"{connect_url}/connectors/{name}/status")
            except urllib.error.HTTPError:
                continue  # not scheduled on a worker yet
            states = _states(status)
            if "FAILED" in states:
                traces = [t.get("trace", "") for t in status.get("tasks", []) if t["state"] == "FAILED"]
                print(f"connect-init: {name} FAILED: {status['connector'].get('trace', '')}{''.join(traces)}")
                return 1
            if len(states) > 1 and all(state == "RUNNING" for state in states):
                print(f"connect-init: {name} RUNNING")
                pending.discard(name)
        time.sleep(2)
    if pending:
        print(f"connect-init: not RUNNING after {TIMEOUT_SECONDS}s: {sorted(pending)}")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: deploy_connectors.py <connect-url> <connectors-dir>")
    sys.exit(deploy(sys.argv[1].rstrip("/"), Path(sys.argv[2])))
