"""What happens when a sink refuses data for good (core/errors.WriteRefusedError): dead letters, and the
stream moves on.

  BatchRefusedError  the batch's schema is refused (a type change the policy forbids, a type the storage
                     has no column type for): every message of the batch becomes a dead letter (stage
                     "schema"), then an offsets-only apply moves the sink past them.
  RowsRefusedError   some rows are refused by the storage (a NUL in PostgreSQL text, a constraint): the
                     batch is split in halves, recursively, each half its own commit with its own offsets,
                     until the refused messages stand alone; those become dead letters (stage "write").

A Dagster run lets go of its batch's raw messages once decoded (batch.apply_messages): the dead letters'
bytes are read back from the broker by their coordinates (`ReadRaw`), only for the messages refused.

Invariants: dead letters are written before the commit that moves offsets past them (a crash between the
two writes them once more, which the dead-letter table dedupes); halves are applied in Kafka order, each
with the offsets of its own messages only, so the sink's drop-applied filter keeps every half exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from cdc_project.adapters.table_sink import ApplyResult, TableSink
from cdc_project.core import columns
from cdc_project.core.dead_letters import DeadLetter
from cdc_project.core.errors import BatchRefusedError, RowsRefusedError
from cdc_project.core.events import RawMessage
from cdc_project.core.merge_plan import last_offsets_of, rows_through

WriteLetters = Callable[[list[DeadLetter]], None]
Coordinates = tuple[int, int]  # (partition, offset) of one Kafka message
# The raw messages at these coordinates, in the order given: only refused writes need the bytes again.
ReadRaw = Callable[[Sequence[Coordinates]], list[RawMessage]]


def offsets_only(rows: pa.Table) -> pa.Table:
    """No rows, meta columns only: an apply of it just moves the offsets."""
    return rows.select([c for c in rows.column_names if c in columns.META_NAMES]).slice(0, 0)


def apply_or_dead_letter(
    sink: TableSink,
    rows: pa.Table,
    key_columns: Sequence[str],
    coordinates: Sequence[Coordinates],
    raw: ReadRaw,
    consumed: dict[int, int],
    table: str,
    write_letters: WriteLetters,
    topic_id: str | None = None,
) -> tuple[ApplyResult, list[DeadLetter]]:
    """Apply `rows`, decoded from the messages at `coordinates` (Kafka order); what the sink refuses for good
    goes to dead letters, their raw bytes read back with `raw` (the run no longer holds them). `topic_id`,
    when given, is stored with the offsets in every commit (core/offsets.check_continuity reads it back)."""
    try:
        return sink.apply(rows, key_columns, consumed_through=consumed, topic_id=topic_id), []
    except BatchRefusedError as exc:
        letters = [DeadLetter.from_schema_change(m, exc, table=table, sink=sink.kind) for m in raw(coordinates) if m.value]
        write_letters(letters)
        return sink.apply(offsets_only(rows), key_columns, consumed_through=consumed, topic_id=topic_id), letters
    except RowsRefusedError as exc:
        if len(coordinates) <= 1:
            letters = [DeadLetter.from_failed_write(m, exc, table=table, sink=sink.kind) for m in raw(coordinates) if m.value]
            write_letters(letters)
            return sink.apply(offsets_only(rows), key_columns, consumed_through=consumed, topic_id=topic_id), letters
    middle = len(coordinates) // 2
    left, right = coordinates[:middle], coordinates[middle:]
    left_through = last_offsets_of(left)
    left_rows, right_rows = rows_through(rows, left_through)
    first, left_letters = apply_or_dead_letter(sink, left_rows, key_columns, left, raw, left_through, table, write_letters, topic_id)
    second, right_letters = apply_or_dead_letter(sink, right_rows, key_columns, right, raw, consumed, table, write_letters, topic_id)
    return _combined(first, second), left_letters + right_letters


def _combined(first: ApplyResult, second: ApplyResult) -> ApplyResult:
    return ApplyResult(
        changelog_rows=first.changelog_rows + second.changelog_rows,
        upserts=first.upserts + second.upserts,
        deletes=first.deletes + second.deletes,
        stale_skipped=first.stale_skipped + second.stale_skipped,
        tombstoned_skipped=first.tombstoned_skipped + second.tombstoned_skipped,
        changelog_version=second.changelog_version if second.changelog_version is not None else first.changelog_version,
        current_version=second.current_version if second.current_version is not None else first.current_version,
        committed=second.committed,
    )
