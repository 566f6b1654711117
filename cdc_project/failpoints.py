"""Named crash points for fault-injection tests: the process SIGKILLs itself at a named line.

Armed two ways: `CDC_FAILPOINTS=name[,name]` in a process's environment, or one-shot by creating the file
`$CDC_STATE_DIR/failpoints/<name>` (the next process that reaches the point removes it and dies), which
is how a test crashes a run the Dagster daemon launched. The kill is SIGKILL, so nothing runs after it (no
finally blocks, no atexit): the same as a machine losing power at that line. Production arms nothing;
a check costs an environment lookup and one stat().
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Literal

# The PostgreSQL sink writes every table in one transaction: there the first two points are reached with
# the writes done but not committed, and `before_sink_commit` with the offsets written too.
Failpoint = Literal["after_changelog_commit", "after_current_commit", "before_sink_commit"]


def arm_once(state_dir: Path, name: Failpoint) -> Path:
    marker = state_dir / "failpoints" / name
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return marker


def hit(name: Failpoint) -> None:
    armed = os.environ.get("CDC_FAILPOINTS", "")
    if name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
    state_dir = os.environ.get("CDC_STATE_DIR")
    if state_dir:
        marker = Path(state_dir) / "failpoints" / name
        try:
            marker.unlink()
        except FileNotFoundError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
