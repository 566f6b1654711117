"""Configuration of the Debezium Cassandra agent, generated from a `kind: cassandra` pipeline source.

Debezium's Cassandra connector is not a Kafka Connect connector: it is a standalone JVM agent that runs on
*every* Cassandra node, reads that node's CDC commit-log segments and produces to Kafka itself. So instead of
a Connect JSON body it takes a `.properties` file, plus a DataStax driver config (HOCON) for the connection
it uses to read schemas and run the snapshot:

    java -jar debezium-connector-cassandra-<version>-jar-with-dependencies.jar <source>.properties

What the agent captures is decided in Cassandra, not here: every table created or altered `WITH cdc = true`
(and `cdc_enabled: true` in cassandra.yaml). Keep that set equal to the pipeline config's `tables`.
Events carry only the columns a write touched; the merge treats them as partial rows.
"""

from __future__ import annotations

from cdc_project.config import KafkaConfig, SourceConfig

# Paths on the Cassandra node where the agent runs; the deployment mounts or creates them.
CASSANDRA_YAML = "/etc/cassandra/cassandra.yaml"
AGENT_CONFIG_DIR = "/etc/debezium-cassandra"
AGENT_STATE_DIR = "/var/lib/debezium-cassandra"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def cassandra_agent_properties(source: SourceConfig, kafka: KafkaConfig) -> dict[str, str]:
    """The agent's properties file as a mapping; no secret in it (credentials live in the driver config)."""
    props = {
        "connector.name": source.name,
        "topic.prefix": source.topic_prefix,
        # Must be unique among all agents of the cluster: one agent per node, named after its node.
        "cassandra.node.id": source.host,
        "cassandra.config": CASSANDRA_YAML,
        "cassandra.driver.config.file": f"{AGENT_CONFIG_DIR}/{source.name}.driver.conf",
        "commit.log.relocation.dir": f"{AGENT_STATE_DIR}/{source.name}/relocation",
        # Cassandra 4+: stream a segment as it is written instead of waiting for it to fill up.
        "commit.log.real.time.processing.enabled": "true",
        "commit.log.marked.complete.poll.interval.ms": "1000",
        "offset.backing.store.dir": f"{AGENT_STATE_DIR}/{source.name}/offsets",
        "offset.flush.interval.ms": "0",
        "http.port": "8000",
        "kafka.producer.bootstrap.servers": kafka.bootstrap_servers,
        "kafka.producer.security.protocol": kafka.security_protocol,
        "key.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "true",
        "value.converter": JSON_CONVERTER,
        "value.converter.schemas.enable": "true",
        "snapshot.mode": "INITIAL",
        "decimal.handling.mode": "precise",
        # Partial-row events: a tombstone would let log compaction drop a key's earlier events before they
        # were merged (Debezium's Cassandra docs warn against it with compaction on).
        "tombstones.on.delete": "false",
    }
    return props


def cassandra_driver_conf(source: SourceConfig) -> str:
    """DataStax driver HOCON; the password is `${?ENV}`, read from the agent's environment at start-up."""
    auth = ""
    if source.password_env is not None:
        auth = (
            "  advanced.auth-provider {\n"
            "    class = PlainTextAuthProvider\n"
            f'    username = "{source.user}"\n'
            f"    password = ${{?{source.password_env}}}\n"
            "  }\n"
        )
    return (
        "datastax-java-driver {\n"
        f'  basic.contact-points = ["{source.host}:{source.port}"]\n'
        "  basic.load-balancing-policy.local-datacenter = datacenter1\n"
        f"{auth}"
        "}\n"
    )


def render_properties(props: dict[str, str]) -> str:
    """Java .properties text, keys sorted for stable diffs; backslashes escaped as the format requires."""
    lines = [f"{key}={value.replace(chr(92), chr(92) * 2)}" for key, value in sorted(props.items())]
    return "\n".join(lines) + "\n"
