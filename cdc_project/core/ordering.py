"""Comparable source positions: fixed-width strings whose lexicographic order is the source's commit order.

Every encoding is a run of zero-padded decimal components, 20 digits for a 64-bit number and 10 for a 32-bit
one, of a fixed width per source kind (PostgreSQL and MongoDB 40 characters, Cassandra 50, MySQL/MariaDB
60), so sinks compare `_cdc_position` as plain strings and never parse it. Decimal rather than hex because
PostgreSQL's LSNs arrive as decimal text: padding them is the whole encoding, which the decoder's hot loop
does without converting a number. Positions only order events of one source (one connector); they are not
comparable across sources.

Snapshot rows sort before every streaming event that follows them: each encoding gives snapshot rows the
lowest value of its last component at the snapshot's log position, because the first streamed change can
sit at exactly that position, and the sinks' MERGE only applies an event whose position is strictly greater.
Two events share a position only when no commit order exists between them (rows of one snapshot); the Kafka
offset breaks such ties for one key within a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from cdc_project.core.errors import DecodeError

if TYPE_CHECKING:  # core stays importable without pydantic/yaml, which cdc_project.config pulls in
    from cdc_project.config import SourceKind

_LSN_LIMIT = 10**20  # PostgreSQL LSNs are uint64; any 20-digit decimal pads the same, so the bound is that
NOT_SNAPSHOT = (None, "false", False)


def _uint(value: Any, field: str, bits: int = 64, limit: int | None = None) -> int:
    if value is None:
        raise DecodeError(f"source.{field} is missing; cannot order this event")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DecodeError(f"source.{field} is {value!r}, not an unsigned integer") from None
    if not 0 <= number < (limit or 1 << bits) or isinstance(value, bool):
        shape = (
            f"an unsigned {bits}-bit integer"
            if limit is None
            else f"a decimal of at most {len(str(limit)) - 1} digits"
        )
        raise DecodeError(f"source.{field} is {value!r}, not {shape}")
    return number


def is_snapshot(source: Mapping[str, Any]) -> bool:
    """source.snapshot is "true"/"first"/"last"/"incremental"/... (or a boolean) for snapshot reads."""
    return source.get("snapshot") not in NOT_SNAPSHOT


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


def postgres_position(source: Mapping[str, Any], transaction: Any = None) -> str:
    """[lastCommitLsn, eventLsn] from `source.sequence`, commit component first.

    Per-event LSNs alone are not monotonic across transactions: pgoutput streams whole transactions in
    commit order, and a transaction that began first (low LSNs) but committed last is streamed after one
    with higher LSNs. lastCommitLsn (the end LSN of the previously committed transaction) is the same for
    every event of a transaction and grows in commit order, so (lastCommitLsn, eventLsn) orders correctly.
    Snapshot rows are (snapshot LSN, 0): the first streamed change may carry the snapshot LSN itself.
    """
    raw_sequence = source.get("sequence")
    if raw_sequence.__class__ is str:  # the hot path: Debezium's own '["26700496","26700552"]'
        parts = raw_sequence.split('"')
        if len(parts) == 5 and parts[0] == "[" and parts[2] == "," and parts[4] == "]":
            try:
                commit, event = int(parts[1]), int(parts[3])
            except ValueError:
                pass
            else:
                if (
                    0 <= commit < _LSN_LIMIT
                    and 0 <= event < _LSN_LIMIT
                    and source.get("snapshot") in NOT_SNAPSHOT
                ):
                    return f"{commit:020d}{event:020d}"
    last_commit, event_lsn = (None, None) if raw_sequence is None else _sequence(raw_sequence)
    lsn_field, raw_event = ("lsn", source.get("lsn")) if event_lsn is None else ("sequence[1]", event_lsn)
    event = _uint(raw_event, lsn_field, limit=_LSN_LIMIT)
    # lastCommitLsn is null for snapshot rows (which all carry the snapshot's LSN) and for the first
    # transaction streamed after the initial snapshot. The event LSN stands in: the first transaction's
    # events follow the snapshot LSN, and the next transaction's lastCommitLsn is the first one's end
    # LSN, above all of its event LSNs. Known gap: if that first transaction was already open when the
    # snapshot was taken, its early event LSNs are below the snapshot rows' LSN and sort before them.
    commit = event if last_commit is None else _uint(last_commit, "sequence[0]", limit=_LSN_LIMIT)
    if source.get("snapshot") not in NOT_SNAPSHOT:
        event = 0
    return f"{commit:020d}{event:020d}"


def _gtid_number(gtid: Any) -> int:
    """The transaction number of a MySQL GTID ('uuid:42', tagged 'uuid:tag:42') or MariaDB GTID ('0-1-42')."""
    text = str(gtid)
    tail = text.rsplit(":", 1)[-1] if ":" in text else text.rsplit("-", 1)[-1]
    if not tail.isdigit():
        raise DecodeError(f"source.gtid {text!r} does not end in a transaction number")
    return _uint(tail, "gtid")


def binlog_position(source: Mapping[str, Any], transaction: Any = None) -> str:
    """MySQL/MariaDB: (GTID transaction number, binlog file number, event position, row + 1).

    With GTIDs on, the GTID's number orders transactions (a MariaDB domain keeps counting across a
    failover; a MySQL failover starts a new server UUID whose numbers restart, which no single event can
    reveal: re-snapshot after one). Without GTIDs, and for snapshot rows (which carry none), it is 0 and the
    binlog coordinates order events, which is commit order on one server. Snapshot rows get row component 0,
    streamed rows row + 1, so a streamed change at the snapshot's binlog position sorts after the snapshot.
    """
    file_name = source.get("file")
    if not file_name:
        raise DecodeError("source.file is missing; cannot order this event")
    suffix = str(file_name).rsplit(".", 1)[-1]
    if not suffix.isdigit():
        raise DecodeError(f"source.file {file_name!r} does not end in a binlog sequence number")
    file_number = int(suffix)
    pos = _uint(source.get("pos"), "pos")
    row = _uint(source.get("row") or 0, "row", 31)
    if file_number >= 1 << 32:
        raise DecodeError(f"source.file {file_name!r} exceeds 32 bits")
    gtid = source.get("gtid")
    number = 0 if gtid is None else _gtid_number(gtid)
    step = 0 if source.get("snapshot") not in NOT_SNAPSHOT else row + 1
    return f"{number:020d}{file_number:010d}{pos:020d}{step:010d}"


def mongodb_position(source: Mapping[str, Any], transaction: Any = None) -> str:
    """(cluster time in ms, ord, step): Debezium's ts_ms is clusterTime.seconds * 1000 and ord its increment.

    Events of one multi-document transaction share cluster time and ord; `transaction.total_order` (on with
    provide.transaction.metadata) orders them. Snapshot rows carry the snapshot's start position and step 0.
    """
    ts_ms = _uint(source.get("ts_ms"), "ts_ms")
    ordinal = _uint(source.get("ord"), "ord", 32)
    if source.get("snapshot") not in NOT_SNAPSHOT:
        step = 0
    else:
        total = transaction.get("total_order") if isinstance(transaction, Mapping) else None
        step = 1 + (0 if total is None else _uint(total, "transaction.total_order", 31))
    return f"{ts_ms:020d}{ordinal:010d}{step:010d}"


def _segment_id(file_name: Any) -> int:
    """The segment id of a commit log file name ('CommitLog-7-1646091455063.log'), growing per node."""
    if not file_name:
        return 0
    digits = str(file_name).removesuffix(".log").rsplit("-", 1)[-1]
    if not digits.isdigit():
        raise DecodeError(f"source.file {file_name!r} is not a commit log segment (CommitLog-<v>-<id>.log)")
    return _uint(digits, "file")


def cassandra_position(source: Mapping[str, Any], transaction: Any = None) -> str:
    """(write time in us, commit log segment, position in it). Cassandra resolves conflicts by write time.

    The commit log coordinates only break ties deterministically; they are per node. Snapshot rows have
    none (segment 0): at equal write time a streamed mutation sorts after the snapshot row.
    """
    micros = commit_micros("cassandra", source)
    if micros is None:
        raise DecodeError("source.ts_us and source.ts_ms are missing; cannot order this event")
    if source.get("snapshot") not in NOT_SNAPSHOT:
        return f"{micros:020d}{0:020d}{0:010d}"
    segment = _segment_id(source.get("file"))
    return f"{micros:020d}{segment:020d}{_uint(source.get('pos') or 0, 'pos', 32):010d}"


def commit_micros(kind: str, source: Mapping[str, Any]) -> int | None:
    """The source's commit (Cassandra: write) time in epoch microseconds, or None when the event has none.

    Debezium 2.6+ adds ts_us beside ts_ms; older Cassandra agents wrote microseconds into ts_ms itself,
    which no millisecond value before the year 5000 can be confused with.
    """
    ts_us = source.get("ts_us")
    if ts_us.__class__ is int:
        return ts_us
    ts_ms = source.get("ts_ms")
    if ts_ms.__class__ is not int:
        return None
    if kind == "cassandra" and ts_ms > 100_000_000_000_000:
        return ts_ms
    return ts_ms * 1000


PositionEncoder = Callable[[Mapping[str, Any], Any], str]

POSITION_ENCODERS: dict[str, PositionEncoder] = {
    "postgres": postgres_position,
    "mysql": binlog_position,
    "mariadb": binlog_position,
    "mongodb": mongodb_position,
    "cassandra": cassandra_position,
}


def position_for(kind: SourceKind, source: Mapping[str, Any], transaction: Any = None) -> str:
    """The comparable position of one change event from its Debezium `source` (and `transaction`) block."""
    encoder = POSITION_ENCODERS.get(kind)
    if encoder is None:
        valid = sorted(POSITION_ENCODERS)
        raise ValueError(f"{kind!r} is not a valid source kind. Valid values are: {valid}")
    if not isinstance(source, Mapping):
        raise DecodeError(f"the event's source block is {type(source).__name__}, not an object")
    return encoder(source, transaction)
