"""cdc_project/decode_cli.py: `cdc decode` prints one JSON line per Kafka message, in input order.

Runs on the recorded and documented cases; the last test runs the real command in a subprocess.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest

from cdc_project.decode_cli import decode_lines
from cdc_project_tests.cases import CASES

CHANGE_KEYS = [
    "topic",
    "partition",
    "offset",
    "table",
    "op",
    "key",
    "position",
    "commit_time",
    "row",
    "unchanged",
    "schema",
]


def decode_file(case: str, **kwargs: Any) -> list[dict[str, Any]]:
    return list(decode_lines((CASES / case).read_text().splitlines(), **kwargs))


def test_decode_lines_one_output_per_message_in_input_order() -> None:
    lines = (CASES / "postgres/alltypes_default.jsonl").read_text().splitlines()
    out = decode_file("postgres/alltypes_default.jsonl")
    assert [o["topic"] for o in out] == [json.loads(line)["topic"] for line in lines]
    changes = [o for o in out if "op" in o]
    assert all(list(o) == CHANGE_KEYS for o in changes)
    assert {o["ignored"] for o in out if "ignored" in o} == {
        "heartbeat",
        "transaction BEGIN",
        "transaction END",
        "tombstone",
    }


def test_decode_lines_change_fields() -> None:
    out = decode_file("postgres/alltypes_default.jsonl")
    pair = [o for o in out if o["topic"] == "rec.public.pair"]
    assert pair[0] == {
        "topic": "rec.public.pair",
        "partition": 0,
        "offset": 0,
        "table": "rec_default.public.pair",
        "op": "c",
        "key": {"a": 1, "b": "x"},
        "position": pair[0]["position"],
        "commit_time": pair[0]["commit_time"],
        "row": {"a": 1, "b": "x", "v": 10},
        "unchanged": [],
        "schema": {"a": "int32", "b": "string", "v": "int32"},
    }
    assert pair[0]["commit_time"].endswith("Z") and len(pair[0]["commit_time"]) == 27
    assert [o["position"] for o in pair] == sorted(o["position"] for o in pair)
    truncate = next(o for o in pair if o["op"] == "t")
    assert (truncate["key"], truncate["row"]) == ({}, None)
    update = next(o for o in out if o.get("op") == "u" and o["key"] == {"id": 3})
    assert update["unchanged"] == ["c_big_text"] and "c_big_text" not in update["row"]
    delete = next(o for o in out if o.get("op") == "d")
    assert (delete["key"], delete["row"]) == ({"id": 2}, None)


def test_decode_lines_source_kind_comes_from_each_topic() -> None:
    out = decode_file("mongodb/inventory_customers.jsonl")
    first = next(o for o in out if "op" in o)
    assert first["key"] == {"_id": "596e275826f08b2730779e1f"}
    assert first["table"] == "inventory.inventory.customers"
    letters = [o for o in out if "dead_letter" in o]
    assert [o["offset"] for o in letters] == [5, 6]
    assert set(letters[0]["dead_letter"]) == {"error", "reason"}
    assert "address.city" in letters[0]["dead_letter"]["reason"]


def test_decode_lines_input_forms() -> None:
    value = {
        "before": None,
        "after": {"id": 1, "b": "AP8Q"},
        "op": "c",
        "source": {
            "connector": "postgresql",
            "db": "d",
            "schema": "s",
            "table": "t",
            "sequence": '["1","2"]',
            "ts_ms": 5,
        },
    }
    lines = [
        json.dumps(
            {"topic": "p.s.t", "partition": 0, "offset": 7, "key": {"id": 1}, "value": value}
        ),  # JSON values
        json.dumps(
            {
                "topic": "p.s.t",
                "partition": 0,
                "key_b64": base64.b64encode(b'{"id":1}').decode(),
                "value_b64": base64.b64encode(json.dumps(value).encode()).decode(),
            }
        ),  # raw bytes, no offset
        json.dumps({"topic": "p.s.t", "partition": 0, "offset": 9, "key": {"id": 1}, "value": None}),
        "not json",
        json.dumps({"topic": "p.s.t", "partition": 0, "offset": 10, "key": None, "value": {"op": "c"}}),
    ]
    out = list(decode_lines(lines, options=None))
    assert [o.get("offset") for o in out] == [7, 8, 9, None, 10]
    assert out[0]["row"] == out[1]["row"] == {"id": 1, "b": "AP8Q"}
    assert (
        out[0]["position"] == f"{1:020d}{2:020d}" and out[0]["commit_time"] == "1970-01-01T00:00:00.005000Z"
    )
    assert out[2]["ignored"] == "tombstone"
    assert out[3] == {
        "line": 4,
        "dead_letter": {"error": "UnreadableLine", "reason": out[3]["dead_letter"]["reason"]},
    }
    assert (
        out[4]["dead_letter"]["error"] == "DecodeError"
        and "no 'source' block" in out[4]["dead_letter"]["reason"]
    )


@pytest.mark.parametrize(
    ("case", "argv"),
    [
        ("mysql/inventory_customers.jsonl", []),
        ("postgres/alltypes_string_isostring_hex.jsonl", ["--binary-handling-mode", "hex"]),
        ("cassandra/inventory_customers.jsonl", ["--source-kind", "cassandra"]),
    ],
)
def test_cdc_decode_command_reads_stdin(case: str, argv: list[str]) -> None:
    text = (CASES / case).read_text()
    done = subprocess.run(
        [sys.executable, "-m", "cdc_project.cli", "decode", *argv],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(text.splitlines())
    assert any("op" in o for o in out)
