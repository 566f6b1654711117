"""Decode throughput on PostgreSQL envelopes with schemas off (issue: >= 200,000 events/s on one core).

The messages copy a recorded Debezium 3.6 schemas-off update (cases/postgres/alltypes_schemas_off.jsonl:
its whole `source` block, `sequence` as Debezium spells it) with a ten-column row of the usual kinds: ints,
text, a boolean, a base64 decimal, a float, a ZonedTimestamp string and a MicroTimestamp. Measured in process
CPU time, so other load on the machine disturbs it less than wall time would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson

from cdc_project.core.events import RawMessage, decode_batch

CASE = Path(__file__).resolve().parent.parent / "cases" / "postgres" / "alltypes_schemas_off.jsonl"


def schemas_off_messages(n: int) -> list[RawMessage]:
    recorded = [json.loads(line) for line in CASE.read_text().splitlines()]
    template = json.loads(next(r["value"] for r in recorded if r["value"] and '"op":"u"' in r["value"]))
    messages = []
    for i in range(n):
        source = dict(template["source"], table="customers", lsn=30_000_000 + i * 100)
        source["sequence"] = f'["{29_000_000 + i * 100}","{30_000_000 + i * 100}"]'
        after = {
            "id": i % max(1, n // 4),
            "name": f"customer {i}",
            "email": f"c{i}@example.com",
            "tier": "gold",
            "active": True,
            "balance": "AeJA",
            "score": 12.5,
            "created_at": "2026-11-22T14:57:09.457559Z",
            "updated_at": 1_795_359_429_457_559 + i,
            "country": "NO",
        }
        value = dict(template, before=None, after=after, source=source)
        key = orjson.dumps({"id": after["id"]})
        messages.append(RawMessage("shop.public.customers", 0, i, key, orjson.dumps(value)))
    return messages


def bench_decode_schemas_off(n: int = 100_000, repeats: int = 3) -> dict[str, float]:
    """Best of `repeats` runs over the same n messages, events per CPU second."""
    messages = schemas_off_messages(n)
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        decoded = decode_batch(messages, source_kind="postgres")
        best = min(best, time.process_time() - began)
        assert decoded.rows.num_rows == n and not decoded.dead_letters
    return {"events": n, "cpu_seconds": round(best, 3), "events_per_second": round(n / best)}


if __name__ == "__main__":
    print(f"decode, schemas off: {bench_decode_schemas_off()}")
