"""core/ordering.py: positions compare as strings in source commit order, per source family.

The PostgreSQL cases use recorded Debezium 3.6 `source` blocks and a hand-built interleaving that shows why
the event LSN alone is not a commit order.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson
import pytest

from cdc_project.config import SourceKind
from cdc_project.core.errors import DecodeError
from cdc_project.core.ordering import POSITION_ENCODERS, position_for
from cdc_project_tests.cases import load_case, load_postgres_case


def pg(commit: int | None, lsn: int) -> dict[str, Any]:
    sequence = orjson.dumps([None if commit is None else str(commit), str(lsn)]).decode()
    return {"sequence": sequence, "lsn": lsn}


def test_position_for_covers_every_source_kind() -> None:
    assert set(POSITION_ENCODERS) == set(get_args(SourceKind))


def test_position_for_postgres_encodes_commit_then_event_lsn() -> None:
    assert position_for("postgres", pg(26700496, 26700552)) == f"{26700496:020d}{26700552:020d}"


def test_position_for_postgres_interleaved_transactions_follow_commit_order() -> None:
    # T1 writes at LSN 100, T2 writes at 110 and commits (end LSN 130), then T1 writes at 120 and commits
    # (end LSN 150). pgoutput streams T2 first, then T1; the commit before both ended at LSN 90.
    t2_write = pg(90, 110)
    t1_first, t1_second = pg(130, 100), pg(130, 120)
    in_commit_order = [t2_write, t1_first, t1_second]

    by_event_lsn = sorted(in_commit_order, key=lambda s: s["lsn"])
    assert by_event_lsn != in_commit_order  # T1's first write would sort before T2's committed one

    positions = [position_for("postgres", s) for s in in_commit_order]
    assert positions == sorted(positions)


def test_position_for_postgres_null_last_commit_uses_the_event_lsn() -> None:
    # Snapshot rows and the first transaction after the snapshot: '[null,"26422064"]'.
    snapshot = {"sequence": '[null,"26422064"]', "lsn": 26422064, "snapshot": "first"}
    assert position_for("postgres", snapshot) == f"{26422064:020d}{0:020d}"
    first_tx = [pg(None, 26699976), pg(None, 26700200)]
    next_tx = pg(26700384, 26700384)  # its lastCommitLsn is the first transaction's end LSN
    positions = [position_for("postgres", s) for s in [snapshot, *first_tx, next_tx]]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


def test_position_for_postgres_snapshot_rows_sort_before_a_change_at_the_snapshot_lsn() -> None:
    # The first streamed change can start at exactly the snapshot's LSN; the MERGE applies only a strictly
    # greater position, so the snapshot row must sort first.
    snapshot = {"sequence": '[null,"26422064"]', "lsn": 26422064, "snapshot": "last"}
    change = {"sequence": '[null,"26422064"]', "lsn": 26422064, "snapshot": "false"}
    assert position_for("postgres", snapshot) < position_for("postgres", change)


def test_position_for_postgres_without_sequence_uses_lsn() -> None:
    assert position_for("postgres", {"lsn": 5}) == f"{5:020d}{5:020d}"


def test_position_for_postgres_recorded_events_are_in_commit_order() -> None:
    sources = []
    for message in load_postgres_case():
        payload = orjson.loads(message.value)["payload"] if message.value else {}
        if "op" in payload:
            sources.append(payload["source"])
    positions = [position_for("postgres", source) for source in sources]
    assert len(positions) == 7
    assert positions == sorted(positions)


@pytest.mark.parametrize("case", ["postgres/alltypes_default.jsonl", "postgres/alltypes_schemas_off.jsonl"])
def test_position_for_postgres_recorded_snapshot_precedes_streaming(case: str) -> None:
    for topic in ("rec.public.alltypes", "rec.public.pair"):
        payloads = [orjson.loads(m.value) for m in load_case(case) if m.topic == topic and m.value]
        payloads = [p.get("payload", p) for p in payloads]
        positions = [position_for("postgres", p["source"]) for p in payloads]
        assert positions == sorted(positions), topic
        assert len(set(positions)) == len(positions) - (topic.endswith("alltypes"))  # 2 snapshot rows tie


def test_position_for_mysql_orders_by_file_then_pos_then_row() -> None:
    ordered = [
        {"file": "mysql-bin.000009", "pos": 900, "row": 0, "snapshot": "true"},  # snapshot at this position
        {"file": "mysql-bin.000009", "pos": 900, "row": 0},  # the first change there sorts after it
        {"file": "mysql-bin.000009", "pos": 900, "row": 1},  # second row of one rows event
        {"file": "mysql-bin.000009", "pos": 1200, "row": 0},
        {"file": "mysql-bin.000010", "pos": 4, "row": 0},  # rotation: a new file restarts pos
        {"file": "mysql-bin.1000000", "pos": 4},  # the suffix outgrows six digits; row defaults to 0
    ]
    positions = [position_for("mysql", s) for s in ordered]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert position_for("mariadb", ordered[0]) == positions[0]


def test_position_for_mysql_gtid_orders_transactions_before_binlog_coordinates() -> None:
    uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    ordered = [
        {"file": "mysql-bin.000003", "pos": 154, "row": 0, "snapshot": "last"},  # snapshot rows carry no GTID
        {"file": "mysql-bin.000003", "pos": 900, "row": 0, "gtid": f"{uuid}:9"},
        {"file": "mysql-bin.000003", "pos": 900, "row": 1, "gtid": f"{uuid}:9"},
        {"file": "mysql-bin.000002", "pos": 400, "row": 0, "gtid": f"{uuid}:10"},  # a later transaction wins
        {"file": "mysql-bin.000002", "pos": 500, "row": 0, "gtid": f"{uuid}:tag:11"},  # MySQL 8.4 tagged
    ]
    positions = [position_for("mysql", s) for s in ordered]
    assert positions == sorted(positions)
    assert position_for("mariadb", {"file": "m.000001", "pos": 4, "gtid": "0-1-12"}) > positions[-1]


def test_position_for_mongodb_orders_by_cluster_time_ord_then_transaction_order() -> None:
    ordered = [
        ({"ts_ms": 1_000, "ord": 7, "snapshot": "true"}, None),  # snapshot start position
        ({"ts_ms": 1_000, "ord": 7}, None),
        ({"ts_ms": 1_000, "ord": 8}, {"id": "t", "total_order": 1, "data_collection_order": 1}),
        ({"ts_ms": 1_000, "ord": 8}, {"id": "t", "total_order": 2, "data_collection_order": 1}),
        ({"ts_ms": 2_000, "ord": 1}, None),
    ]
    positions = [position_for("mongodb", s, t) for s, t in ordered]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


def test_position_for_cassandra_orders_by_write_time_then_commit_log() -> None:
    ordered = [
        {"ts_us": 1_500, "snapshot": True},  # snapshot row: no commit log position
        {"ts_us": 1_500, "file": "CommitLog-7-1646091455063.log", "pos": 9},
        {"ts_us": 1_500, "file": "CommitLog-7-1646091455064.log", "pos": 3},
        {"ts_ms": 2},  # only milliseconds
        {"ts_ms": 2_001},  # a pre-2.6 agent wrote microseconds into ts_ms
    ]
    positions = [position_for("cassandra", s) for s in ordered]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("kind", "source", "width"),
    [
        ("postgres", pg(1, 2), 40),
        ("postgres", {"sequence": "[null,null]", "lsn": 2**64 - 1}, 40),  # the largest LSN still fits
        ("mysql", {"file": "mysql-bin.000001", "pos": 4, "row": 0, "gtid": "u:18446744073709551615"}, 60),
        ("mongodb", {"ts_ms": 1_795_359_434_000, "ord": 1}, 40),
        ("cassandra", {"ts_us": 1_795_359_434_000_000, "file": "CommitLog-7-1.log", "pos": 2**31}, 50),
    ],
)
def test_position_for_has_a_fixed_width_per_kind(
    kind: SourceKind, source: dict[str, Any], width: int
) -> None:
    position = position_for(kind, source)
    assert len(position) == width
    assert position.isdigit()


@pytest.mark.parametrize(
    ("kind", "source", "field"),
    [
        ("postgres", {"sequence": "[null,null]"}, "source.lsn"),  # neither sequence[1] nor lsn
        ("postgres", {"sequence": "not json"}, "source.sequence"),
        ("postgres", {"sequence": '["1"]', "lsn": 1}, "source.sequence"),  # not a pair
        ("postgres", {"lsn": -1}, "source.lsn"),  # negative values would break the fixed width
        ("mysql", {"pos": 4}, "source.file"),
        ("mysql", {"file": "mysql-bin.000001"}, "source.pos"),
        ("mysql", {"file": "binlog", "pos": 4}, "source.file"),  # no sequence number suffix
        ("mongodb", {"ts_ms": 1}, "source.ord"),
        ("mongodb", {"ord": 1}, "source.ts_ms"),
        ("mysql", {"file": "mysql-bin.000001", "pos": 4, "gtid": "3e11fa47:x"}, "source.gtid"),
        ("cassandra", {}, "source.ts_ms"),
        ("cassandra", {"ts_us": 1, "file": "segment.log"}, "source.file"),
    ],
)
def test_position_for_missing_field_raises_decode_error(
    kind: SourceKind, source: dict[str, Any], field: str
) -> None:
    with pytest.raises(DecodeError, match=field.replace(".", r"\.")):
        position_for(kind, source)


def test_position_for_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError, match="Valid values are"):
        position_for("oracle", {})  # type: ignore[arg-type]
