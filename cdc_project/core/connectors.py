"""Debezium configurations generated from the pipeline config, for Kafka Connect (and the Cassandra agent).

One source of truth: the local stack deploys exactly the Connect config that `cdc connectors` writes for
production (`docker/connectors/`), through the same REST calls (`cdc connectors deploy`), so both capture
the same tables the same way. Property names are those of Debezium 3.x.

Invariant: a Connect config never holds a secret. Passwords are `${env:VAR}` placeholders that the Connect
*worker* resolves with Kafka's EnvVarConfigProvider (configured on the worker: `config.providers=env`, in
stack/connect.py and docker/docker-compose.yml).

Exactly once (KIP-618): relational and MongoDB connectors ask for `exactly.once.support=required` with a
transaction per poll, so a task's records and its source offsets commit together and a worker killed
mid-stream re-sends nothing a read_committed consumer has seen. The worker must run with
`exactly.once.source.support=enabled` (it refuses the connector otherwise, which is the point).
"""

from __future__ import annotations

import json
from pathlib import Path

from cdc_project.config import KafkaConfig, PipelineConfig, SourceConfig, SourceKind
from cdc_project.core.cassandra_agent import (
    cassandra_agent_properties,
    cassandra_driver_conf,
    render_properties,
)
from cdc_project.core.errors import ConfigError

ConnectorProperties = dict[str, str]

CONNECTOR_CLASSES: dict[SourceKind, str] = {
    "postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "mongodb": "io.debezium.connector.mongodb.MongoDbConnector",
}
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
ENV_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
_BINLOG_KINDS: frozenset[SourceKind] = frozenset({"mysql", "mariadb"})
_RELATIONAL_KINDS: frozenset[SourceKind] = frozenset({"postgres", "mysql", "mariadb"})


def env_placeholder(env_var: str) -> str:
    """A value the Connect worker replaces with the environment variable's value when it starts the task."""
    return f"${{env:{env_var}}}"


def include_list(names: list[str]) -> str:
    """Debezium include lists are anchored regular expressions: escape the dot so it matches only a dot."""
    return ",".join(name.replace(".", "\\.") for name in names)


def _capture_properties(source: SourceConfig, password: str | None) -> ConnectorProperties:
    """Everything that says what to capture and how to encode it; no converters, offsets or Kafka clients."""
    if source.kind == "cassandra":
        raise ConfigError(
            f"sources[{source.name}].kind",
            "cassandra is captured by the standalone Debezium Cassandra agent, not by Kafka Connect or the "
            "embedded engine; use cassandra_agent_properties()",
        )
    tables = [t.name for t in source.tables]
    props: ConnectorProperties = {
        "connector.class": CONNECTOR_CLASSES[source.kind],
        "tasks.max": "1",
        "topic.prefix": source.topic_prefix,
        "heartbeat.interval.ms": str(source.heartbeat_interval_ms),
        "snapshot.mode": "initial",
        "provide.transaction.metadata": "true",
        "tombstones.on.delete": "true",
    }
    if source.signal_table is not None:
        # <schema>.<table> (PostgreSQL), <database>.<table> (MySQL/MariaDB), <database>.<collection>
        # (MongoDB): in every case the pipeline config's qualified name.
        props["signal.data.collection"] = source.signal_table
    if source.kind == "mongodb":
        props.update(
            {
                "mongodb.connection.string": f"mongodb://{source.host}:{source.port}/",
                "mongodb.user": source.user,
                "mongodb.authsource": "admin",
                # The full document on update: the lake merges whole rows, never patches.
                "capture.mode": "change_streams_update_full",
                "collection.include.list": include_list(tables),
            }
        )
        if password is not None:
            # A separate property rather than inside the connection string, which would need URL-encoding.
            props["mongodb.password"] = password
        return props
    props.update(
        {
            "database.hostname": source.host,
            "database.port": str(source.port),
            "database.user": source.user,
            "table.include.list": include_list(tables),
            "decimal.handling.mode": "precise",
            "time.precision.mode": "adaptive_time_microseconds",
            # The decoder reads the same mode from the source config (batch.run_batch's DecodeOptions).
            "binary.handling.mode": source.binary_handling_mode,
        }
    )
    if password is not None:
        props["database.password"] = password
    keys = [f"{include_list([t.name])}:{','.join(t.primary_key)}" for t in source.tables if t.primary_key]
    if keys:
        # Tables whose configured key differs from the source's: Kafka keys (and partitioning) follow it.
        props["message.key.columns"] = ";".join(keys)
    if source.kind == "postgres":
        props.update(
            {
                "database.dbname": source.database,
                "plugin.name": "pgoutput",
                "slot.name": source.replication_slot,
                "publication.name": source.publication,
                # The stack (or a DBA) creates the publication with exactly the captured tables plus the
                # signal table (publication_sql); the connector's user then needs no CREATE privilege.
                "publication.autocreate.mode": "disabled",
            }
        )
    if source.kind in _BINLOG_KINDS:
        if source.server_id is None:
            raise ConfigError(
                f"sources[{source.name}].server_id",
                f"is required for {source.kind}: a binlog client id unique among the server's replicas",
            )
        props["database.server.id"] = str(source.server_id)
        props["database.include.list"] = include_list(sorted({t.schema_name for t in source.tables}))
        props["include.schema.changes"] = "true"
    return props


def _kafka_client_properties(kafka: KafkaConfig, prefix: str) -> ConnectorProperties:
    props: ConnectorProperties = {f"{prefix}security.protocol": kafka.security_protocol}
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_username_env is None or kafka.sasl_password_env is None:
            needs = f"{kafka.security_protocol} needs sasl_username_env and sasl_password_env"
            raise ConfigError("kafka.sasl_username_env", needs)
        user, secret = env_placeholder(kafka.sasl_username_env), env_placeholder(kafka.sasl_password_env)
        props[f"{prefix}sasl.mechanism"] = "PLAIN"
        props[f"{prefix}sasl.jaas.config"] = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{secret}";'
        )
    return props


def connector_config(source: SourceConfig, kafka: KafkaConfig) -> ConnectorProperties:
    """The body of `PUT /connectors/<source.name>/config`; for cassandra, the agent's properties instead."""
    if source.kind == "cassandra":
        return cassandra_agent_properties(source, kafka)
    password = env_placeholder(source.password_env) if source.password_env else None
    props = _capture_properties(source, password)
    props.update(
        {
            "key.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": "true",
            "value.converter": JSON_CONVERTER,
            "value.converter.schemas.enable": "true",
            # Connect creates the topics when the broker does not auto-create them; -1 = broker default RF.
            "topic.creation.default.partitions": str(kafka.partitions),
            "topic.creation.default.replication.factor": "-1",
            "exactly.once.support": "required",
            "transaction.boundary": "poll",
        }
    )
    if source.kind in _BINLOG_KINDS:
        props["schema.history.internal.kafka.topic"] = f"_schema_history.{source.topic_prefix}"
        props["schema.history.internal.kafka.bootstrap.servers"] = kafka.bootstrap_servers
        if kafka.security_protocol != "PLAINTEXT":
            props.update(_kafka_client_properties(kafka, "schema.history.internal.producer."))
            props.update(_kafka_client_properties(kafka, "schema.history.internal.consumer."))
    return props


def publication_sql(source: SourceConfig) -> str:
    """The publication the PostgreSQL connector expects (autocreate is off): captured tables + signals."""
    if source.kind != "postgres":
        raise ConfigError(f"sources[{source.name}].kind", f"{source.kind} has no publications, postgres has")
    return f"CREATE PUBLICATION {source.publication} FOR TABLE {', '.join(source.published_tables())};\n"


def write_connector_files(config: PipelineConfig, out_dir: Path) -> list[Path]:
    """Write one deployable file set per source into `out_dir`; returns the paths written, in order.

    Connect sources: `<source>.json` ({"name", "config"}, what connect-init PUTs); PostgreSQL also
    `<source>.publication.sql`; Cassandra: `<source>.properties` and `<source>.driver.conf` for the agent.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = out_dir / name
        path.write_text(text)
        written.append(path)

    for source in config.sources:
        props = connector_config(source, config.kafka)
        if source.kind == "cassandra":
            write(f"{source.name}.properties", render_properties(props))
            write(f"{source.name}.driver.conf", cassandra_driver_conf(source))
            continue
        body = {"name": source.name, "config": props}
        write(f"{source.name}.json", json.dumps(body, indent=2, sort_keys=True) + "\n")
        if source.kind == "postgres":
            write(f"{source.name}.publication.sql", publication_sql(source))
    return written
