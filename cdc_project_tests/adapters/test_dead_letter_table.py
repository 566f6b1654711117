"""Scope: adapters/dead_letter_table.py on a real Delta table in tmp_path: dead letters land once per message
and stage, even when a retried run dead-letters the same messages again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from cdc_project.adapters.dead_letter_table import write_dead_letters
from cdc_project.core.dead_letters import DEAD_LETTER_SCHEMA
from cdc_project_tests.change_rows import DEFAULT_TOPIC


def letters(offsets: list[int], stage: str = "decode", sink: str | None = None) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {
            "topic": DEFAULT_TOPIC, "partition": 0, "offset": offset, "key": b"k", "value": b"v",
            "stage": stage, "error_class": "DecodeError", "error_message": "bad",
            "table": "public.customers", "sink": sink, "failed_at": now,
        }
        for offset in offsets
    ]
    return pa.Table.from_pylist(rows, schema=DEAD_LETTER_SCHEMA)


def test_dead_letters_are_written_once(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    assert write_dead_letters(root, letters([3, 4])) == 2
    assert write_dead_letters(root, letters([3, 4])) == 0  # a retried run re-dead-letters the same messages
    assert write_dead_letters(root, letters([4, 5])) == 1  # an overlapping range adds only the new one
    assert write_dead_letters(root, letters([3], stage="schema")) == 1  # another stage counts on its own
    assert DeltaTable(f"{root}/_dead_letters").count() == 4


def test_dead_letters_decode_shared_by_sinks_schema_per_sink(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    # Two sinks of one table decode the same messages: the second sink's decode letters are the first's.
    assert write_dead_letters(root, letters([7])) == 1
    assert write_dead_letters(root, letters([7])) == 0
    # A refusal is the refusing sink's own: iceberg refusing offset 7 is not delta refusing it.
    assert write_dead_letters(root, letters([7], stage="schema", sink="delta")) == 1
    assert write_dead_letters(root, letters([7], stage="schema", sink="iceberg")) == 1
    assert write_dead_letters(root, letters([7], stage="schema", sink="iceberg")) == 0
    written = DeltaTable(f"{root}/_dead_letters").to_pyarrow_table()
    assert sorted(map(str, written["sink"].to_pylist())) == ["None", "delta", "iceberg"]


def test_dead_letters_refuse_a_table_without_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lack columns"):
        write_dead_letters(str(tmp_path), pa.table({"topic": ["t"]}))
