"""The statements that merge a staged batch into the PostgreSQL sink's tables, as pure SQL builders.

One apply stages the latest event per key (core/merge_plan.fold_latest) in a temporary table, then runs,
in one transaction with the offsets row:
  1. drop_tombstoned   staged upserts at or before their key's tombstone go (resurrection invariant)
  2. keep_stored       TOAST: a value the source did not send takes the stored one (core/unavailable.py)
  3. upsert            INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE target.position < EXCLUDED.position:
                       the ORDER GUARD, an older or equal event never overwrites a newer stored row
  4. delete_hard / delete_soft, under the same guard
  5. upsert_tombstones each key's last delete, kept only when newer than the stored tombstone
Arguments are already-quoted identifiers (core/pg_ddl.ident / qualified); values travel as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdc_project.core.columns import DELETED, INGESTED_AT, OP, POSITION, SOURCE_TS
from cdc_project.core.pg_ddl import TOPIC_ID_COLUMN, ident

_POS, _OP = ident(POSITION), ident(OP)
_TOMBSTONE_META = (POSITION, SOURCE_TS, INGESTED_AT)


def _join(keys: Sequence[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in keys)


def _list(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{ident(c)}" for c in columns)


def copy_from_stdin(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({_list(columns)}) FROM STDIN WITH (FORMAT csv)"


def drop_tombstoned(stage: str, tombstones: str, keys: Sequence[str]) -> str:
    return (
        f"DELETE FROM {stage} s USING {tombstones} t WHERE {_join(keys, 's', 't')} "
        f"AND s.{_OP} <> 'd' AND s.{_POS} <= t.{_POS}"
    )


def keep_stored(stage: str, current: str, keys: Sequence[str], flags: Mapping[str, str]) -> str:
    """Fill flagged staged values from the stored row; a key with no stored row keeps its null."""
    sets = ", ".join(
        f"{ident(c)} = CASE WHEN s.{ident(flag)} THEN t.{ident(c)} ELSE s.{ident(c)} END"
        for c, flag in sorted(flags.items())
    )
    return f"UPDATE {stage} s SET {sets} FROM {current} t WHERE {_join(keys, 's', 't')}"


def upsert(current: str, stage: str, keys: Sequence[str], columns: Sequence[str]) -> str:
    updated = [c for c in columns if c not in keys]
    sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in updated)
    return (
        f"INSERT INTO {current} AS t ({_list(columns)}) SELECT {_list(columns)} FROM {stage} "
        f"WHERE {_OP} <> 'd' ON CONFLICT ({_list(keys)}) DO UPDATE SET {sets} "
        f"WHERE t.{_POS} < EXCLUDED.{_POS}"
    )


def delete_hard(current: str, stage: str, keys: Sequence[str]) -> str:
    return (
        f"DELETE FROM {current} t USING {stage} s WHERE {_join(keys, 't', 's')} "
        f"AND s.{_OP} = 'd' AND t.{_POS} < s.{_POS}"
    )


def delete_soft(current: str, stage: str, keys: Sequence[str]) -> str:
    """The row stays, marked deleted and carrying the delete's position (so the guard still holds)."""
    marked = (OP, POSITION, SOURCE_TS, INGESTED_AT, DELETED)
    sets = ", ".join(f"{ident(c)} = s.{ident(c)}" for c in marked)
    return (
        f"UPDATE {current} t SET {sets} FROM {stage} s WHERE {_join(keys, 't', 's')} "
        f"AND s.{_OP} = 'd' AND t.{_POS} < s.{_POS}"
    )


def upsert_tombstones(tombstones: str, stage: str, keys: Sequence[str]) -> str:
    columns = [*keys, *_TOMBSTONE_META]
    sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in _TOMBSTONE_META)
    return (
        f"INSERT INTO {tombstones} AS t ({_list(columns)}) SELECT {_list(columns)} FROM {stage} "
        f"WHERE {_OP} = 'd' ON CONFLICT ({_list(keys)}) DO UPDATE SET {sets} "
        f"WHERE t.{_POS} < EXCLUDED.{_POS}"
    )


def upsert_row(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """One row replaced by its key (the offsets rows, the schema registry); values are parameters."""
    sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in columns if c not in key)
    placeholders = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO {table} ({_list(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT ({_list(key)}) DO UPDATE SET {sets}"
    )


def select_offsets(offsets: str, with_topic_id: bool) -> str:
    """Partition, last offset and topic ID of one table's topic; without the column (a schema an earlier
    version created and no apply has upgraded yet) the ID reads as null."""
    topic_id = ident(TOPIC_ID_COLUMN) if with_topic_id else "NULL::text"
    return f"SELECT partition, last_offset, {topic_id} FROM {offsets} WHERE table_name = %s AND topic = %s"


def set_topic_id(offsets: str) -> str:
    """The topic ID on every offsets row of one table's topic, also the partitions a batch did not move, so
    the rows never disagree; rows that hold it already are not rewritten. Parameters: id, table, topic."""
    column = ident(TOPIC_ID_COLUMN)
    return (
        f"UPDATE {offsets} SET {column} = %(id)s "
        f"WHERE table_name = %(table)s AND topic = %(topic)s AND {column} IS DISTINCT FROM %(id)s"
    )


def purge_tombstones(tombstones: str) -> str:
    return f"DELETE FROM {tombstones} WHERE {ident(INGESTED_AT)} < %s"
