"""Every exception the project raises on purpose, in one place.

Each carries the offending values and a message that says how to fix it. `transient` tells retry logic
whether trying again can help (a broker that is not up yet) or not (a bad config, a poison message).
"""

from __future__ import annotations

from collections.abc import Sequence


class CdcError(Exception):
    """Base of the project's errors."""

    transient: bool = False


class ConfigError(CdcError):
    """The pipeline config is invalid; `key` is the dotted path of the offending entry."""

    def __init__(self, key: str, message: str, valid: Sequence[str] | None = None) -> None:
        self.key = key
        self.valid = list(valid) if valid is not None else None
        suffix = f" Valid values are: {sorted(self.valid)}" if self.valid else ""
        super().__init__(f"pipeline config {key}: {message}.{suffix}")


class MissingSecretError(CdcError):
    """A secret the config names through an environment variable is not set."""

    def __init__(self, key: str, env_var: str) -> None:
        self.key = key
        self.env_var = env_var
        super().__init__(f"{key} reads its secret from ${env_var}, which is not set; export {env_var} first")


class DecodeError(CdcError):
    """A Kafka message is not a Debezium change event this project can read."""

    def __init__(self, message: str, *, topic: str | None = None, offset: int | None = None) -> None:
        self.topic = topic
        self.offset = offset
        where = f" ({topic}@{offset})" if topic is not None else ""
        super().__init__(f"{message}{where}")


class UnknownTypeError(DecodeError):
    """A Debezium/Connect type has no Arrow mapping; add it to core/type_mapping.py."""

    def __init__(self, connect_type: str, logical_name: str | None, field: str) -> None:
        self.connect_type = connect_type
        self.logical_name = logical_name
        self.field = field
        super().__init__(
            f"field {field!r} has type {connect_type!r} (logical {logical_name!r}) with no Arrow mapping; "
            "add it to the dispatch table in cdc_project/core/type_mapping.py"
        )


class ValueConversionError(DecodeError):
    """A field's value does not fit its type (bad base64, an out-of-range int, an unparsable time)."""

    def __init__(self, field: str, value: object, arrow_type: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.arrow_type = arrow_type
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(
            f"field {field!r} value {shown} cannot be converted to {arrow_type}: {reason}. Check the "
            "connector's settings (decimal.handling.mode, time.precision.mode, binary.handling.mode)"
        )


class BatchSchemaConflictError(DecodeError):
    """A column changed type within one decode batch and the earlier events' values do not cast."""

    def __init__(self, column: str, earlier: str, latest: str) -> None:
        self.column = column
        self.earlier = earlier
        self.latest = latest
        super().__init__(
            f"column {column!r} changed type from {earlier} to {latest} within one batch and the earlier "
            "values do not cast; the earlier events were dead-lettered. Migrate the table's column, then "
            "replay them"
        )


class MixedTopicsError(CdcError):
    """decode_batch got change events of more than one table; the caller must batch per topic."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = sorted(set(topics))
        super().__init__(
            f"one decode batch holds change events of several topics {self.topics}; decode each table's "
            "topic separately (heartbeat and transaction topics may be mixed in, they are skipped)"
        )


class KeyColumnsError(CdcError):
    """The configured primary key names columns the change events do not have."""

    def __init__(self, missing: Sequence[str], available: Sequence[str]) -> None:
        self.missing = list(missing)
        self.available = list(available)
        super().__init__(
            f"primary_key columns {self.missing} are not in the change events; fix tables[].primary_key in "
            f"the pipeline config. Valid values are: {sorted(self.available)}"
        )


class WriteRefusedError(CdcError):
    """A sink refuses data for good: retrying cannot help, so the messages go to the dead-letter table and
    the stream moves on (batch.apply_messages). Not for transient failures (a lost connection), which fail
    the run so that it is retried."""


class BatchRefusedError(WriteRefusedError):
    """The batch's shape (its schema) is refused: every message of the batch is dead-lettered."""


class SchemaChangeError(BatchRefusedError):
    """A schema change the table's policy refuses (e.g. a narrowing type change under `evolve`)."""

    def __init__(self, table: str, column: str, stored: str, incoming: str, policy: str) -> None:
        self.table = table
        self.column = column
        self.stored = stored
        self.incoming = incoming
        self.policy = policy
        super().__init__(
            f"{table}.{column}: stored type {stored} cannot take incoming {incoming} under schema policy "
            f"{policy!r}; the events went to the dead-letter table. Migrate the lake column (or recreate the "
            "table) and replay the dead letters"
        )


# What both continuity errors (core/offsets.check_continuity) tell the operator to do.
_START_OVER = (
    "Nothing was skipped or re-applied: the stream stops here. To start the table over from the topic as it "
    "is now, drop the table's sink tables and offsets (on the local stack `make reset` forgets every table) "
    "and let the connector re-snapshot"
)


class OffsetRegressionError(CdcError):
    """The sink has committed offsets the topic's log does not continue: truncated, deleted or shrunk."""

    def __init__(self, topic: str, partition: int, committed: int, broker_end: int, reason: str | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.committed = committed
        self.broker_end = broker_end
        why = reason or f"the log ends at {broker_end}"
        super().__init__(
            f"{topic}[{partition}]: the sink has committed through offset {committed} but {why}. {_START_OVER}"
        )


class TopicRecreatedError(CdcError):
    """The topic the sink's offsets belong to was deleted and created again under the same name."""

    def __init__(
        self, topic: str, stored_id: str, current_id: str, committed: dict[int, int], ends: dict[int, int]
    ) -> None:
        self.topic = topic
        self.stored_id = stored_id
        self.current_id = current_id
        self.committed = committed
        self.ends = ends
        super().__init__(
            f"{topic}: the sink's offsets {committed} belong to topic ID {stored_id}, but the topic now has ID "
            f"{current_id} (ends {ends}): it was deleted and re-created, so its offsets restarted. {_START_OVER}"
        )


class MessagesGoneError(CdcError):
    """Messages a run must read again (to dead-letter a refused write) are no longer in the broker."""

    def __init__(self, topic: str, coordinates: list[tuple[int, int]]) -> None:
        self.topic = topic
        self.coordinates = coordinates
        super().__init__(
            f"{topic}: the messages at (partition, offset) {coordinates[:10]} are no longer in the broker "
            "(retention or compaction removed them since the run read them), so their refused write cannot "
            "be dead-lettered with its bytes. The run fails before the sink's offsets pass them, so the next run "
            "starts there. "
            "Raise the topic's retention above a run's duration"
        )


class BrokerUnavailableError(CdcError):
    """The Kafka bootstrap servers did not answer in time."""

    transient = True

    def __init__(self, bootstrap: str, detail: str) -> None:
        self.bootstrap = bootstrap
        super().__init__(f"Kafka at {bootstrap} did not answer: {detail}. Is the broker up (`cdc status`)?")


class ConnectError(CdcError):
    """The Kafka Connect REST API refused a request or did not answer."""

    transient = True

    def __init__(self, url: str, request: str, detail: str) -> None:
        self.url = url
        self.request = request
        self.detail = detail
        super().__init__(
            f"Kafka Connect at {url}: {request}: {detail}. Check the worker with `cdc status` and its log "
            "(`<state dir>/logs/connect.log`); `make up` starts it"
        )


class ServiceUnhealthyError(CdcError):
    """A local-stack service failed its health check."""

    def __init__(self, service: str, log_file: str, tail: str) -> None:
        self.service = service
        self.log_file = log_file
        self.tail = tail
        super().__init__(f"service {service!r} is not healthy; see {log_file}. Last lines:\n{tail}")


class UnsupportedLakeTypeError(BatchRefusedError):
    """An Arrow column type has no Delta Lake equivalent; add a rule to core/delta_types.py."""

    def __init__(self, column: str, arrow_type: str) -> None:
        self.column = column
        self.arrow_type = arrow_type
        super().__init__(
            f"column {column!r} has Arrow type {arrow_type}, which Delta Lake cannot store; add a conversion "
            "to the dispatch table in cdc_project/core/delta_types.py"
        )


class MessageFileError(CdcError):
    """A line of a Kafka-messages JSON-lines file (`cdc apply`, `cdc decode`) is not a message record."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        super().__init__(
            f"{source}:{line}: {message}; each line must be a JSON object "
            '{"topic", "partition", "offset", "key", "value"} (key/value as JSON or null, or "value_b64")'
        )


class UnsupportedPostgresTypeError(BatchRefusedError):
    """An Arrow column type has no PostgreSQL column type; add a rule to core/pg_types.py."""

    def __init__(self, column: str, arrow_type: str) -> None:
        self.column = column
        self.arrow_type = arrow_type
        super().__init__(
            f"column {column!r} has Arrow type {arrow_type}, which the PostgreSQL sink cannot store; add a "
            "mapping to the dispatch table in cdc_project/core/pg_types.py"
        )


class IdentifierTooLongError(BatchRefusedError):
    """A PostgreSQL identifier exceeds 63 bytes: the server would silently truncate it (and collide)."""

    def __init__(self, identifier: str, limit: int) -> None:
        self.identifier = identifier
        self.limit = limit
        super().__init__(
            f"PostgreSQL identifier {identifier!r} is {len(identifier.encode())} bytes; the server truncates "
            f"names to {limit} bytes, so two tables could collide. Use a shorter postgres_sink.schema_prefix "
            "or source name, or rename the table or column"
        )


class RowsRefusedError(WriteRefusedError):
    """Some rows of a batch are refused by the sink's storage (a constraint, a value it cannot hold, e.g. a
    NUL character in PostgreSQL text): the batch is split until the refused messages are isolated."""

    def __init__(self, sink: str, table: str, reason: str) -> None:
        self.sink = sink
        self.table = table
        self.reason = reason
        super().__init__(
            f"the {sink} sink refused rows of {table}: {reason}; the refused messages went to the dead-letter "
            "table with stage 'write'. Fix the data or the target table and replay them with `cdc apply`"
        )


class UnsupportedReconcileTypeError(CdcError):
    """A source column's type has no canonical form for reconciliation; add it to core/canonical.py."""

    def __init__(self, column: str, type_name: str) -> None:
        self.column = column
        self.type_name = type_name
        super().__init__(
            f"column {column!r} has type {type_name}, which reconciliation cannot compare across engines; "
            "list it in tables[].reconcile.exclude_columns or add its canon to cdc_project/core/canonical.py"
        )


class ReconcileKeyError(CdcError):
    """A table's key cannot order key ranges identically in the source and the lake."""

    def __init__(self, table: str, column: str, canon: str, orderable: Sequence[str]) -> None:
        self.table = table
        self.column = column
        self.canon = canon
        super().__init__(
            f"{table}: key column {column!r} ({canon}) cannot be range-compared; key columns must be one of "
            f"{sorted(orderable)}. Declare another primary_key for the table or exclude it from reconciliation"
        )


class CatchUpTimeoutError(CdcError):
    """The sink did not apply everything the capture published up to a reconciliation's source snapshot."""

    transient = True

    def __init__(self, stage: str, waited: float, detail: str) -> None:
        self.stage = stage
        self.waited = waited
        super().__init__(
            f"reconciliation waited {waited:.0f}s for {stage} and gave up: {detail}. Is the capture process "
            "and the table's ingest sensor running (`cdc status`, the Dagster UI)? Raise "
            "tables[].reconcile.catch_up_timeout_seconds for a slow sink"
        )


class RepairRefusedError(CdcError):
    """A repair that cannot be done safely (a keyless table, a sink without the repair path)."""

    def __init__(self, table: str, sink: str, reason: str) -> None:
        self.table = table
        self.sink = sink
        super().__init__(f"cannot repair {table} in {sink}: {reason}")
