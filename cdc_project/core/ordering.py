"""Comparable source positions: fixed-width strings whose lexicographic order is the source's commit order.

Every encoding is 32 lowercase hex characters, so sinks compare `_cdc_position` as plain strings and never
parse it. Positions only order events of one source (one connector); they are not comparable across
sources. Two events may share a position only when no commit order exists between them (rows of one
initial snapshot); the Kafka offset breaks such ties for one key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from cdc_project.core.errors import DecodeError

if TYPE_CHECKING:  # core stays importable without pydantic/yaml, which cdc_project.config pulls in
    from cdc_project.config import SourceKind

_MAX = 1 << 64


def _uint(value: Any, field: str) -> int:
    if value is None:
        raise DecodeError(f"source.{field} is missing; cannot order this event")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DecodeError(f"source.{field} is {value!r}, not an unsigned integer") from None
    if not 0 <= number < _MAX or isinstance(value, bool):
        raise DecodeError(f"source.{field} is {value!r}, not an unsigned 64-bit integer")
    return number


def _sequence(raw: Any) -> list[Any]:
    """source.sequence, a JSON string such as '["26700496","26700552"]', as [lastCommitLsn, eventLsn]."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DecodeError(f"source.sequence {raw!r} is not a JSON array") from None
    if not isinstance(raw, list) or len(raw) != 2:
        raise DecodeError(f"source.sequence {raw!r} is not [lastCommitLsn, eventLsn]")
    return raw


def postgres_position(source: Mapping[str, Any]) -> str:
    """[lastCommitLsn, eventLsn] from `source.sequence`, commit component first.

    Per-event LSNs alone are not monotonic across transactions: pgoutput streams whole transactions in
    commit order, and a transaction that began first (low LSNs) but committed last is streamed after one
    with higher LSNs. lastCommitLsn (the end LSN of the previously committed transaction) is the same for
    every event of a transaction and grows in commit order, so (lastCommitLsn, eventLsn) orders correctly.
    """
    raw_sequence = source.get("sequence")
    last_commit, event_lsn = (None, None) if raw_sequence is None else _sequence(raw_sequence)
    event = _uint(source.get("lsn"), "lsn") if event_lsn is None else _uint(event_lsn, "sequence[1]")
    # lastCommitLsn is null for snapshot rows (which all carry the snapshot's LSN) and for the first
    # transaction streamed after the initial snapshot. The event LSN stands in: the first transaction's
    # events follow the snapshot LSN, and the next transaction's lastCommitLsn is the first one's end
    # LSN, above all of its event LSNs. Known gap: if that first transaction was already open when the
    # snapshot was taken, its early event LSNs are below the snapshot rows' LSN and sort before them.
    commit = event if last_commit is None else _uint(last_commit, "sequence[0]")
    return f"{commit:016x}{event:016x}"


def binlog_position(source: Mapping[str, Any]) -> str:
    """MySQL/MariaDB: (binlog file number, event position, row in event); the binlog is in commit order.

    GTIDs are not used: they only order transactions of one server UUID, and a GTID set after a failover
    spans several.
    """
    file_name = source.get("file")
    if not file_name:
        raise DecodeError("source.file is missing; cannot order this event")
    suffix = str(file_name).rsplit(".", 1)[-1]
    if not suffix.isdigit():
        raise DecodeError(f"source.file {file_name!r} does not end in a binlog sequence number")
    file_number = int(suffix)
    pos = _uint(source.get("pos"), "pos")
    row = _uint(source.get("row") or 0, "row")
    if file_number >= 1 << 32 or row >= 1 << 32:
        raise DecodeError(f"source.file {file_name!r} / source.row {row} exceed 32 bits")
    return f"{file_number:08x}{pos:016x}{row:08x}"


def mongodb_position(source: Mapping[str, Any]) -> str:
    """(cluster time in ms, ord): Debezium's ts_ms is clusterTime.seconds * 1000 and ord its increment.

    Events of one multi-document transaction share both; the Kafka offset orders them for one key.
    """
    return f"{_uint(source.get('ts_ms'), 'ts_ms'):016x}{_uint(source.get('ord'), 'ord'):016x}"


def cassandra_position(source: Mapping[str, Any]) -> str:
    """(write time in us, commit log position). Cassandra itself resolves conflicts by write time.

    The commit log position only breaks ties deterministically; it is per node and orders nothing else.
    """
    if source.get("ts_micro") is not None:
        micros = _uint(source["ts_micro"], "ts_micro")
    else:
        micros = _uint(source.get("ts_ms"), "ts_ms") * 1000
    return f"{micros:016x}{_uint(source.get('pos') or 0, 'pos'):016x}"


PositionEncoder = Callable[[Mapping[str, Any]], str]

POSITION_ENCODERS: dict[str, PositionEncoder] = {
    "postgres": postgres_position,
    "mysql": binlog_position,
    "mariadb": binlog_position,
    "mongodb": mongodb_position,
    "cassandra": cassandra_position,
}


def position_for(kind: SourceKind, source: Mapping[str, Any]) -> str:
    """The comparable position of one change event from its Debezium `source` block."""
    encoder = POSITION_ENCODERS.get(kind)
    if encoder is None:
        valid = sorted(POSITION_ENCODERS)
        raise ValueError(f"{kind!r} is not a valid source kind. Valid values are: {valid}")
    if not isinstance(source, Mapping):
        raise DecodeError(f"the event's source block is {type(source).__name__}, not an object")
    return encoder(source)
