"""Scope: `cdc reconcile` (cdc_project/reconcile_cli.py) without services: table lookup and its errors, the
report as text and JSON, and exit status 2 for a reconciliation that cannot run. Exit statuses 0/1 on real
drift are covered by cdc_project_tests/live/test_reconcile.py."""

from __future__ import annotations

import json

import pytest

from cdc_project.cli import build_parser
from cdc_project.config import load_config
from cdc_project.core.errors import ConfigError
from cdc_project.core.reconcile import KeyDiff
from cdc_project.reconcile_cli import find_table, render, run
from cdc_project.reconcile_job import ReconcileOutcome
from cdc_project.settings import PROJECT_ROOT
from cdc_project_tests.reconcile_reports import outcome

CONFIG = load_config(PROJECT_ROOT / "pipeline.yaml", env={})


@pytest.mark.parametrize("name", ["public.order_items", "shop.public.order_items"])
def test_find_table_by_name_or_source_qualified_name(name: str) -> None:
    source, table = find_table(CONFIG, name)
    assert (source.name, table.name) == ("shop", "public.order_items")


def test_find_table_names_the_valid_tables() -> None:
    with pytest.raises(ConfigError, match="shop.public.customers"):
        find_table(CONFIG, "public.nope")


def _outcome() -> ReconcileOutcome:
    diffs = (
        KeyDiff(("7", "1"), (7, 1), "missing", (), 10, None),
        KeyDiff(("8", "2"), (8, 2), "mismatched", ("quantity",), 11, 12),
    )
    return outcome(
        diffs,
        ("order_id", "line_no"),
        table="public.order_items",
        source_rows=200,
        lake_rows=200,
        missing=1,
        mismatched=1,
        in_flight=2,
    )


def test_render_text_and_json() -> None:
    text = render(_outcome(), as_json=False)
    assert "missing 1, extra 0, mismatched 1 (1.0000%, critical); in flight 2" in text
    assert "mismatched {'order_id': 8, 'line_no': 2} ['quantity']" in text
    body = json.loads(render(_outcome(), as_json=True))
    assert (
        body["drift_pct"] == 1.0 and body["verdict"] == "critical" and body["watermark_offsets"] == {"0": 41}
    )
    assert body["keys"][0] == {
        "key": {"order_id": 7, "line_no": 1},
        "kind": "missing",
        "columns": [],
        "rows": 1,
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["reconcile", "--table", "public.nope", "--sink", "delta"],  # not a captured table
        ["reconcile", "--table", "public.customers", "--sink", "iceberg"],  # not one of the table's sinks
    ],
)
def test_reconcile_that_cannot_run_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(CONFIG, build_parser().parse_args(argv)) == 2
    assert "cdc reconcile:" in capsys.readouterr().err
