"""Decoded change rows for tests: data columns, then META_FIELDS, as core/events.decode_batch makes them.

An event is `(op, id, name, position, partition, offset)`; `data` adds more data columns (aligned with the
events) and `unavailable` the per-row `_cdc_unavailable` lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from cdc_project.core.columns import (
    META_FIELDS,
    OFFSET,
    OP,
    PARTITION,
    POSITION,
    SOURCE_TS,
    TOPIC,
    UNAVAILABLE_FIELD,
)

DEFAULT_TOPIC = "shop.public.customers"
Event = tuple[str, int | None, str | None, str, int, int]  # op, id, name, position, partition, offset


def make_rows(
    events: Sequence[Event],
    *,
    data: Mapping[str, pa.Array] | None = None,
    unavailable: Sequence[list[str] | None] | None = None,
    topic: str = DEFAULT_TOPIC,
    source_ts: datetime = datetime(2024, 1, 1, 12, tzinfo=UTC),
) -> pa.Table:
    n = len(events)
    columns_of_events = [list(c) for c in zip(*events, strict=True)] if n else [[] for _ in range(6)]
    ops, ids, names, positions, partitions, offsets = columns_of_events
    meta = {
        OP: ops,
        POSITION: positions,
        SOURCE_TS: [source_ts] * n,
        TOPIC: [topic] * n,
        PARTITION: partitions,
        OFFSET: offsets,
    }
    fields = [pa.field("id", pa.int64()), pa.field("name", pa.string())]
    columns = [pa.array(ids, pa.int64()), pa.array(names, pa.string())]
    for name, array in (data or {}).items():
        fields.append(pa.field(name, array.type))
        columns.append(array)
    fields += META_FIELDS
    columns += [pa.array(meta[f.name], f.type) for f in META_FIELDS]
    if unavailable is not None:
        fields.append(UNAVAILABLE_FIELD)
        columns.append(pa.array(unavailable, UNAVAILABLE_FIELD.type))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


# A batch over two partitions: inserts, an update, a delete; its current state is {1: "a2", 3: "c"}.
BATCH: list[Event] = [
    ("c", 1, "a", "01", 0, 0),
    ("c", 2, "b", "02", 1, 0),
    ("u", 1, "a2", "03", 0, 1),
    ("d", 2, None, "04", 1, 1),
    ("c", 3, "c", "05", 0, 2),
]
