"""Scope: core/pg_merge_sql.py - the statements that merge a staged batch: the order guard in the upsert and
the deletes, the tombstone filter, the TOAST keep-stored CASE, row upserts by key. Pure string builders;
what they do to real rows is held by adapters/test_sink_semantics.py on the live cluster."""

from __future__ import annotations

from cdc_project.core import pg_merge_sql as dml

GUARD = 't."_cdc_position" < EXCLUDED."_cdc_position"'


def test_upsert_is_guarded_by_position_and_never_updates_the_key() -> None:
    statement = dml.upsert('"s"."t"', '"stage"', ["id"], ["id", "name", "_cdc_position"])
    assert statement == (
        'INSERT INTO "s"."t" AS t ("id", "name", "_cdc_position") SELECT "id", "name", "_cdc_position" '
        'FROM "stage" WHERE "_cdc_op" <> \'d\' ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", '
        f'"_cdc_position" = EXCLUDED."_cdc_position" WHERE {GUARD}'
    )


def test_tombstone_upsert_keeps_the_newest_delete() -> None:
    statement = dml.upsert_tombstones('"s"."t_tombstones"', '"stage"', ["a", "b"])
    assert statement.startswith('INSERT INTO "s"."t_tombstones" AS t ("a", "b", "_cdc_position"')
    assert "WHERE \"_cdc_op\" = 'd' ON CONFLICT (\"a\", \"b\")" in statement and statement.endswith(GUARD)


def test_deletes_apply_only_to_older_rows() -> None:
    hard = dml.delete_hard('"s"."t"', '"stage"', ["id"])
    soft = dml.delete_soft('"s"."t"', '"stage"', ["id"])
    for statement in (hard, soft):
        assert statement.endswith('t."_cdc_position" < s."_cdc_position"')
    assert hard.startswith('DELETE FROM "s"."t" t USING "stage" s WHERE t."id" = s."id"')
    assert '"_cdc_deleted" = s."_cdc_deleted"' in soft  # the row stays, marked, carrying the delete's position


def test_drop_tombstoned_drops_upserts_at_or_before_their_tombstone() -> None:
    statement = dml.drop_tombstoned('"stage"', '"s"."t_tombstones"', ["id"])
    assert statement == (
        'DELETE FROM "stage" s USING "s"."t_tombstones" t WHERE s."id" = t."id" '
        'AND s."_cdc_op" <> \'d\' AND s."_cdc_position" <= t."_cdc_position"'
    )


def test_keep_stored_fills_only_flagged_values() -> None:
    statement = dml.keep_stored('"stage"', '"s"."t"', ["id"], {"doc": "__cdc_keep_stored__doc"})
    assert statement == (
        'UPDATE "stage" s SET "doc" = CASE WHEN s."__cdc_keep_stored__doc" THEN t."doc" ELSE s."doc" END '
        'FROM "s"."t" t WHERE s."id" = t."id"'
    )


def test_upsert_row_replaces_by_key_with_parameters() -> None:
    columns = ("table_name", "topic", "partition", "last_offset")
    assert dml.upsert_row('"s"."_cdc_offsets"', columns, columns[:3]) == (
        'INSERT INTO "s"."_cdc_offsets" ("table_name", "topic", "partition", "last_offset") '
        'VALUES (%s, %s, %s, %s) ON CONFLICT ("table_name", "topic", "partition") '
        'DO UPDATE SET "last_offset" = EXCLUDED."last_offset"'
    )
