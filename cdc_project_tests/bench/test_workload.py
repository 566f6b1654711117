"""The bench workload (bench/workload.py): its base rows are what the decoder makes of the same rows'
envelopes, its batches have the documented mix over live keys, and a seed always yields the same bytes."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from bench.workload import Workload, data_columns


def test_workload_base_rows_equal_the_decoded_snapshot() -> None:
    workload = Workload(table_rows=300)
    decoded = workload.snapshot().decoded()
    assert decoded.schema == workload.base_rows.schema
    assert data_columns(decoded).equals(data_columns(workload.base_rows))


@pytest.mark.parametrize(
    ("size", "deletes", "updates", "inserts"),
    [
        (100, 5, 47, 48),  # 5% deletes, the rest split in half; an odd remainder goes to inserts
        (1_000, 50, 475, 475),
        (1, 0, 0, 1),  # a single event is an insert
    ],
)
def test_workload_batch_mix(size: int, deletes: int, updates: int, inserts: int) -> None:
    batch = Workload(table_rows=2_000).batch(0, size)
    assert batch.counts == {"inserts": inserts, "updates": updates, "deletes": deletes}
    keys = [event.values.key for event in batch.events]
    assert len(set(keys)) == size  # every key once: the raw MERGE of the ceiling needs no fold
    assert all(e.values.key < 2_000 for e in batch.events if e.op in "ud")
    assert all(e.values.key >= 2_000 for e in batch.events if e.op == "c")


def test_workload_later_batches_touch_only_live_keys() -> None:
    workload = Workload(table_rows=500)
    first, second = workload.batch(0, 200), workload.batch(1, 200)
    deleted = {e.values.key for e in first.events if e.op == "d"}
    inserted = {e.values.key for e in first.events if e.op == "c"}
    touched = {e.values.key for e in second.events if e.op in "ud"}
    assert not touched & deleted
    assert not {e.values.key for e in second.events if e.op == "c"} & inserted
    rows = second.decoded()
    assert pc.all(pc.greater(rows["_cdc_position"], first.decoded()["_cdc_position"][-1])).as_py()


def test_workload_same_seed_same_bytes() -> None:
    one, two = Workload(table_rows=100, seed=7), Workload(table_rows=100, seed=7)
    assert list(one.batch(0, 50).envelopes(schemas=True)) == list(two.batch(0, 50).envelopes(schemas=True))
    assert list(Workload(table_rows=100, seed=8).batch(0, 50).envelopes(schemas=False)) != list(
        one.batch(0, 50).envelopes(schemas=False)
    )


def test_workload_batches_are_made_in_order() -> None:
    with pytest.raises(ValueError, match="in order"):
        Workload(table_rows=100).batch(1, 10)
