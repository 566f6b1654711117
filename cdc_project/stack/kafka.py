"""The local Apache Kafka: one KRaft node that is broker and controller, topic logs in the state dir.

Durable across restarts: `start` formats the storage only when it has no `meta.properties` yet, so a
restart (or a SIGKILL and a restart) finds every topic, offset and transaction where it was. Three loopback
listeners: PLAINTEXT (the stack's own clients, Connect), SASL_PLAINTEXT with PLAIN (a secured cluster's
clients; the password is generated into the state dir's secrets and reaches the broker through Kafka's
EnvVarConfigProvider, never through a file it reads) and the controller's.

Single-node settings that production must not copy: replication factor 1 for the internal topics
(offsets, transactions) and min ISR 1.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import uuid
from pathlib import Path

from cdc_project.settings import StackSettings
from cdc_project.stack import jvm

SASL_USER = "cdc"
SASL_PASSWORD_ENV = "CDC_KAFKA_SASL_PASSWORD"
SASL_USER_ENV = "CDC_KAFKA_SASL_USER"
ENV_PROVIDER = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
# Kafka only instantiates the config providers this JVM property allows.
PROVIDERS_ALLOWED = f"-Dorg.apache.kafka.automatic.config.providers={ENV_PROVIDER}"


def server_properties(settings: StackSettings) -> dict[str, str]:
    host, ports = settings.host, settings.ports
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{ports.kafka_controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{host}:{ports.kafka},SASL_PLAINTEXT://{host}:{ports.kafka_sasl},"
        f"CONTROLLER://{host}:{ports.kafka_controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{ports.kafka},SASL_PLAINTEXT://{host}:{ports.kafka_sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{SASL_USER}="${{env:{SASL_PASSWORD_ENV}}}";'
        ),
        "config.providers": "env",
        "config.providers.env.class": ENV_PROVIDER,
        "log.dirs": str(settings.kafka_dir / "data"),
        "num.partitions": "1",
        # Topics are created on purpose (Connect's topic.creation.*, the tests' admin calls), never by a
        # consumer asking for a name it misspelled.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # CDC topics are the lake's input: keep them (the sinks' offsets must stay readable).
        "log.retention.hours": "-1",
        "log.segment.bytes": str(256 * 1024 * 1024),
        "message.max.bytes": str(16 * 1024 * 1024),
    }


def render_properties(props: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def sasl_password(settings: StackSettings) -> str:
    """The SASL listener's password: generated once per state dir, kept in a 0600 file beside the data."""
    path = settings.secrets_dir / "kafka_sasl_password"
    if not path.exists():
        settings.secrets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.secrets_dir, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _config_files(settings: StackSettings) -> tuple[Path, Path]:
    props = settings.kafka_dir / "server.properties"
    props.parent.mkdir(parents=True, exist_ok=True)
    props.write_text(render_properties(server_properties(settings)))
    return props, jvm.write_log4j_config(settings.kafka_dir / "log4j2.properties")


def formatted(settings: StackSettings) -> bool:
    return (settings.kafka_dir / "data" / "meta.properties").exists()


def format_storage(settings: StackSettings) -> None:
    """First start only: a new cluster id and the node's metadata log. Never re-formats existing data."""
    if formatted(settings):
        return
    props, log4j = _config_files(settings)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    argv = jvm.java_command(
        settings.jvm_dir / "kafka", "256m", log4j, "kafka.tools.StorageTool",
        # `=`: a base64url id may start with "-", which would read as an option
        "format", f"--cluster-id={cluster_id}", f"--config={props}",
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"kafka storage format failed ({done.returncode}): {done.stdout}{done.stderr}")


def start_argv(settings: StackSettings) -> list[str]:
    format_storage(settings)
    props, log4j = _config_files(settings)
    command = jvm.java_command(settings.jvm_dir / "kafka", jvm.BROKER_HEAP, log4j, "kafka.Kafka", str(props))
    return [command[0], PROVIDERS_ALLOWED, *command[1:]]


def broker_env(settings: StackSettings) -> dict[str, str]:
    return {SASL_PASSWORD_ENV: sasl_password(settings)}
