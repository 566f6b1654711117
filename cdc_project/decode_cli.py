"""`cdc decode`: what the pipeline makes of Kafka messages, one JSON line in, one JSON line out.

Input lines are `{"topic", "partition", "offset", "key", "value"}`: key and value are the message's JSON or
null (a JSON string is taken as the message's text, which is how the recorded cases store it), or
`"key_b64"`/`"value_b64"` for raw bytes. A missing offset counts up per topic and partition. Messages are
decoded per topic in input order with the pipeline's own `decode_batch`, as one batch per topic: a partial
row's `unchanged` columns and the `schema` are those of that batch. The source kind comes from each topic's
`source.connector` unless `--source-kind` names it.

Output, in input order: a change as {topic, partition, offset, table, op, key, position, commit_time, row,
unchanged, schema}; a message that is no change as {topic, partition, offset, ignored}; one that cannot be
decoded as {topic, partition, offset, dead_letter: {error, reason}}.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, get_args

import msgspec

from cdc_project.config import SourceKind
from cdc_project.core import columns as meta
from cdc_project.core.errors import MessageFileError
from cdc_project.core.events import DecodedBatch, DecodeOptions, RawMessage, decode_batch
from cdc_project.core.message_lines import MessageLines, connector_kind, source_block
from cdc_project.core.rendering import qualified_table, render
from cdc_project.core.type_mapping import BINARY_MODES

_JSON = msgspec.json.Decoder()
_ENCODE = msgspec.json.Encoder()
Coordinates = tuple[str, int, int]


@dataclass(frozen=True)
class _Line:
    number: int
    message: RawMessage | None  # None: the line itself is unreadable
    problem: str | None = None


def read_lines(lines: Iterable[str]) -> Iterator[_Line]:
    """Every non-blank line; an unreadable one is kept with its problem (it prints as a dead letter)."""
    reader = MessageLines("<input>")
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield _Line(number, reader.parse(text, number))
        except MessageFileError as exc:
            yield _Line(number, None, str(exc))


def _kind_of(messages: list[RawMessage], forced: SourceKind | None) -> SourceKind:
    # Control topics (heartbeats, transactions) name no connector and decode the same under any kind.
    return forced or connector_kind(messages) or "postgres"


def _changes(batch: DecodedBatch) -> dict[Coordinates, dict[str, Any]]:
    rows = batch.rows.to_pylist()
    data = batch.data_schema.names
    schema = {field.name: str(field.type) for field in batch.data_schema}
    out = {}
    for row in rows:
        unchanged = row.get(meta.UNAVAILABLE) or []
        op = row[meta.OP]
        out[row[meta.TOPIC], row[meta.PARTITION], row[meta.OFFSET]] = {
            "op": op,
            "key": {}
            if op == "t"
            else {name: render(row[name]) for name in batch.key_columns if name in row},
            "position": row[meta.POSITION],
            "commit_time": render(row[meta.SOURCE_TS]),
            "row": None if op in ("d", "t") else {n: render(row[n]) for n in data if n not in unchanged},
            "unchanged": unchanged,
            "schema": schema,
        }
    return out


def decode_lines(
    lines: Iterable[str], *, source_kind: SourceKind | None = None, options: DecodeOptions | None = None
) -> Iterator[dict[str, Any]]:
    """One output record per input message, in input order (see the module docstring)."""
    parsed = list(read_lines(lines))
    by_topic: dict[str, list[RawMessage]] = {}
    for line in parsed:
        if line.message is not None:
            by_topic.setdefault(line.message.topic, []).append(line.message)
    results: dict[Coordinates, dict[str, Any]] = {}
    for messages in by_topic.values():
        batch = decode_batch(messages, source_kind=_kind_of(messages, source_kind), options=options)
        by_coordinates = {(m.topic, m.partition, m.offset): m for m in messages}
        for coordinates, change in _changes(batch).items():
            source = source_block(by_coordinates[coordinates])
            results[coordinates] = {"table": qualified_table(source), **change}
        for ignored in batch.ignored:
            results[ignored.topic, ignored.partition, ignored.offset] = {"ignored": ignored.reason}
        for letter in batch.dead_letters:
            reason = {"error": letter.error_class, "reason": letter.error_message}
            results[letter.topic, letter.partition, letter.offset] = {"dead_letter": reason}
    for line in parsed:
        if line.message is None:
            yield {"line": line.number, "dead_letter": {"error": "UnreadableLine", "reason": line.problem}}
            continue
        m = line.message
        yield {
            "topic": m.topic,
            "partition": m.partition,
            "offset": m.offset,
            **results[m.topic, m.partition, m.offset],
        }


def _declared(path: str | None) -> dict[str, Any] | None:
    return None if path is None else dict(_JSON.decode(Path(path).read_bytes()))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="-", help="JSON lines of Kafka messages; - or none: stdin")
    parser.add_argument(
        "--source-kind", choices=get_args(SourceKind), help="default: each topic's source.connector"
    )
    parser.add_argument(
        "--schema", help="schemas-off events: a JSON file {column: Connect type or field schema}"
    )
    parser.add_argument("--binary-handling-mode", choices=BINARY_MODES, default="bytes")


def run(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    options = DecodeOptions(declared=_declared(args.schema), binary_handling_mode=args.binary_handling_mode)
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with stream:
        for record in decode_lines(stream, source_kind=args.source_kind, options=options):
            out.write(_ENCODE.encode(record).decode() + "\n")
    return 0
