"""`make demo DURATION=...` (cdc demo --duration), the headless main job, on the live stack: it generates
changes, waits for every sink of every table to catch up, prints the per-table summary and exits 0 only
when each equals its source."""

from __future__ import annotations

import pytest

from cdc_project.config import PipelineConfig
from cdc_project.demo.run import run_demo
from cdc_project.settings import StackSettings

pytestmark = pytest.mark.live


def test_headless_demo_prints_summary_and_exits_zero_when_equal(
    stack: StackSettings, pipeline_config: PipelineConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_demo(stack, pipeline_config, duration=8.0, rate=40.0)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every table equals its source" in out
    header = next(line for line in out.splitlines() if line.startswith("table "))
    for column in ("sink", "source", "lake", "events", "runs", "lag p50", "lag p95", "status"):
        assert column in header
    rows = [line.split() for line in out.splitlines()]
    for _source, table in pipeline_config.tables():
        for sink in table.sinks:
            row = next((r for r in rows if r[:2] == [table.name, sink]), None)
            assert row is not None and row[-1] == "equal", out
