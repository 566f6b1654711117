"""`cdc apply`: apply a file of Kafka messages to one sink, through the code path a Dagster run uses.

How users reproduce an incident or replay dead letters: messages are grouped by topic, each topic is
resolved to its configured table (or to defaults for a topic the config does not name), and every batch
goes through `batch.apply_messages` - decode, dead letters, one sink commit with its offsets - exactly as
after a run's Kafka read. Offsets the sink already committed are skipped, so applying a file twice is a
no-op, as replaying a Kafka range is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from cdc_project.adapters.sinks import sink_for
from cdc_project.batch import apply_messages
from cdc_project.config import PipelineConfig, SinkKind, SourceConfig, SourceKind, TableConfig
from cdc_project.core.errors import ConfigError
from cdc_project.core.events import RawMessage
from cdc_project.core.message_lines import CONNECTOR_KINDS, connector_kind


@dataclass(frozen=True)
class TableApplySummary:
    table: str  # <source>.<schema>.<table>
    sink: SinkKind
    topic: str
    events: int
    upserts: int
    deletes: int
    dead_letters: int
    commits: int  # batches that committed something (a replayed batch commits nothing)
    last_offsets: dict[int, int]  # the sink's committed offsets after the apply

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "last_offsets": {str(p): o for p, o in sorted(self.last_offsets.items())}}


@dataclass(frozen=True)
class IgnoredTopic:
    topic: str
    events: int
    ignored: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def _not_a_table(topic: str) -> str | None:
    """Why `topic` carries no table's changes (Debezium's heartbeat and transaction topics), or None."""
    if topic.startswith("__debezium-heartbeat"):
        return "heartbeat topic"
    if topic.endswith(".transaction"):
        return "transaction metadata topic"
    if topic.count(".") < 2:
        return "not a Debezium table topic <prefix>.<schema or db>.<table>"
    return None


def _connector_kind(messages: list[RawMessage]) -> SourceKind:
    kind = connector_kind(messages)
    if kind is None:
        raise ConfigError(
            f"topic {messages[0].topic}",
            f"no message names its Debezium connector (source.connector is one of {sorted(CONNECTOR_KINDS)}); "
            "add the table to the pipeline config so its source kind is known",
        )
    return kind


def resolve_topic(config: PipelineConfig, topic: str, messages: list[RawMessage]) -> tuple[SourceConfig, TableConfig]:
    """The configured table of `topic`, or defaults: source named after the topic prefix, key from the
    message key (none: append-only), storage at the sink's configured location. Default sources are never
    contacted."""
    for source, table in config.tables():
        if source.topic_for(table) == topic:
            return source, table
    parts = topic.split(".")
    prefix, name = ".".join(parts[:-2]), ".".join(parts[-2:])
    configured = next((s for s in config.sources if s.topic_prefix == prefix), None)
    # Debezium sends a keyless table's changes with a null Kafka key: such a table is append-only.
    keyless = all(m.key is None for m in messages if m.value is not None)
    table = TableConfig(name=name, primary_key=[] if keyless else None)
    if configured is not None:
        return configured.model_copy(update={"tables": [table]}), table
    source_name = re.sub(r"[^a-z0-9_]", "_", prefix.lower()).lstrip("_0123456789") or "source"
    source = SourceConfig(
        name=source_name, kind=_connector_kind(messages), host="unknown", port=1, database=parts[-2],
        user="unknown", topic_prefix=prefix, tables=[table],
    )
    return source, table


def _batches(messages: list[RawMessage], size: int) -> Iterable[list[RawMessage]]:
    # Kafka order is offset order within a partition; a file may interleave partitions or be concatenated.
    ordered = sorted(messages, key=lambda m: (m.partition, m.offset))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def apply_file(
    config: PipelineConfig, messages: Iterable[RawMessage], sink: SinkKind, batch_size: int | None = None
) -> list[TableApplySummary | IgnoredTopic]:
    """Apply `messages` to `sink`, one commit per batch of `batch_size` per topic; a summary per table.

    Heartbeat and transaction-metadata topics are reported as ignored (they change no table)."""
    size = batch_size or config.ingest.max_batch_events
    if size < 1:
        raise ConfigError("--batch-size", f"{size} must be at least 1")
    by_topic: dict[str, list[RawMessage]] = defaultdict(list)
    for message in messages:
        by_topic[message.topic].append(message)
    summaries: list[TableApplySummary | IgnoredTopic] = []
    for topic, topic_messages in by_topic.items():
        reason = _not_a_table(topic)
        if reason is not None:
            summaries.append(IgnoredTopic(topic, len(topic_messages), reason))
            continue
        source, table = resolve_topic(config, topic, topic_messages)
        if sink not in table.sinks:  # the sink asked for becomes the table's only (changelog) sink
            table = table.model_copy(update={"sinks": [sink]})
        target = sink_for(config, source, table, sink)
        events = upserts = deletes = letters = commits = 0
        for batch in _batches(topic_messages, size):
            consumed: dict[int, int] = {}
            for message in batch:
                consumed[message.partition] = max(consumed.get(message.partition, -1), message.offset)
            # No topic_id: a file has none, so the sink keeps the ID a run stored (TableSink.apply).
            applied = apply_messages(config, source, table, target, batch, consumed)
            result = applied.result
            events += len(batch)
            upserts += result.upserts
            deletes += result.deletes
            letters += applied.dead_letters
            commits += int(result.changelog_version is not None or result.current_version is not None)
        summaries.append(
            TableApplySummary(
                f"{source.name}.{table.name}", sink, topic, events, upserts, deletes, letters, commits,
                target.committed_offsets(),
            )
        )
    return summaries
