"""The crash-then-resume scenario of a sink whose tables commit one after another (Delta, Iceberg).

A child process builds the sink, applies a delete and SIGKILLs itself at a failpoint
(cdc_project/failpoints.py) between two table commits; the resumed run re-reads the delete plus, from
another partition, an event older than it. Only the TableSink interface is used; each sink's test module
adds its storage-specific checks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from cdc_project.adapters.table_sink import ApplyResult, TableSink
from cdc_project.core.columns import OP
from cdc_project_tests.change_rows import Event, make_rows

FIRST: list[Event] = [("c", 1, "a", "01", 0, 0), ("c", 2, "b", "02", 0, 1)]
CRASHED: list[Event] = [("d", 1, None, "05", 0, 2)]
LATE: Event = ("c", 1, "zombie", "03", 1, 0)  # older than the delete

CRASH_CASES = pytest.mark.parametrize(
    ("failpoint", "tombstoned"),
    [
        ("after_changelog_commit", 0),  # current never saw the delete: the fold orders the two events
        ("after_current_commit", 1),  # current applied the delete, the tombstone table did not: the guard
    ],
)

# Appended to a snippet that binds `sink` from sys.argv[1:-1]; the last argument is the events as JSON.
_APPLY = """
import json, sys
from cdc_project_tests.change_rows import make_rows
sink.apply(make_rows([tuple(e) for e in json.loads(sys.argv[-1])]), ["id"])
"""


def crash_then_resume(sink: TableSink, build_sink: str, args: list[str], failpoint: str) -> ApplyResult:
    """Apply FIRST, crash a child's apply of CRASHED at `failpoint`, resume; assert the shared invariants."""
    sink.apply(make_rows(FIRST), ["id"])
    env = {**os.environ, "CDC_FAILPOINTS": failpoint}
    child = [sys.executable, "-c", build_sink + _APPLY, *args, json.dumps(CRASHED)]
    assert subprocess.run(child, env=env).returncode == -signal.SIGKILL
    assert sink.committed_offsets() == {0: 1}  # a table still lacks offset 2: the next run starts there

    result = sink.apply(make_rows([*CRASHED, LATE]), ["id"])  # the resumed run re-reads from the laggard

    rows = sink.read_current()
    assert rows is not None and {r["id"]: r["name"] for r in rows.to_pylist()} == {2: "b"}
    log = sink.read_changelog([OP])
    assert log is not None and log.num_rows == 4  # the crashed delete once, the late event once
    assert result.committed == sink.committed_offsets() == {0: 2, 1: 0}
    return result
