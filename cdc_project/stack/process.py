"""Background processes of the local stack: start detached with a log file and a pid file, stop for sure.

Each service runs in its own session (process group) so `stop` can signal the whole tree: the capture
process owns a JVM, the Dagster webserver its workers. Children get default SIGINT/SIGTERM handlers back,
because a process started from a non-interactive shell's `&` inherits SIGINT ignored, and Dagster started
that way would otherwise ignore `make down`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes; reap it if it is our child.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _restore_default_signals() -> None:
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start(
    proc: ManagedProcess,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
) -> int:
    """Start argv detached; refuses to start a second copy of a running service."""
    if proc.is_running():
        return proc.pid() or 0
    proc.log_file.parent.mkdir(parents=True, exist_ok=True)
    proc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(proc.log_file, "ab") as log:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=str(cwd),
            preexec_fn=_restore_default_signals,
            close_fds=True,
        )
    proc.pid_file.write_text(str(child.pid))
    return child.pid


def stop(proc: ManagedProcess, timeout: float = 20.0) -> bool:
    """SIGTERM the process group, then SIGKILL what is left; True when nothing of it remains."""
    pid = proc.pid()
    if pid is None:
        return True
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_alive(pid):
            time.sleep(0.1)
        if not group_alive(pid):
            break
    gone = not group_alive(pid)
    if gone:
        proc.pid_file.unlink(missing_ok=True)
    return gone


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is pgid (read from /proc; zombies excluded)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    pid_alive(pgid)  # reaps our own zombie leader if there is one
    return bool(group_members(pgid))
