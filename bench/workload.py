"""The seeded, reproducible workload every throughput case shares: a base table and a sequence of change batches.

Shape: the 12-column `public.t` of the recorded Debezium 3.6 case (cdc_project_tests/cases/postgres/
debezium_3_6_embedded.jsonl): int4 key, numeric(10,2), variable-scale numeric, timestamptz, date, json,
int4[], boolean, text, time, timestamp, uuid. Its Connect schema is copied verbatim from the recording, so
the envelopes are exactly what Kafka Connect's JsonConverter writes for that table.

- `base_rows()`: `table_rows` snapshot rows (op `r`), keys 0..table_rows-1, as decoded Arrow rows.
- `batch(i)`: the i-th change batch of `size` events, every key distinct: 5% deletes and half of the rest
  updates, both of keys live at that point, the other half inserts of new keys; shuffled. Batches are
  generated in sequence from one seeded RNG, so batch i is valid after the base and batches 0..i-1 were
  applied, and the same seed always yields the same bytes.
- `Batch.envelopes(schemas=...)`: the JsonConverter key/value bytes, with or without schemas.
"""

from __future__ import annotations

import base64
import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from cdc_project.core import columns
from cdc_project.core.events import RawMessage, decode_batch

CASE = Path(__file__).resolve().parent.parent / "cdc_project_tests/cases/postgres/debezium_3_6_embedded.jsonl"
TABLE = "public.t"
DELETE_SHARE = 0.05
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_T0_US = 1_795_000_000_000_000  # 2026-11-18: source commit times of the workload start here
_LSN0 = 0x1_0000_0000  # base rows' LSN; batches continue above it
SEED_TOPIC = "benchseed.public.t"  # the topic the base rows claim to come from


def _recorded_schemas() -> tuple[bytes, bytes]:
    """(value schema, key schema) JSON bytes of public.t in the recording, byte for byte."""
    for line in CASE.read_text().splitlines():
        record = orjson.loads(line)
        if record["topic"] == "shop.public.t" and record["value"] and '"op":"u"' in record["value"]:
            value, key = record["value"].encode(), record["key"].encode()
            cut, key_cut = value.index(b',"payload":'), key.index(b',"payload":')
            return value[len(b'{"schema":') : cut], key[len(b'{"schema":') : key_cut]
    raise RuntimeError(f"{CASE} has no update of shop.public.t to copy the envelope schema from")


VALUE_SCHEMA, KEY_SCHEMA = _recorded_schemas()


def _unscaled(value: int) -> str:
    """A Connect Decimal: the unscaled value's minimal big-endian two's complement, base64."""
    return base64.b64encode(value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)).decode()


def _raw_columns(keys: list[int], bits: list[int]) -> dict[str, list[Any]]:
    """Each row's plain values, derived from its key and 64 random bits: cents and the variable-scale digits
    as integers, times as microseconds. Column-wise, because a million base rows are built this way."""
    ts = [_T0_US - (b >> 20) % 10**13 for b in bits]
    hexes = [f"{b:016x}{k:016x}" for k, b in zip(keys, bits)]
    return {
        "id": list(keys),
        "n": [b % 100_000_000 for b in bits],
        "v": [(b >> 27) % 1000 for b in bits],
        "ts": ts,
        "d": [18_000 + (b >> 37) % 3000 for b in bits],
        "j": [f'{{"k": {b % 997}, "tags": ["a", "b"]}}' for b in bits],
        "arr": [[b % 100, b % 1000] for b in bits],
        "b": [bool(b & 1) for b in bits],
        "tx": [f"name-{b % 100_003}" for b in bits],
        "tm": [(b >> 7) % 86_400_000_000 for b in bits],
        "tsn": ts,
        "u": [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes],
    }


@dataclass(frozen=True)
class _Values:
    """One row's values (see _raw_columns)."""

    key: int
    bits: int

    def after(self) -> dict[str, Any]:
        """The row as Debezium's JsonConverter writes it (decimal.handling.mode=precise, adaptive_time_microseconds)."""
        row = {name: values[0] for name, values in _raw_columns([self.key], [self.bits]).items()}
        ts_us: int = row["ts"]
        row["n"] = _unscaled(row["n"])
        row["v"] = {"scale": 1, "value": _unscaled(row["v"])}
        row["ts"] = (_EPOCH + timedelta(microseconds=ts_us)).isoformat().replace("+00:00", "Z")
        return row


@dataclass(frozen=True)
class Event:
    op: str  # c, u, d or r
    values: _Values
    lsn: int
    commit_lsn: int
    ts_ms: int

    def payload(self) -> dict[str, object]:
        row = self.values.after()
        before = (
            {name: (value if name == "id" else None) for name, value in row.items()}
            if self.op == "d"
            else None
        )
        source = {
            "version": "3.6.3.Final", "connector": "postgresql", "name": "bench", "ts_ms": self.ts_ms,
            "snapshot": "false", "db": "bench", "sequence": f'["{self.commit_lsn}","{self.lsn}"]',
            "schema": "public", "table": "t", "txId": self.commit_lsn, "lsn": self.lsn,
            "xmin": None, "origin": None, "origin_lsn": None,
        }  # fmt: skip
        return {
            "before": before, "after": None if self.op == "d" else row, "source": source,
            "transaction": None, "op": self.op, "ts_ms": self.ts_ms + 5,
        }  # fmt: skip


@dataclass(frozen=True)
class Batch:
    index: int
    events: tuple[Event, ...]

    @property
    def size(self) -> int:
        return len(self.events)

    @property
    def counts(self) -> dict[str, int]:
        ops = [e.op for e in self.events]
        return {"inserts": ops.count("c"), "updates": ops.count("u"), "deletes": ops.count("d")}

    def envelopes(self, *, schemas: bool) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) as JsonConverter writes them; schemas=False is `schemas.enable=false`."""
        for event in self.events:
            key_payload = {"id": event.values.key}
            if schemas:
                key = b'{"schema":' + KEY_SCHEMA + b',"payload":' + orjson.dumps(key_payload) + b"}"
                value = b'{"schema":' + VALUE_SCHEMA + b',"payload":' + orjson.dumps(event.payload()) + b"}"
            else:
                key, value = orjson.dumps(key_payload), orjson.dumps(event.payload())
            yield key, value

    def messages(self, topic: str, *, schemas: bool = True, first_offset: int = 0) -> list[RawMessage]:
        return [
            RawMessage(topic, 0, first_offset + i, key, value)
            for i, (key, value) in enumerate(self.envelopes(schemas=schemas))
        ]

    def decoded(self, topic: str = "bench.public.t") -> pa.Table:
        """The batch as the project decodes it (schemas on): the 'already decoded' input of ceiling and peers."""
        decoded = decode_batch(self.messages(topic), source_kind="postgres")
        if decoded.dead_letters or decoded.rows.num_rows != self.size:
            raise RuntimeError(
                f"workload batch {self.index} does not decode cleanly: {decoded.dead_letters[:1]}"
            )
        return decoded.rows


def _base_bits(table_rows: int, seed: int) -> list[int]:
    rng = random.Random(seed ^ 0xBA5E)
    return [rng.getrandbits(64) for _ in range(table_rows)]


@functools.lru_cache(maxsize=2)
def base_rows(table_rows: int, seed: int) -> pa.Table:
    """Decoded snapshot rows (op r) of keys 0..table_rows-1, with the decoder's exact schema.

    Built column-wise straight into Arrow (a million rows in seconds, not the minute decoding their
    envelopes would take); `Workload.snapshot()` gives the same rows as envelopes, to check the two agree.
    """
    keys = list(range(table_rows))
    data = _raw_columns(keys, _base_bits(table_rows, seed))
    schema = batch_schema()
    arrays = _decoded_arrays(data, table_rows, schema)
    n = table_rows
    meta = {
        columns.OP: pa.array(["r"] * n, pa.string()),
        columns.POSITION: pa.array([f"{_LSN0:016x}{_LSN0:016x}"] * n, pa.string()),
        columns.SOURCE_TS: pa.array([_T0_US] * n, pa.int64()).cast(pa.timestamp("us", "UTC")),
        columns.TOPIC: pa.array([SEED_TOPIC] * n, pa.string()),
        columns.PARTITION: pa.array([0] * n, pa.int32()),
        columns.OFFSET: pa.array(range(n), pa.int64()),
    }
    return pa.Table.from_arrays([*arrays, *meta.values()], schema=schema)


@functools.lru_cache(maxsize=1)
def batch_schema() -> pa.Schema:
    """The decoded schema of the workload's events, found by decoding one."""
    probe = Batch(-1, (Event("c", _Values(0, 1), _LSN0, _LSN0, _T0_US // 1000),))
    return probe.decoded().schema


@dataclass
class Workload:
    """The base table of `seed` plus a sequence of change batches; `stream` picks another sequence over the
    same base. Batches must be taken in order (0, 1, 2, ...): each is valid after the ones before it."""

    table_rows: int
    seed: int = 20_261_118
    stream: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _live: list[int] = field(init=False, repr=False)
    _next_key: int = field(init=False, repr=False)
    _lsn: int = field(init=False, repr=False)
    _batches: list[Batch] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed * 1_000 + self.stream)
        self._live = list(range(self.table_rows))
        self._next_key = self.table_rows
        self._lsn = _LSN0 + 1_000
        self._batches = []

    @property
    def base_rows(self) -> pa.Table:
        return base_rows(self.table_rows, self.seed)

    def snapshot(self) -> Batch:
        """The base rows as Debezium snapshot events (op r): what a connector's initial snapshot would send."""
        ts_ms = _T0_US // 1000
        events = (
            Event("r", _Values(k, b), _LSN0, _LSN0, ts_ms)
            for k, b in enumerate(_base_bits(self.table_rows, self.seed))
        )
        return Batch(-1, tuple(events))

    def batch(self, index: int, size: int) -> Batch:
        if index < len(self._batches):
            if self._batches[index].size != size:
                raise ValueError(
                    f"batch {index} was made with {self._batches[index].size} events, not {size}"
                )
            return self._batches[index]
        if index != len(self._batches):
            raise ValueError(f"batches are made in order: next is {len(self._batches)}, asked for {index}")
        deletes = round(size * DELETE_SHARE)
        updates = (size - deletes) // 2
        inserts = size - deletes - updates
        if deletes + updates > len(self._live):
            raise ValueError(
                f"batch {index} needs {deletes + updates} live keys, the table has {len(self._live)}"
            )
        rng = self._rng
        touched = rng.sample(range(len(self._live)), deletes + updates)
        deleted = {self._live[i] for i in touched[:deletes]}
        ops = [("d", self._live[i]) for i in touched[:deletes]] + [
            ("u", self._live[i]) for i in touched[deletes:]
        ]
        ops += [("c", self._next_key + i) for i in range(inserts)]
        rng.shuffle(ops)
        self._next_key += inserts
        self._live = [k for k in self._live if k not in deleted] + [k for op, k in ops if op == "c"]
        ts_ms = _T0_US // 1000 + 60_000 * (index + 1)
        events = []
        for op, key in ops:
            self._lsn += 100
            events.append(Event(op, _Values(key, rng.getrandbits(64)), self._lsn, self._lsn - 50, ts_ms))
        batch = Batch(index, tuple(events))
        self._batches.append(batch)
        return batch


def _decoded_arrays(data: dict[str, list[object]], n: int, schema: pa.Schema) -> list[pa.Array]:
    """Arrow columns equal to what core/events.py decodes from the same rows' JSON (checked in the tests)."""
    names = [f.name for f in schema if f.name not in columns.META_NAMES]
    if n == 0:
        return [pa.array([], schema.field(name).type) for name in names]
    cents: list[int] = data["n"]  # type: ignore[assignment]
    digits: list[int] = data["v"]  # type: ignore[assignment]
    out = {
        "id": pa.array(data["id"], pa.int32()),
        "n": pa.array([f"{c // 100}.{c % 100:02d}" for c in cents]).cast(schema.field("n").type),
        "v": pa.array([f"{s // 10}.{s % 10}" for s in digits], pa.string()),
        "ts": pa.array(data["ts"], pa.int64()).cast(pa.timestamp("us", "UTC")),
        "d": pa.array(data["d"], pa.int32()).cast(pa.date32()),
        "j": pa.array(data["j"], pa.string()),
        "arr": pa.array(data["arr"], schema.field("arr").type),
        "b": pa.array(data["b"], pa.bool_()),
        "tx": pa.array(data["tx"], pa.string()),
        "tm": pa.array(data["tm"], pa.int64()).cast(pa.time64("us")),
        "tsn": pa.array(data["tsn"], pa.int64()).cast(pa.timestamp("us")),
        "u": pa.array(data["u"], pa.string()),
    }
    return [out[name] for name in names]


def with_topic(rows: pa.Table, topic: str) -> pa.Table:
    """`rows` as read from `topic` (a sink only takes rows of its own topic)."""
    index = rows.schema.get_field_index(columns.TOPIC)
    return rows.set_column(index, rows.schema.field(index), pa.array([topic] * rows.num_rows, pa.string()))


def data_columns(rows: pa.Table) -> pa.Table:
    return rows.select([n for n in rows.column_names if n not in columns.META_NAMES])


def is_delete(rows: pa.Table) -> pa.ChunkedArray:
    return pc.equal(rows[columns.OP], "d")
