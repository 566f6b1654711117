"""The bench results document (bench/report.py): ratios from figures of the same run, targets met, missed
(with the explanation their figure carries) or not applicable, and a Markdown row for every figure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.registry import Failed, Figure, Measured, NotAvailable, Result
from bench.report import TARGETS, build, markdown
from bench.sizes import sizes_for

STAGES = {"fetch": 0.2, "decode": 0.5, "apply": 1.0, "apply.current_merge": 0.6, "other": 0.1}


def _document(results: dict[str, Result]) -> dict[str, Any]:
    return build(results, sizes_for("tiny"), started=datetime.now(UTC), seconds=1.0, load=(0.5, 0.7))


def _target(document: dict[str, Any], figure: str) -> dict[str, Any]:
    return next(t for t in document["targets"] if t["figure"] == figure)


def test_report_ratios_come_from_the_same_run() -> None:
    document = _document(
        {
            "ceiling.delta_merge.large_batch": Figure("rows/s", (100.0, 90.0, 110.0)),
            "ingest.delta.large_batch": Figure(
                "events/s", (50.0, 60.0, 70.0), {"stages_of_median_run": STAGES}
            ),
            "peer.dlt_delta.large_batch": Figure("events/s", (20.0, 30.0, 40.0)),
        }
    )
    figures = document["figures"]
    assert figures["ingest.delta.large_batch"]["ratio_to_ceiling"] == 0.6
    assert figures["peer.dlt_delta.large_batch"]["ratio_project_to_peer"] == 2.0
    assert (figures["ingest.delta.large_batch"]["min"], figures["ingest.delta.large_batch"]["max"]) == (
        50.0,
        70.0,
    )


@pytest.mark.parametrize(
    ("figure", "result", "met", "explained_by"),
    [
        # met: no explanation needed
        ("memory.run_process", Measured("MiB", {"peak_rss": 700, "batch_events": 10, "table_rows": 5}), True, None),
        # missed: the explanation names the figure's own evidence
        ("memory.run_process", Measured("MiB", {"peak_rss": 2048, "growth_by_stage": {"fetch": 900}}), False,
         "fetch +900"),
        ("decode.schemas_on", Figure("events/s", (1000.0,), {"profile": {"loads": 0.4}}), False, "loads 40%"),
        # a lag percentile that never became visible is infinitely late: missed
        ("lag.high_rate", Measured("seconds", {"p95": None, "not_visible": 3, "runs": 2}), False, "2 runs"),
        ("lag.high_rate", Measured("seconds", {"p95": 9.5, "runs": 2}), True, None),
        # a sink that does not exist yet: neither met nor missed
        ("ingest.iceberg.large_batch", NotAvailable("sinks.sink_for: not built yet"), None, None),
        ("ingest.postgres.large_batch", Failed("RuntimeError: boom"), None, None),
    ],
)  # fmt: skip
def test_report_targets(figure: str, result: Result, met: bool | None, explained_by: str | None) -> None:
    target = _target(_document({figure: result}), figure)
    assert target["met"] is met
    if explained_by is None:
        assert "explanation" not in target
    else:
        assert explained_by in target["explanation"]


def test_report_ingest_gap_is_explained_by_its_stages() -> None:
    document = _document(
        {
            "ceiling.delta_merge.large_batch": Figure("rows/s", (100.0,)),
            "ingest.delta.large_batch": Figure("events/s", (30.0,), {"stages_of_median_run": STAGES}),
        }
    )
    target = _target(document, "ingest.delta.large_batch")
    assert target["met"] is False and target["measured"] == 0.3
    assert target["explanation"].index("apply 1.00s") < target["explanation"].index("decode 0.50s")


def test_report_markdown_has_a_row_per_figure_and_target() -> None:
    results: dict[str, Result] = {
        "decode.schemas_on": Figure("events/s", (1.0, 2.0, 3.0)),
        "lag.low_rate": Measured("seconds", {"p50": 1.0, "p95": 2.0, "max": 3.0, "rate": 10, "seconds": 4.0}),
        "memory.broker": Measured("MiB", {"peak_rss": 40}),
        "ingest.iceberg.small_batch": NotAvailable("not built yet"),
    }
    text = markdown(_document(results))
    for key in results:
        assert f"| {key} |" in text
    for target in TARGETS:
        assert f"| {target.name} |" in text
