"""Processes seen through /proc: one's peak memory, Dagster run workers' peaks sampled live, and the CPU
time of process trees (a service with its children)."""

from __future__ import annotations

import os
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


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of its reaped children), for every process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after the command name: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        table[int(entry.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return table


def cpu_seconds(roots: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (its live processes and the children they reaped)."""
    table = _cpu_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _ticks) in table.items():
        children.setdefault(parent, []).append(pid)
    out: dict[str, float] = {}
    for name, root in roots.items():
        if root is None or root not in table:
            continue
        ticks, stack = 0, [root]
        while stack:
            pid = stack.pop()
            ticks += table[pid][1]
            stack.extend(children.get(pid, ()))
        out[name] = ticks / _TICKS
    return out
