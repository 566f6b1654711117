"""`make test` runs the bench suite once, in tiny mode on the session's stack, so the benchmark code cannot
rot: every case runs against the real services and the document has every key. Benchmarks are not tests:
nothing here asserts a speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.registry import CASES
from bench.report import TARGETS, markdown
from bench.sizes import sizes_for
from bench.stack import RunningStack
from bench.suite import failed, run_suite
from cdc_project.config import PipelineConfig
from cdc_project.settings import StackSettings

pytestmark = pytest.mark.live


def test_bench_tiny_suite_writes_every_key(
    stack: StackSettings, pipeline_config: PipelineConfig, tmp_path: Path
) -> None:
    document = run_suite(
        sizes_for("tiny"), RunningStack(stack, pipeline_config), tmp_path / "work", echo=print
    )
    figures = document["figures"]
    assert set(figures) == {key for case in CASES.values() for key in case.keys}
    assert failed(document) == []
    # every figure is measured: no sink, peer or case is "not available" any more
    for key in ("decode.schemas_on", "ceiling.delta_merge.large_batch", "ingest.delta.large_batch",
                "ingest.iceberg.large_batch", "ingest.postgres.large_batch", "peer.dlt_delta.large_batch",
                "peer.pyiceberg_upsert.large_batch", "reconcile.in_sync", "reconcile.differing"):  # fmt: skip
        assert len(figures[key]["samples"]) == 1 and figures[key]["median"] > 0, key
    for kind in ("delta", "iceberg", "postgres"):
        ingest = figures[f"ingest.{kind}.large_batch"]
        assert ingest["stages_of_median_run"]["decode"] > 0 and ingest["apply_events_per_second"] > 0, kind
    assert figures["reconcile.in_sync"]["keys_found"] == 0
    assert figures["reconcile.differing"]["keys_found"] == figures["reconcile.differing"]["keys_changed"]
    assert figures["lag.high_rate"]["transactions"] > 0
    assert figures["memory.run_process"]["peak_rss"] > 0
    for key, figure in figures.items():
        assert "status" not in figure, (key, figure)
    assert {t["figure"] for t in document["targets"]} == {t.key for t in TARGETS}
    assert document["meta"]["mode"] == "tiny" and document["meta"]["machine"]["cpus"]
    assert "| ingest.delta.large_batch |" in markdown(document)
