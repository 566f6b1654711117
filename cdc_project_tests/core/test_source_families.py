"""decode_batch over the recorded and documented cases of every source family, table-driven.

PostgreSQL cases were captured from Debezium 3.6 here; MySQL, MongoDB and Cassandra cases follow Debezium
3.x's documented formats (each folder's README names the source). Values are compared in their rendered
form (core/rendering.py), which is exactly what `cdc decode` prints.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from cdc_project.config import SourceKind
from cdc_project.core import columns as meta
from cdc_project.core.events import DecodedBatch, DecodeOptions, decode_batch
from cdc_project.core.rendering import render
from cdc_project_tests.cases import load_case


def decoded(case: str, kind: SourceKind, topic: str) -> DecodedBatch:
    return decode_batch([m for m in load_case(case) if m.topic == topic], source_kind=kind)


def rendered_rows(batch: DecodedBatch) -> dict[int, dict[str, Any]]:
    return {row[meta.OFFSET]: {k: render(v) for k, v in row.items()} for row in batch.rows.to_pylist()}


FAMILY_CASES = [
    # (case file, kind, topic, ops in order, key columns, dead-lettered offsets, ignored reasons)
    (
        "postgres/alltypes_default.jsonl",
        "postgres",
        "rec.public.alltypes",
        ["r", "r", "c", "u", "u", "d"],
        ("id",),
        [],
        ["tombstone"],
    ),
    (
        "postgres/alltypes_default.jsonl",
        "postgres",
        "rec.public.pair",
        ["c", "c", "u", "t", "c"],
        ("a", "b"),
        [],
        [],
    ),
    (
        "postgres/alltypes_default.jsonl",
        "postgres",
        "rec.transaction",
        [],
        (),
        [],
        ["transaction BEGIN", "transaction END"] * 6,
    ),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        ["r", "r", "c", "u", "u", "u", "d"],
        ("id",),
        [],
        ["tombstone"],
    ),
    (
        "mysql/inventory_order_lines.jsonl",
        "mysql",
        "dbserver1.inventory.order_lines",
        ["c", "c", "d"],
        ("order_id", "line_no"),
        [],
        ["tombstone"],
    ),
    ("mysql/schema_changes.jsonl", "mysql", "dbserver1", [], (), [], ["schema change"]),
    ("mysql/inventory_customers.jsonl", "mysql", "__debezium-heartbeat.dbserver1", [], (), [], ["heartbeat"]),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        ["r", "r", "c", "u", "u", "c", "u", "d"],
        ("_id",),
        [5, 6],
        ["tombstone"],
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        ["r", "c", "u", "u", "d"],
        ("id", "registration_date"),
        [5],
        [],
    ),
    (
        "cassandra/inventory_page_views.jsonl",
        "cassandra",
        "fulfillment.inventory.page_views",
        ["u", "u"],
        ("page",),
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    ("case", "kind", "topic", "ops", "keys", "dead", "ignored"),
    FAMILY_CASES,
    ids=[f"{c[0]}:{c[2]}" for c in FAMILY_CASES],
)
def test_decode_batch_every_family_ops_keys_dead_letters_and_ignored(
    case: str,
    kind: SourceKind,
    topic: str,
    ops: list[str],
    keys: tuple[str, ...],
    dead: list[int],
    ignored: list[str],
) -> None:
    batch = decoded(case, kind, topic)
    assert batch.rows[meta.OP].to_pylist() == ops
    assert batch.key_columns == keys
    assert [letter.offset for letter in batch.dead_letters] == dead
    assert [i.reason for i in batch.ignored] == ignored
    positions = batch.rows[meta.POSITION].to_pylist()
    assert positions == sorted(positions)  # every family's recorded order is its position order
    assert len({len(p) for p in positions}) <= 1  # one fixed width per kind


VALUE_CASES = [
    # (case, kind, topic, offset, column, rendered value): one row per type mapping worth pinning down
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "birth_year",
        1990,
    ),  # Year
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "tags",
        "a,c",
    ),  # EnumSet
    ("mysql/inventory_customers.jsonl", "mysql", "dbserver1.inventory.customers", 0, "price", "12.34"),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "big",
        "12345.678901234567890123456789012345",
    ),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "created",
        "2026-11-22T14:57:09.457559Z",
    ),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "alarm",
        "08:30:00.500000",
    ),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "flags",
        "1010",
    ),  # BIT(4)
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "location",
        {"wkb": "AQEAAAAAAAAAAIAlQBSuR+F69E1A", "srid": 4326},
    ),
    (
        "mysql/inventory_customers.jsonl",
        "mysql",
        "dbserver1.inventory.customers",
        0,
        "pt",
        {"x": 1.5, "y": -2.5, "wkb": "AQEAAAAAAAAAAAD4PwAAAAAAAATA", "srid": None},
    ),
    ("mysql/inventory_customers.jsonl", "mysql", "dbserver1.inventory.customers", 2, "price", "-0.99"),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "_id",
        "596e275826f08b2730779e1f",
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "visits",
        1004,
    ),  # NumberLong
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "joined",
        "2023-11-14T22:13:20.000000Z",
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "balance",
        "1234.5600",
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "avatar",
        "iVBORw==",
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "token",
        "738b9458-52af-44aa-b570-6c9f22617972",
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "pattern",
        {"pattern": "^an", "options": "i"},
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "seen",
        {"t": 1700000000, "i": 3},
    ),
    ("mongodb/inventory_customers.jsonl", "mongodb", "dbserver1.inventory.customers", 0, "low", "MinKey"),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "orders",
        [{"sku": "A-1", "qty": 2, "gift": None}, {"sku": "B-2", "qty": 1, "gift": True}],
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        0,
        "mixed",
        ["1", "two", '{"three":3}'],
    ),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        1,
        "score",
        "Infinity",
    ),  # canonical
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        1,
        "joined",
        "2023-11-14T22:15:00.000000Z",
    ),
    ("mongodb/inventory_customers.jsonl", "mongodb", "dbserver1.inventory.customers", 1, "avatar", "AAE="),
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        2,
        "joined",
        "2023-11-14T22:15:00.250000Z",
    ),  # relaxed
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        4,
        "visits",
        1005,
    ),  # updateDescription
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        4,
        "nickname",
        None,
    ),  # removed
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        0,
        "registration_date",
        "2019-07-04T01:15:42.545000Z",
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        0,
        "session",
        "PT5400.000000S",
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        0,
        "prefs",
        {"lang": "nb", "theme": "dark"},
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        0,
        "pair",
        {"field1": 1, "field2": "one"},
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        0,
        "tags",
        ["gold", "vip"],
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        3,
        "first_name",
        None,
    ),  # deleted cell
]


@pytest.mark.parametrize(("case", "kind", "topic", "offset", "column", "expected"), VALUE_CASES)
def test_decode_batch_every_family_values(
    case: str, kind: SourceKind, topic: str, offset: int, column: str, expected: Any
) -> None:
    assert rendered_rows(decoded(case, kind, topic))[offset][column] == expected


PARTIAL_CASES = [
    # (case, kind, topic, offset, columns the event leaves unchanged): partial rows never null a column
    (
        "mongodb/inventory_customers.jsonl",
        "mongodb",
        "dbserver1.inventory.customers",
        4,
        {"_id", "visits", "score", "nickname"},
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        1,
        {"id", "registration_date", "first_name", "tags"},
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        2,
        {"id", "registration_date", "email"},
    ),
    (
        "cassandra/inventory_customers.jsonl",
        "cassandra",
        "fulfillment.inventory.customers",
        3,
        {"id", "registration_date", "first_name"},
    ),
]


@pytest.mark.parametrize(("case", "kind", "topic", "offset", "carried"), PARTIAL_CASES)
def test_decode_batch_partial_rows_list_every_other_column_as_unchanged(
    case: str, kind: SourceKind, topic: str, offset: int, carried: set[str]
) -> None:
    batch = decoded(case, kind, topic)
    row = rendered_rows(batch)[offset]
    assert set(row[meta.UNAVAILABLE]) == set(batch.data_schema.names) - carried


def test_decode_batch_full_rows_of_partial_families_are_not_partial() -> None:
    rows = rendered_rows(
        decoded("cassandra/inventory_customers.jsonl", "cassandra", "fulfillment.inventory.customers")
    )
    assert rows[0][meta.UNAVAILABLE] is None  # a snapshot row is a whole row
    assert rows[4][meta.UNAVAILABLE] is None  # a delete names its key, nothing is kept
    mongo = rendered_rows(
        decoded("mongodb/inventory_customers.jsonl", "mongodb", "dbserver1.inventory.customers")
    )
    assert mongo[3][meta.UNAVAILABLE] is None  # an update with the full document


@pytest.mark.parametrize(
    ("case", "offset", "words"),
    [
        (
            "mongodb/inventory_customers.jsonl",
            5,
            ["nested path 'address.city'", "change_streams_update_full"],
        ),
        ("mongodb/inventory_customers.jsonl", 6, ["truncates array 'orders'", "change_streams_update_full"]),
        ("cassandra/inventory_customers.jsonl", 5, ["range tombstone", "INCL_END_BOUND()", "@5"]),
    ],
)
def test_decode_batch_events_the_lake_cannot_apply_name_what_and_where(
    case: str, offset: int, words: list[str]
) -> None:
    kind: SourceKind = "mongodb" if case.startswith("mongodb") else "cassandra"
    topic = "dbserver1.inventory.customers" if kind == "mongodb" else "fulfillment.inventory.customers"
    [letter] = [d for d in decoded(case, kind, topic).dead_letters if d.offset == offset]
    assert letter.stage == "decode"
    assert all(word in letter.error_message for word in words)


def test_decode_batch_mongodb_delete_row_is_the_key_id() -> None:
    rows = rendered_rows(
        decoded("mongodb/inventory_customers.jsonl", "mongodb", "dbserver1.inventory.customers")
    )
    assert rows[9][meta.OP] == "d" and rows[9]["_id"] == "596e275826f08b2730779e21"


def test_decode_batch_mongodb_transaction_events_keep_their_order() -> None:
    rows = rendered_rows(
        decoded("mongodb/inventory_customers.jsonl", "mongodb", "dbserver1.inventory.customers")
    )
    first, second = rows[7], rows[8]  # same cluster time and ord, total_order 1 and 2
    assert first[meta.POSITION] < second[meta.POSITION]
    assert second["name"] == "Daniel"


@pytest.mark.parametrize(
    ("case", "kind", "topic"),
    [
        ("mysql/inventory_customers_schemas_off.jsonl", "mysql", "dbserver1.inventory.customers"),
        ("mongodb/inventory_customers_schemas_off.jsonl", "mongodb", "dbserver1.inventory.customers"),
        ("cassandra/inventory_customers_schemas_off.jsonl", "cassandra", "fulfillment.inventory.customers"),
    ],
)
def test_decode_batch_schemas_off_keeps_ops_positions_and_keys(
    case: str, kind: SourceKind, topic: str
) -> None:
    on = decoded(case.replace("_schemas_off", ""), kind, topic)
    off = decoded(case, kind, topic)
    for column in (meta.OP, meta.POSITION, meta.SOURCE_TS, meta.OFFSET):
        assert off.rows[column].to_pylist() == on.rows[column].to_pylist()[: off.rows.num_rows], column
    assert off.key_columns == on.key_columns
    assert all(not pa.types.is_null(field.type) for field in off.data_schema)


def test_decode_batch_mongodb_ignores_a_declared_schema() -> None:
    messages = [
        m
        for m in load_case("mongodb/inventory_customers.jsonl")
        if m.topic == "dbserver1.inventory.customers"
    ]
    options = DecodeOptions(declared={"name": "int64"})  # BSON types win: names stay strings
    batch = decode_batch(messages, source_kind="mongodb", options=options)
    assert batch.data_schema.field("name").type == pa.string()
