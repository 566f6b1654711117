"""The decoder's hot loop: a batch of messages -> events, with PostgreSQL inserts and updates fast.

PostgreSQL inserts and updates are most of any busy topic. For them msgspec decodes only the fields the
event needs (op, after, and source.sequence/snapshot/ts), skipping the rest of the envelope unparsed, and
the position is the two decimal LSNs of `source.sequence` zero-padded, which is what
ordering.postgres_position writes, without converting a number. The row is decoded into a struct of the
table's columns instead of a dict: cheaper to build and free, and turned into columns by one C-level
transposition (`row_columns`). The columns are the plan's (schemas on) or, without a schema, the first row's;
a row with a column the struct lacks fails the struct decode and is read carefully.

Every other message (snapshot rows, deletes, control messages, other sources, anything odd) is read by
envelope.read_event, which names what is wrong. Both produce the same event for a well-formed message
(tested on every recording).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cdc_project.core.dead_letters import DeadLetter
from cdc_project.core.envelope import Event, Ignored, Reader, read_event
from cdc_project.core.ordering import NOT_SNAPSHOT

if TYPE_CHECKING:
    from cdc_project.core.events import RawMessage

Decode = Callable[[bytes], Any]
_ROW_COLUMNS: dict[type, tuple[str, ...]] = {}  # struct row type -> its columns; never cleared (small)
_DECODERS: dict[tuple[str, ...], Decode] = {}
_DECODER_LIMIT = 1024


class _Careful(Exception):
    """The hot loop met something it does not handle; read_event takes the message from the start."""


class _HotSource(msgspec.Struct):
    sequence: str
    snapshot: str | bool | None = None
    ts_us: int | None = None
    ts_ms: int | None = None


class _HotEnvelope(msgspec.Struct):
    """The fields of a PostgreSQL insert/update the hot loop reads, with the row as a dict."""

    op: str
    source: _HotSource
    after: dict[str, Any] | None = None


_DICT_DECODE: Decode = msgspec.json.Decoder(_HotEnvelope).decode


def _struct_decoder(columns: tuple[str, ...]) -> Decode:
    """A decoder of hot envelopes whose row is a struct of exactly `columns` (an unknown one raises)."""
    decode = _DECODERS.get(columns)
    if decode is None:
        names = [f"c{i}" for i in range(len(columns))]  # column names need not be Python identifiers
        row = msgspec.defstruct(
            "Row",
            [(n, Any, None) for n in names],
            rename=dict(zip(names, columns)),
            forbid_unknown_fields=True,
        )
        envelope = msgspec.defstruct(
            "RowEnvelope", [("op", str), ("source", _HotSource), ("after", row | None, None)]
        )
        _ROW_COLUMNS[row] = columns
        if len(_DECODERS) >= _DECODER_LIMIT:
            _DECODERS.clear()
        decode = _DECODERS[columns] = msgspec.json.Decoder(envelope).decode
    return decode


def row_columns(rows: list[Any]) -> dict[str, list[Any]] | None:
    """Column name -> values of `rows` when they are struct rows of one type, transposed in C; None otherwise.

    Dict rows (deletes, snapshot rows: read carefully) may be mixed in when their columns are the struct's.
    """
    types = set(map(type, rows))
    structs = [t for t in types if t in _ROW_COLUMNS]
    if len(structs) != 1 or len(types) > 2 or (len(types) == 2 and dict not in types):
        return None
    struct: Any = structs[0]
    astuple: Any = msgspec.structs.astuple
    columns = _ROW_COLUMNS[struct]
    if len(types) == 1:
        tuples: Any = map(astuple, rows)
    else:
        known = set(columns)
        if any(type(row) is dict and not row.keys() <= known for row in rows):
            return None
        tuples = [astuple(row) if type(row) is struct else tuple(map(row.get, columns)) for row in rows]
    return dict(zip(columns, map(list, zip(*tuples))))


def has_struct_rows(rows: list[Any]) -> bool:
    return any(t in _ROW_COLUMNS for t in set(map(type, rows)))


def row_dict(row: Any) -> Mapping[str, Any]:
    """A row as a mapping, whether the hot loop decoded it as a struct or read_event as a dict."""
    columns = _ROW_COLUMNS.get(type(row))
    return row if columns is None else dict(zip(columns, msgspec.structs.astuple(row)))


def read_events(
    messages: Sequence[RawMessage], reader: Reader
) -> tuple[list[Event], dict[int, DeadLetter], list[Ignored]]:
    """Every message's event, dead letter or reason to ignore it, in input order."""
    events: list[Event] = []
    letters: dict[int, DeadLetter] = {}
    ignored: list[Ignored] = []
    hot = reader.kind == "postgres"
    cache, declared, append = reader.cache, reader.declared, events.append
    by_plan: dict[int, Decode] = {}  # plans are cached singletons: identity keys them for this batch
    learned: Decode | None = None  # schemas off: the struct decoder of the first hot row's columns
    for index, message in enumerate(messages):
        value = message.value
        if value is None:  # the Kafka tombstone after a delete: the delete event already said it all
            ignored.append(Ignored(message.topic, message.partition, message.offset, "tombstone"))
            continue
        if hot:  # every check below is one the careful reader makes too
            plan = None
            try:
                header = b""
                if value.startswith(b'{"schema":'):
                    parts = cache.split(value)
                    if parts is None:
                        raise _Careful
                    header, value = parts
                    plan = cache.plan_for(header)
                    if plan is None or not plan.is_envelope:
                        raise _Careful
                    decode = by_plan.get(id(plan))
                    if decode is None:
                        decode = by_plan[id(plan)] = _struct_decoder(tuple(c.name for c in plan.columns))
                else:
                    decode = learned or _DICT_DECODE
                envelope = decode(value)
                op, row, source = envelope.op, envelope.after, envelope.source
                if (op != "u" and op != "c") or row is None or source.snapshot not in NOT_SNAPSHOT:
                    raise _Careful
                if header:
                    cache.hint = header
                elif learned is None:  # this row's columns are the batch's: decode it again as a struct
                    learned = _struct_decoder(tuple(row))
                    row = learned(value).after
                opener, commit, comma, lsn, closer = source.sequence.split('"')  # ValueError unless 5
                if opener != "[" or comma != "," or closer != "]" or not commit or not lsn:
                    raise _Careful
                position = commit.zfill(20) + lsn.zfill(20)  # ordering.postgres_position's encoding
                if len(position) != 40 or not (position.isascii() and position.isdigit()):
                    raise _Careful
                ts = source.ts_us
                if ts is None and source.ts_ms is not None:
                    ts = source.ts_ms * 1000
                append((index, declared if plan is None else plan, op, position, ts, row, False))
                continue
            except msgspec.ValidationError:
                if plan is None:
                    learned = None  # the columns changed: learn them again from the next row
            except Exception:  # noqa: BLE001, S110 - read carefully below, which names what is wrong
                pass
        try:
            event = read_event(index, message, reader)
        except Exception as exc:  # noqa: BLE001 - one poison message must not stop the batch
            letters[index] = DeadLetter.from_failed_decode(message, exc)
            continue
        if isinstance(event, str):
            ignored.append(Ignored(message.topic, message.partition, message.offset, event))
        else:
            append(event)
    return events, letters, ignored
