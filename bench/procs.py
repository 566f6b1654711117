"""Peak memory of processes, from /proc: one process's high-water mark, and Dagster run workers sampled live."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Self


def vm_hwm_mib(pid: int) -> float | None:
    """The process's peak resident set so far (VmHWM), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class RunWorkers:
    """Peak RSS of every Dagster run worker of one instance (`DAGSTER_HOME`), sampled from /proc.

    The code server starts each run in a `multiprocessing` spawn child (dagster/_grpc/server.py StartRun),
    whose command line is `spawn_main(...)`; `execute_run` covers a run launched by `dagster api`.
    """

    def __init__(self, dagster_home: Path, interval: float = 0.25) -> None:
        self._marker = f"DAGSTER_HOME={dagster_home}".encode()
        self._interval = interval
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-run-workers", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                    if b"spawn_main" not in cmdline and b"execute_run" not in cmdline:
                        continue
                    if self._marker not in (entry / "environ").read_bytes().split(b"\0"):
                        continue
                except OSError:
                    continue
                peak = vm_hwm_mib(int(entry.name))
                if peak is not None:
                    self.peaks[int(entry.name)] = max(peak, self.peaks.get(int(entry.name), 0.0))
