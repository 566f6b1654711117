"""Debezium connector configs generated from the pipeline config: the keys each source kind needs, the tables
and topics they name, and the rule that a Kafka Connect config never contains a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cdc_project.config import KafkaConfig, PipelineConfig, SourceConfig, parse_config
from cdc_project.core.connectors import (
    connector_config,
    _capture_properties,
    publication_sql,
    write_connector_files,
)
from cdc_project.core.errors import ConfigError

SENTINEL = "s3nt1nel-Pa55w0rd"
KINDS = ["postgres", "mysql", "mariadb", "mongodb", "cassandra"]
TABLES = {
    "postgres": ["public.customers", "public.order_items"],
    "mysql": ["shop.customers", "shop.order_items"],
    "mariadb": ["shop.customers", "shop.order_items"],
    "mongodb": ["shop.customers", "shop.orders"],
    "cassandra": ["shop.customers", "shop.orders"],
}


def _source(kind: str, **overrides: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": f"src_{kind}",
        "kind": kind,
        "host": f"{kind}-host",
        "port": 4000,
        "database": "shop",
        "user": "capture",
        "password_env": "CDC_TEST_SECRET",
        "topic_prefix": f"pfx_{kind}",
        "tables": [{"name": n} for n in TABLES[kind]],
        "signal_table": f"{TABLES[kind][0].split('.')[0]}.cdc_signals",
    }
    if kind in ("mysql", "mariadb"):
        source["server_id"] = 5401
    return {**source, **overrides}


def _pipeline(*sources: dict[str, Any], **kafka: Any) -> PipelineConfig:
    raw = {
        "name": "t",
        "kafka": {"bootstrap_servers": "kafka:9092", "partitions": 3, **kafka},
        "lake": {"root": "/lake"},
        "sources": list(sources),
    }
    return parse_config(raw)


def _config(kind: str, **overrides: Any) -> tuple[SourceConfig, KafkaConfig]:
    pipeline = _pipeline(_source(kind, **overrides))
    return pipeline.sources[0], pipeline.kafka


@pytest.fixture(autouse=True)
def _secret_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The secret is set, so a generator that resolved it would leak it into the output.
    monkeypatch.setenv("CDC_TEST_SECRET", SENTINEL)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "postgres",
            {
                "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
                "plugin.name": "pgoutput",
                "publication.autocreate.mode": "disabled",
                "database.dbname": "shop",
                "database.password": "${env:CDC_TEST_SECRET}",
                "signal.data.collection": "public.cdc_signals",  # <schema>.<table> for PostgreSQL
                "decimal.handling.mode": "precise",
                "time.precision.mode": "adaptive_time_microseconds",
                "binary.handling.mode": "bytes",  # the source's default; the decoder reads the same field
            },
        ),
        (
            "mysql",
            {
                "connector.class": "io.debezium.connector.mysql.MySqlConnector",
                "database.server.id": "5401",
                "database.include.list": "shop",
                "schema.history.internal.kafka.topic": "_schema_history.pfx_mysql",
                "schema.history.internal.kafka.bootstrap.servers": "kafka:9092",
                "database.password": "${env:CDC_TEST_SECRET}",
            },
        ),
        (
            "mariadb",
            {
                "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
                "database.server.id": "5401",
                "schema.history.internal.kafka.topic": "_schema_history.pfx_mariadb",
            },
        ),
        (
            "mongodb",
            {
                "connector.class": "io.debezium.connector.mongodb.MongoDbConnector",
                "mongodb.connection.string": "mongodb://mongodb-host:4000/",
                "mongodb.password": "${env:CDC_TEST_SECRET}",
                "capture.mode": "change_streams_update_full",  # full document on update
            },
        ),
        (
            "cassandra",
            {
                "connector.name": "src_cassandra",
                "kafka.producer.bootstrap.servers": "kafka:9092",
                "cassandra.driver.config.file": "/etc/debezium-cassandra/src_cassandra.driver.conf",
                "tombstones.on.delete": "false",  # partial-row events must survive compaction
            },
        ),
    ],
)
def test_connector_config_has_kind_specific_keys(kind: str, expected: dict[str, str]) -> None:
    config = connector_config(*_config(kind))
    assert {k: config.get(k) for k in expected} == expected
    assert config["topic.prefix"] == f"pfx_{kind}"
    assert all(isinstance(v, str) for v in config.values())  # Connect's REST API wants strings


# cassandra is left out: its agent is not a Connect connector
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "cassandra"])
def test_connector_config_has_common_connect_keys(kind: str) -> None:
    config = connector_config(*_config(kind))
    assert config["snapshot.mode"] == "initial"
    assert config["provide.transaction.metadata"] == "true"
    assert config["tombstones.on.delete"] == "true"
    assert config["heartbeat.interval.ms"] == "10000"
    assert config["topic.creation.default.partitions"] == "3"
    for side in ("key", "value"):
        assert config[f"{side}.converter"] == "org.apache.kafka.connect.json.JsonConverter"
        assert config[f"{side}.converter.schemas.enable"] == "true"
    # KIP-618: records and source offsets in one transaction; the worker refuses it unless it is enabled
    assert config["exactly.once.support"] == "required"
    assert config["transaction.boundary"] == "poll"


@pytest.mark.parametrize("kind", KINDS)
def test_connector_files_never_hold_the_secret(kind: str, tmp_path: Path) -> None:
    source, kafka = _config(kind)
    assert SENTINEL not in json.dumps(connector_config(source, kafka))
    for path in write_connector_files(_pipeline(_source(kind)), tmp_path):
        assert SENTINEL not in path.read_text(), path.name


@pytest.mark.parametrize(
    ("kind", "list_key"),
    [
        ("postgres", "table.include.list"),
        ("mysql", "table.include.list"),
        ("mariadb", "table.include.list"),
        ("mongodb", "collection.include.list"),
    ],
)
def test_connector_config_lists_exactly_the_tables(kind: str, list_key: str) -> None:
    source, kafka = _config(kind)
    config = connector_config(source, kafka)
    # Anchored regexes with escaped dots: `public\.customers` matches only that table.
    assert config[list_key].split(",") == [n.replace(".", "\\.") for n in TABLES[kind]]
    # Debezium names topics <topic.prefix>.<schema>.<table>; the ingest side derives the same names.
    topics = [f"{config['topic.prefix']}.{n}" for n in TABLES[kind]]
    assert [source.topic_for(t) for t in source.tables] == topics


def test_connector_config_sets_message_key_for_configured_keys() -> None:
    tables = [
        {"name": "public.customers", "primary_key": ["email", "id"]},
        {"name": "public.page_views", "primary_key": []},
    ]
    config = connector_config(*_config("postgres", tables=tables))
    # Only the table with an explicit key; the keyless (append-only) one keeps Debezium's default.
    assert config["message.key.columns"] == "public\\.customers:email,id"


def test_connector_config_refuses_binlog_without_server_id() -> None:
    with pytest.raises(ConfigError, match="server_id"):
        connector_config(*_config("mysql", server_id=None))


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("PLAINTEXT", None),  # nothing to configure
        ("SSL", {"schema.history.internal.producer.security.protocol": "SSL"}),
        (
            "SASL_SSL",
            {
                "schema.history.internal.consumer.sasl.jaas.config": "org.apache.kafka.common.security.plain."
                'PlainLoginModule required username="${env:KAFKA_USER}" password="${env:KAFKA_PASS}";'
            },
        ),
    ],
)
def test_connector_config_secures_schema_history_clients(
    protocol: str, expected: dict[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PASS", SENTINEL)
    kafka = {
        "security_protocol": protocol,
        "sasl_username_env": "KAFKA_USER",
        "sasl_password_env": "KAFKA_PASS",
    }
    pipeline = _pipeline(_source("mysql"), **kafka)
    config = connector_config(pipeline.sources[0], pipeline.kafka)
    if expected is None:
        assert not any("security.protocol" in k for k in config)
    else:
        assert {k: config.get(k) for k in expected} == expected
    assert SENTINEL not in json.dumps(config)


def test_cassandra_is_not_a_connect_connector() -> None:
    source, _ = _config("cassandra")
    with pytest.raises(ConfigError, match="standalone Debezium Cassandra agent"):
        _capture_properties(source, None)


def test_publication_sql_publishes_the_signal_table() -> None:
    source, _ = _config("postgres", publication_name="pub")
    assert publication_sql(source) == (
        "CREATE PUBLICATION pub FOR TABLE public.customers, public.order_items, public.cdc_signals;\n"
    )


@pytest.mark.parametrize(
    ("kind", "files"),
    [
        ("postgres", ["src_postgres.json", "src_postgres.publication.sql"]),
        ("mongodb", ["src_mongodb.json"]),
        ("cassandra", ["src_cassandra.properties", "src_cassandra.driver.conf"]),  # agent, not Connect
    ],
)
def test_write_connector_files(kind: str, files: list[str], tmp_path: Path) -> None:
    pipeline = _pipeline(_source(kind))
    written = write_connector_files(pipeline, tmp_path / "connectors")
    assert [p.name for p in written] == files
    if files[0].endswith(".json"):
        body = json.loads(written[0].read_text())
        expected = connector_config(pipeline.sources[0], pipeline.kafka)
        assert body == {"name": f"src_{kind}", "config": expected}
    if kind == "cassandra":
        assert "password = ${?CDC_TEST_SECRET}" in written[1].read_text()
