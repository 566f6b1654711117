"""Named crash points for fault-injection tests: `CDC_FAILPOINTS=after_changelog_commit` kills the process.

The kill is SIGKILL on ourselves, so nothing runs after it (no finally blocks, no atexit): the same as a
machine losing power at that line. Production never sets the variable; checking it costs a dict lookup.
"""

from __future__ import annotations

import os
import signal
from typing import Literal

Failpoint = Literal["after_changelog_commit", "after_current_commit", "after_dead_letters"]


def hit(name: Failpoint) -> None:
    armed = os.environ.get("CDC_FAILPOINTS")
    if armed and name in armed.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
