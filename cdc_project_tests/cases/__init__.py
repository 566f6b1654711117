"""Recorded and hand-written Debezium messages, as JSON lines {"topic", "partition", "key", "value"}.

`key`/`value` hold the exact text the Kafka Connect JsonConverter produced (null for a keyless table or a
tombstone). The recordings come from an embedded Debezium engine, which assigns no partitions or offsets:
a missing partition reads as 0 and offsets count up per topic-partition in file order, as a broker would.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson

from cdc_project.core.events import RawMessage

CASES = Path(__file__).parent


def load_case(path: str | Path) -> list[RawMessage]:
    """Messages of one case file; `path` is absolute or relative to this directory."""
    next_offset: defaultdict[tuple[str, int], int] = defaultdict(int)
    messages = []
    for line in (CASES / path).read_text().splitlines():
        if not line.strip():
            continue
        record = orjson.loads(line)
        topic, partition = record["topic"], record.get("partition") or 0
        offset = record.get("offset", next_offset[topic, partition])
        next_offset[topic, partition] = offset + 1
        key, value = record.get("key"), record.get("value")
        messages.append(
            RawMessage(
                topic=topic,
                partition=partition,
                offset=offset,
                key=None if key is None else key.encode(),
                value=None if value is None else value.encode(),
            )
        )
    return messages


def load_postgres_case() -> list[RawMessage]:
    """Debezium 3.6 (pgoutput) events of public.t and public.nopk, heartbeats and transaction metadata."""
    return load_case("postgres/debezium_3_6_embedded.jsonl")
